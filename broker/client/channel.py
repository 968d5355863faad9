"""One REQ connection to an endpoint: what a proxy and its views share.

A :class:`Channel` holds the REQ socket (``REQ_RELAXED`` + ``REQ_CORRELATE``),
the lock that makes calls from several threads take turns, and a
:class:`~broker.wire.calls.CallTable`. After a timeout it throws the socket
away and opens a fresh one (the ZeroMQ Guide's "Lazy Pirate"), so a missed
reply never leaves it stuck and a request that was never delivered is never
delivered late. A socket monitor tells a waiting call that the connection
carrying its request dropped, or that the endpoint refused the security
handshake: the reply can then never come, whatever the timeout.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set, Tuple

import zmq

from ..errors import (
    Closed,
    MessageTooLarge,
    ProtocolError,
    RpcError,
)
from ..transport.frames import recv_message, send_message
from ..transport.monitor import ConnectionGuard
from ..wire.calls import Call, CallTable
from ..wire.codec import Codec
from ..wire.envelope import salvage_msgid
from ..wire.messages import Response

if TYPE_CHECKING:
    from ..security.options import Security

__all__ = ["Channel", "Liveness", "LIVENESS_SLICE"]

#: Raises HostLost (or another RpcError) when the peer is known to be gone.
Liveness = Callable[[], None]

#: How often a call that waits on a host checks whether the host was lost.
LIVENESS_SLICE = 0.05
# How often a long wait checks that its connection still stands.
_CONNECTION_SLICE = 0.1


class Channel:
    """The socket, its lock and its calls, shared by a proxy and its views.

    Arguments:
        endpoint: where to connect.
        codec: limits, signing and hooks.
        security: the security settings the sockets follow.
        context: a zmq context to share; None makes one, ended on close.
        server_key: with CURVE, the endpoint's own public key.
    """

    def __init__(
        self,
        endpoint: str,
        codec: Codec,
        security: Security,
        context: Optional[zmq.Context] = None,
        server_key: Optional[Any] = None,
    ) -> None:
        self.endpoint = endpoint
        self.codec = codec
        self._server_key = server_key
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._sockets = security.sockets(self._context, codec)
        self._socket: Optional[zmq.Socket] = None
        self._guard: Optional[ConnectionGuard] = None
        self._rcvtimeo = -1  # the socket's RCVTIMEO, set only when it changes
        self._calls = CallTable(endpoint)
        self._pipelines: Set[Any] = set()
        self._lock = threading.Lock()
        self.closed = False

    def new_socket(self, kind: int) -> zmq.Socket:
        """A socket of ``kind`` connected to the endpoint, with this channel's
        limits and security (a pipeline makes its DEALER here)."""
        if self.closed:
            raise Closed(f"this proxy to {self.endpoint} was closed")
        return self._sockets.connect(kind, self.endpoint, server_key=self._server_key)

    def track(self, pipeline: Any) -> None:
        """Remember an open pipeline, to close it if the channel closes first."""
        with self._lock:
            if self.closed:
                pipeline.close()
                raise Closed(f"this proxy to {self.endpoint} was closed")
            self._pipelines.add(pipeline)

    def untrack(self, pipeline: Any) -> None:
        self._pipelines.discard(pipeline)

    # -- one call ------------------------------------------------------------------

    def request(
        self,
        method: str,
        args: Any,
        kwargs: Optional[Dict[str, Any]],
        timeout: Optional[float],
        liveness: Optional[Liveness],
    ) -> Any:
        """Call ``method`` and wait for its result (see :class:`broker.Proxy`)."""
        with self._lock:
            if self.closed:
                raise Closed(f"this proxy to {self.endpoint} was closed")
            if liveness is not None:
                liveness()  # a host already known lost fails at once
            call, frames = self._calls.open_request(self.codec, method, args, kwargs, timeout)
            try:
                socket = self._socket or self._open()
                assert self._guard is not None
                self._guard.forget_drops()
                send_message(socket, frames)
                return self._wait(socket, call, liveness)
            except zmq.ZMQError as exc:
                self._discard_socket()
                raise RpcError(f"{method} at {self.endpoint}: {exc}") from exc
            except BaseException:
                # Timeout, lost host, Ctrl-C: whatever was in flight is abandoned.
                self._discard_socket()
                raise
            finally:
                self._calls.discard(call)

    def _wait(self, socket: zmq.Socket, call: Call, liveness: Optional[Liveness]) -> Any:
        # A blocking receive under RCVTIMEO rather than poll() then receive:
        # one call into ZeroMQ per reply instead of two, and the same RCVTIMEO
        # call after call (no setsockopt) until the deadline is near.
        slice_ = LIVENESS_SLICE if liveness is not None else _CONNECTION_SLICE
        while not call.done:
            wait = self._calls.wait_for(slice_)
            timeout_ms = max(1, int((wait if wait is not None else slice_) * 1000))
            if timeout_ms != self._rcvtimeo:
                socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
                self._rcvtimeo = timeout_ms
            try:
                frames = recv_message(socket)
            except zmq.Again:  # this slice passed without a reply
                if liveness is not None:
                    liveness()
                assert self._guard is not None
                self._guard.check(call.method)
                self._calls.expire()
                continue
            self._accept(frames)
        return call.result()

    def _accept(self, frames: Any) -> None:
        """Hand a reply to the call table: it settles or fails the call."""
        try:
            message = self.codec.decode(frames)
        except (ProtocolError, MessageTooLarge) as exc:
            # REQ_CORRELATE: whatever arrives answers the request in flight.
            self._calls.blame(salvage_msgid(frames), exc, sole=True)
            return
        if not isinstance(message, Response):
            self._calls.blame(message.msgid, ProtocolError("the reply is a request"), sole=True)
            return
        self._calls.settle(message)  # REQ_CORRELATE drops stale replies: no stray ones

    # -- the socket -------------------------------------------------------------------

    def _open(self) -> zmq.Socket:
        socket, self._guard = self.new_socket_guarded(zmq.REQ)
        self._socket = socket
        self._rcvtimeo = -1
        return socket

    def new_socket_guarded(self, kind: int) -> Tuple[zmq.Socket, ConnectionGuard]:
        """A socket connected to the endpoint and the guard of its connection,
        watched from before it connects (a refused handshake may be over
        before this returns)."""
        if self.closed:
            raise Closed(f"this proxy to {self.endpoint} was closed")
        socket, watch = self._sockets.connect_watched(
            kind, self.endpoint, ConnectionGuard.EVENTS, server_key=self._server_key
        )
        return socket, ConnectionGuard(watch, self.endpoint)

    def _discard_socket(self) -> None:
        if self._socket is not None:
            if self._guard is not None:
                self._guard.close()
                self._guard = None
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        """Close the socket and every pipeline made from it. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._discard_socket()
            pipelines = list(self._pipelines)
        for pipeline in pipelines:  # left open: term() would wait for them forever
            pipeline.close()
        if self._own_context:
            self._context.term()
