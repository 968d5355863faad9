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
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set

import zmq

from ..errors import (
    Closed,
    Disconnected,
    MessageTooLarge,
    ProtocolError,
    RpcError,
    Unauthorized,
)
from ..transport.frames import recv_message, send_message
from ..transport.monitor import HANDSHAKE_FAILED, ConnectionWatch
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
        self._head = 3 if codec.signer is not None else 1  # frames to copy
        self._socket: Optional[zmq.Socket] = None
        self._watch: Optional[ConnectionWatch] = None
        self._refused = False  # the endpoint refused the security handshake
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
                self._forget_drops()
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
                frames = recv_message(socket, self._head)
            except zmq.Again:  # this slice passed without a reply
                if liveness is not None:
                    liveness()
                self._check_connection(call.method)
                self._calls.expire()
                continue
            self._accept(frames)
        return call.result()

    def _accept(self, frames: Any) -> None:
        """Hand a reply to the call table: it settles or fails the call."""
        try:
            message = self.codec.decode(frames)
        except (ProtocolError, Unauthorized, MessageTooLarge) as exc:
            # REQ_CORRELATE: whatever arrives answers the request in flight.
            self._calls.blame(salvage_msgid(frames, self._head > 1), exc, sole=True)
            return
        if not isinstance(message, Response):
            self._calls.blame(message.msgid, ProtocolError("the reply is a request"), sole=True)
            return
        self._calls.settle(message)  # REQ_CORRELATE drops stale replies: no stray ones

    # -- the socket -------------------------------------------------------------------

    def _open(self) -> zmq.Socket:
        if self.closed:
            raise Closed(f"this proxy to {self.endpoint} was closed")
        # Watched from before it connects: a refused handshake may be over
        # before this method returns, and is not reported twice.
        socket, self._watch = self._sockets.connect_watched(
            zmq.REQ,
            self.endpoint,
            zmq.EVENT_DISCONNECTED | HANDSHAKE_FAILED,
            server_key=self._server_key,
        )
        self._socket = socket
        self._refused = False
        self._rcvtimeo = -1
        return socket

    def _discard_socket(self) -> None:
        if self._socket is not None:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            self._socket.close()
            self._socket = None

    def _forget_drops(self) -> None:
        """Forget the connection drops from before this request (ZeroMQ has
        reconnected since, or will); a refused handshake is never forgotten."""
        assert self._watch is not None
        for event in self._watch.events():
            if event.event & HANDSHAKE_FAILED:
                self._refused = True

    def _check_connection(self, method: str) -> None:
        """Raise if, since the request went out, its connection dropped (the
        reply can never come) or the endpoint refused the security handshake."""
        assert self._watch is not None
        for event in self._watch.events():
            if event.event & HANDSHAKE_FAILED:
                self._refused = True
            elif event.event == zmq.EVENT_DISCONNECTED and not self._refused:
                raise Disconnected(
                    f"{method} at {self.endpoint}: the connection dropped while waiting "
                    "for the reply (the call may or may not have run)"
                )
        if self._refused:
            raise Unauthorized(
                f"{method} at {self.endpoint}: the endpoint refused the security "
                "handshake (CURVE key not authorized, or CURVE on one side only)"
            )

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
