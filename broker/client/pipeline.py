"""Pipelining from synchronous code: many calls in flight on one connection.

::

    with proxy.rpc.pipeline(window=64) as pipeline:
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

from typing import Any, Optional

import zmq

from ..errors import Closed, MessageTooLarge, ProtocolError, RpcError
from ..transport.frames import recv_message, send_message
from ..wire.calls import Call, CallTable
from ..wire.envelope import salvage_msgid
from ..wire.messages import Response
from .channel import LIVENESS_SLICE, Channel, Liveness

__all__ = ["Pipeline", "PendingCall", "DEFAULT_WINDOW"]

#: Calls in flight at once unless told otherwise.
DEFAULT_WINDOW = 64
# How often a wait looks at the connection (a refused handshake, a drop).
_SLICE = 0.1


class PendingCall:
    """One call sent through a :class:`Pipeline`; its reply may not be read yet."""

    __slots__ = ("_pipeline", "_call")

    def __init__(self, pipeline: Pipeline, call: Call) -> None:
        self._pipeline = pipeline
        self._call = call

    @property
    def method(self) -> str:
        """The method called (with its broker target, if any)."""
        return self._call.method

    def done(self) -> bool:
        """Whether the reply (or the error that ended the call) is here."""
        return self._call.done

    def result(self) -> Any:
        """The call's result, reading replies until it is here.

        Raises:
            whatever the call ended with (see :mod:`broker.client.pipeline`).
        """
        if not self._call.done:
            self._pipeline._read_until(self._call)
        return self._call.result()

    def exception(self) -> Optional[BaseException]:
        """The error the call ended with, or None; reads replies until it is here."""
        if not self._call.done:
            self._pipeline._read_until(self._call)
        return self._call.exception()

    def __repr__(self) -> str:
        call = self._call
        state = "pending" if not call.done else ("failed" if call.exception() else "done")
        return f"<PendingCall {call.method} {state}>"


class Pipeline:
    """Sends calls without waiting for the replies of the ones before.

    Made by ``proxy.rpc.pipeline()``
    (:meth:`broker.client.proxy.ProxyApi.pipeline`); see
    :mod:`broker.client.pipeline`. ``pipeline.add(1, 2)`` and
    ``pipeline.call("add", 1, 2)`` both return a :class:`PendingCall`. Close
    it (or leave its ``with`` block) before closing the proxy.
    """

    def __init__(
        self,
        channel: Channel,
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
        self._liveness = liveness
        self._prefix = prefix
        self._calls = CallTable(channel.endpoint)
        self._rcvtimeo = -1
        socket, self._guard = channel.new_socket_guarded(zmq.DEALER)
        self._socket: Optional[zmq.Socket] = socket
        socket.sndhwm = 0  # the window bounds what is queued
        channel.track(self)

    @property
    def in_flight(self) -> int:
        """Calls sent whose replies have not been read."""
        return len(self._calls)

    @property
    def closed(self) -> bool:
        return self._socket is None

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> PendingCall:
        """Send a call to ``method``; return at once with its :class:`PendingCall`."""
        if self._socket is None:
            raise Closed(f"this pipeline to {self.endpoint} was closed")
        if self._liveness is not None:
            self._liveness()  # a host already known lost fails at once
        if len(self._calls) >= self.window:
            self._read_until(None)
        socket = self._socket
        if socket is None:  # broken while reading
            raise Closed(f"this pipeline to {self.endpoint} was closed")
        name = self._prefix + method
        call, frames = self._calls.open_request(self._codec, name, args, kwargs, self.timeout)
        try:
            send_message(socket, frames)  # no empty delimiter: one frame less each way
        except zmq.ZMQError as exc:
            error = RpcError(f"{name} at {self.endpoint}: {exc}")
            self._break(error)
            raise error from exc
        return PendingCall(self, call)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def remote(*args: Any, **kwargs: Any) -> PendingCall:
            return self.call(name, *args, **kwargs)

        remote.__name__ = remote.__qualname__ = name
        return remote

    def wait(self) -> None:
        """Read replies until every call sent so far has its outcome."""
        for call in self._calls:  # oldest first
            self._read_until(call)

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
        state = "closed" if self.closed else f"{len(self._calls)} in flight"
        return f"<Pipeline {self.endpoint} window={self.window} {state}>"

    # -- reading replies ---------------------------------------------------------------

    def _read_until(self, call: Optional[Call]) -> None:
        """Read replies until ``call`` is done (None: until a slot is free)."""
        calls = self._calls
        while not (call.done if call is not None else len(calls) < self.window):
            socket = self._socket
            if socket is None:
                return  # closed meanwhile: every call has its outcome
            if calls.expire():
                continue  # a call just timed out; look again
            # In slices: the connection (and the host's liveness) is looked at between.
            wait = calls.wait_for(LIVENESS_SLICE if self._liveness is not None else _SLICE)
            timeout_ms = -1 if wait is None else max(1, int(wait * 1000))
            try:
                if timeout_ms != self._rcvtimeo:
                    socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
                    self._rcvtimeo = timeout_ms
                frames = recv_message(socket)
            except zmq.Again:
                self._check_liveness()
                self._check_connection()
                continue
            except zmq.ZMQError as exc:
                self._break(RpcError(f"pipeline to {self.endpoint}: {exc}"))
                return
            self._dispatch(frames)

    def _check_connection(self) -> None:
        try:
            self._guard.check("pipeline")
        except RpcError as exc:
            self._break(exc)

    def _check_liveness(self) -> None:
        if self._liveness is None:
            return
        try:
            self._liveness()
        except RpcError as exc:
            self._calls.fail_all(exc)

    def _dispatch(self, frames: Any) -> None:
        # A DEALER receives the empty delimiter the server echoes first.
        message = frames[1:] if frames and not frames[0] else frames
        try:
            response = self._codec.decode(message)
        except (ProtocolError, MessageTooLarge) as exc:
            # Blame the call the reply names, if it can be read at all.
            self._calls.blame(salvage_msgid(message), exc)
            return
        if isinstance(response, Response):
            self._calls.settle(response)  # None: the reply to a call that timed out
        # else: a request on a client socket: nobody to answer

    def _break(self, error: RpcError) -> None:
        """Close the socket; every call still waiting ends with ``error``."""
        self._calls.fail_all(error)
        socket, self._socket = self._socket, None
        if socket is not None:
            self._guard.close()
            socket.close()
            self._channel.untrack(self)
