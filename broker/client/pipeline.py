"""Pipelining from synchronous code: many calls in flight on one connection.

::

    with proxy.pipeline(window=64) as pipeline:
        replies = [pipeline.add(i, i) for i in range(1000)]
    [reply.result() for reply in replies]           # [0, 2, 4, ...]

A :class:`Pipeline` owns a DEALER socket to the proxy's endpoint. Each call is
encoded and sent at once and returns a :class:`PendingCall`; while ``window``
calls wait for their replies, the next call first reads replies until one
has come. Nothing runs in the background: replies are read by the thread
using the pipeline, when a call needs a slot, when
:meth:`PendingCall.result` waits for its own reply, in :meth:`Pipeline.wait`,
and when the ``with`` block ends (which waits for every reply). So a
pipeline belongs to one thread; each thread makes its own.

Why not ``concurrent.futures`` and an I/O thread: handing every call to a
thread and every reply back costs two thread wake-ups and the GIL changing
hands; measured, that halves the calls per second (docs/performance.md).
For calls that complete on their own, use :mod:`broker.aio`.

Errors are the proxy's: :meth:`Pipeline.call` raises ``TypeError`` (an
argument msgpack cannot carry) and :class:`MessageTooLarge` before sending
anything, :class:`Closed` on a closed pipeline; ``result()`` raises what the
call ended with: :class:`RemoteError` and its subclasses,
:class:`CallTimeout` (each call's timeout runs from when it was sent),
:class:`HostLost` (UI proxies), or :class:`Closed` when the pipeline closed
first. Replies may come in any order; each finds its call by msgid.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, Optional

import zmq

from ..errors import (
    CallTimeout,
    Closed,
    MessageTooLarge,
    ProtocolError,
    RpcError,
    Unauthorized,
    from_error_map,
)
from ..transport.frames import recv_message, send_message
from ..wire.envelope import salvage_msgid
from ..wire.messages import Response

if TYPE_CHECKING:
    from .proxy import Liveness, _Channel

__all__ = ["Pipeline", "PendingCall", "DEFAULT_WINDOW"]

#: Calls in flight at once unless told otherwise.
DEFAULT_WINDOW = 64
# How often a wait checks whether the host was lost (UI proxies).
_LIVENESS_SLICE = 0.05
_PENDING = object()


class PendingCall:
    """One call sent through a :class:`Pipeline`; its reply may not be read yet."""

    __slots__ = ("method", "_pipeline", "_outcome", "_failed", "_deadline")

    def __init__(self, pipeline: Pipeline, method: str, deadline: Optional[float]) -> None:
        self.method = method
        self._pipeline = pipeline
        self._outcome: Any = _PENDING
        self._failed = False
        self._deadline = deadline

    def done(self) -> bool:
        """Whether the reply (or the error that ended the call) is here."""
        return self._outcome is not _PENDING

    def result(self) -> Any:
        """The call's result, reading replies until it is here.

        Raises:
            whatever the call ended with (see :mod:`broker.client.pipeline`).
        """
        if self._outcome is _PENDING:
            self._pipeline._read_until(self)
        if self._failed:
            raise self._outcome
        return self._outcome

    def exception(self) -> Optional[BaseException]:
        """The error the call ended with, or None; reads replies until it is here."""
        if self._outcome is _PENDING:
            self._pipeline._read_until(self)
        return self._outcome if self._failed else None

    def _set(self, outcome: Any, failed: bool = False) -> None:
        self._outcome = outcome
        self._failed = failed

    def __repr__(self) -> str:
        state = "pending" if self._outcome is _PENDING else ("failed" if self._failed else "done")
        return f"<PendingCall {self.method} {state}>"


class Pipeline:
    """Sends calls without waiting for the replies of the ones before.

    Made by :meth:`broker.Proxy.pipeline`; see :mod:`broker.client.pipeline`.
    ``pipeline.add(1, 2)`` and ``pipeline.call("add", 1, 2)`` both return a
    :class:`PendingCall`. Close it (or leave its ``with`` block) before
    closing the proxy.
    """

    def __init__(
        self,
        channel: _Channel,
        *,
        timeout: Optional[float],
        liveness: Optional[Liveness] = None,
        prefix: str = "",
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if window < 1:
            raise ValueError(f"a pipeline's window is at least 1, not {window}")
        self.endpoint = channel.endpoint
        self.timeout = timeout
        self.window = window
        self._channel = channel
        self._codec = channel.codec
        self._head = 3 if self._codec.signer is not None else 1
        self._liveness = liveness
        self._prefix = prefix
        self._msgid = 0
        self._in_flight: Dict[int, PendingCall] = {}  # oldest first
        self._rcvtimeo = -1
        self._socket: Optional[zmq.Socket] = channel.new_socket(zmq.DEALER)
        self._socket.sndhwm = 0  # the window bounds what is queued
        channel.track(self)

    @property
    def in_flight(self) -> int:
        """Calls sent whose replies have not been read."""
        return len(self._in_flight)

    @property
    def closed(self) -> bool:
        return self._socket is None

    def call(self, method: str, *args: Any, **kwargs: Any) -> PendingCall:
        """Send a call to ``method``; return at once with its :class:`PendingCall`."""
        socket = self._socket
        if socket is None:
            raise Closed(f"this pipeline to {self.endpoint} was closed")
        if self._liveness is not None:
            self._liveness()  # a host already known lost fails at once
        name = self._prefix + method
        self._msgid = msgid = (self._msgid + 1) & 0xFFFFFFFF
        # Encoding first: a too-large or unencodable call sends nothing.
        frames = self._codec.encode_request(msgid, name, args, kwargs)
        if len(self._in_flight) >= self.window:
            self._read_until(None)
            if self._socket is None:  # broken while reading
                raise Closed(f"this pipeline to {self.endpoint} was closed")
        try:
            send_message(socket, frames)  # no empty delimiter: one frame less each way
        except zmq.ZMQError as exc:
            error = RpcError(f"{name} at {self.endpoint}: {exc}")
            self._break(error)
            raise error from exc
        timeout = self.timeout
        pending = PendingCall(self, name, None if timeout is None else time.monotonic() + timeout)
        self._in_flight[msgid] = pending
        return pending

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def remote(*args: Any, **kwargs: Any) -> PendingCall:
            return self.call(name, *args, **kwargs)

        remote.__name__ = remote.__qualname__ = name
        return remote

    def wait(self) -> None:
        """Read replies until every call sent so far has its outcome."""
        while self._in_flight:
            self._read_until(next(iter(self._in_flight.values())))

    def close(self) -> None:
        """Close the socket; calls still waiting fail with :class:`Closed`. Idempotent."""
        if self._socket is not None:
            self._break(Closed(f"the pipeline to {self.endpoint} closed before the reply came"))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._in_flight)} in flight"
        return f"<Pipeline {self.endpoint} window={self.window} {state}>"

    # -- reading replies ---------------------------------------------------------------

    def _read_until(self, pending: Optional[PendingCall]) -> None:
        """Read replies until ``pending`` is done (None: until a slot is free)."""
        while True:
            if pending is None:
                if len(self._in_flight) < self.window:
                    return
            elif pending._outcome is not _PENDING:
                return
            socket = self._socket
            if socket is None:
                return  # closed meanwhile: every call has its outcome
            wait = self._expire_overdue()
            if wait is not None and wait <= 0:
                continue  # a call just timed out; look again
            if self._liveness is not None and (wait is None or wait > _LIVENESS_SLICE):
                wait = _LIVENESS_SLICE
            timeout_ms = -1 if wait is None else max(1, int(wait * 1000))
            try:
                if timeout_ms != self._rcvtimeo:
                    socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
                    self._rcvtimeo = timeout_ms
                frames = recv_message(socket, self._head)
            except zmq.Again:
                self._check_liveness()
                continue
            except zmq.ZMQError as exc:
                self._break(RpcError(f"pipeline to {self.endpoint}: {exc}"))
                return
            self._dispatch(frames)

    def _expire_overdue(self) -> Optional[float]:
        """Fail calls past their deadline; seconds until the next deadline."""
        now = time.monotonic()
        for msgid, pending in self._in_flight.items():  # oldest first
            if pending._deadline is None:
                return None  # timeouts are the same for every call: none has one
            left = pending._deadline - now
            if left > 0:
                return left
            del self._in_flight[msgid]  # a late reply will find nobody
            pending._set(
                CallTimeout(
                    f"{pending.method} at {self.endpoint}: no reply within {self.timeout:g} s"
                ),
                failed=True,
            )
            return 0.0
        return None

    def _check_liveness(self) -> None:
        if self._liveness is None:
            return
        try:
            self._liveness()
        except RpcError as exc:
            for pending in self._in_flight.values():
                pending._set(exc, failed=True)
            self._in_flight.clear()

    def _dispatch(self, frames: Any) -> None:
        # A DEALER receives the empty delimiter the server echoes first.
        message = frames[1:] if frames and not frames[0] else frames
        try:
            response = self._codec.decode(message)
        except (ProtocolError, Unauthorized, MessageTooLarge) as exc:
            # Blame the call the reply names, if it can be read at all.
            pending = self._in_flight.pop(salvage_msgid(message, self._head > 1), None)
            if pending is not None:
                error = type(exc)(f"reply to {pending.method} from {self.endpoint}: {exc}")
                pending._set(error, failed=True)
            return
        if not isinstance(response, Response):
            return  # a request on a client socket: nobody to answer
        pending = self._in_flight.pop(response.msgid, None)
        if pending is None:
            return  # the reply to a call that already timed out
        if response.error is not None:
            remote = from_error_map(response.error, endpoint=self.endpoint, method=pending.method)
            pending._set(remote, failed=True)
        else:
            pending._set(response.result)

    def _break(self, error: RpcError) -> None:
        """Close the socket; every call still waiting ends with ``error``."""
        for pending in self._in_flight.values():
            pending._set(error, failed=True)
        self._in_flight.clear()
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close()
            self._channel.untrack(self)
