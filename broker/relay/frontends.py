"""The broker's endpoints: the ROUTERs clients and hosts connect to.

:class:`Frontends` is owned by the broker's I/O thread. It binds the
endpoints, turns what arrives into requests for routing (refusing what is
not a well-formed, authorized request), answers the broker's own ``rpc.*``,
and sends replies and errors back to each client by its envelope.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Sequence, Tuple

import zmq

from ..errors import BindError, MessageTooLarge, ProtocolError, RpcError
from ..transport.frames import recv_message, send_message
from ..transport.monitor import RefusalLog
from ..transport.sockets import SocketFactory
from ..wire import messages as protocol
from ..wire.codec import Codec
from ..wire.envelope import Head, is_notification, read_head, salvage_msgid, split_envelope
from ..wire.messages import Request

__all__ = ["Frontends", "Incoming", "Client"]

log = logging.getLogger(__name__)

_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: IntFlag arithmetic costs per frame

#: A client, as the broker knows it: the frontend it came on and its envelope.
Client = Tuple[zmq.Socket, List[Any]]


class Incoming(NamedTuple):
    """A request for routing: who sent it, its head, and ``[body, *oob]``."""

    client: Client
    head: Head
    frames: List[Any]


class Frontends:
    """The sockets that clients and hosts reach the broker at.

    Arguments:
        sockets: makes the sockets (the broker's context, limits, security).
        codec: the broker's codec (limits, hooks).
        handlers: the broker's own ``rpc.*`` methods.
    """

    def __init__(
        self, sockets: SocketFactory, codec: Codec, handlers: Dict[str, Callable[..., Any]]
    ) -> None:
        self._sockets = sockets
        self._codec = codec
        self._handlers = handlers
        self.sockets: List[zmq.Socket] = []
        self.endpoints: List[str] = []
        # Failed handshakes on each frontend, for the log, by their monitor socket.
        self._watches: Dict[zmq.Socket, RefusalLog] = {}

    def bind(self, endpoints: Iterable[str]) -> None:
        """Bind every endpoint, or none.

        Raises:
            EndpointInUse, BindError: an endpoint cannot be bound.
        """
        try:
            for endpoint in endpoints:
                socket, bound = self._sockets.bind(zmq.ROUTER, endpoint)
                self.sockets.append(socket)
                self.endpoints.append(bound)
                refusals = RefusalLog(socket, log, bound)
                self._watches[refusals.socket] = refusals
        except BindError:
            self.close()
            raise

    def receive(self, socket: zmq.Socket) -> Iterator[Incoming]:
        """The requests waiting on ``socket`` for routing, at most a batch.

        What is not one (a refused, oversized or malformed message, a
        response) is answered here, and so is the broker's own ``rpc.*``.
        """
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = recv_message(socket, prefix=1, flags=_NOBLOCK)
            except zmq.Again:
                return
            envelope, message = split_envelope(frames)
            client: Client = (socket, envelope)
            try:
                inner = self._codec.check(message)
                head = read_head(inner[0])
            except (MessageTooLarge, ProtocolError) as exc:
                self._refuse(client, message, exc)
                continue
            method = head.method or ""
            if head.kind != protocol.REQUEST:
                text = "the broker accepts requests, not responses"
                self.fail(client, head.msgid, "ProtocolError", text)
            elif "/" not in method and method.startswith(protocol.RESERVED_PREFIX):
                self._answer_reserved(client, inner)
            else:
                yield Incoming(client, head, inner)

    @property
    def watch_sockets(self) -> List[zmq.Socket]:
        """The monitor sockets to poll, for :meth:`note_refusals`."""
        return list(self._watches)

    def note_refusals(self, socket: zmq.Socket) -> bool:
        """Log the handshakes refused on the frontend ``socket`` watches;
        False when it is not one of the watches."""
        refusals = self._watches.get(socket)
        if refusals is None:
            return False
        refusals.read()
        return True

    def deliver(self, client: Client, frames: List[Any]) -> None:
        """Send a host's reply, ``[body, *oob]``, to the client."""
        self._send(client, frames)

    def fail(self, client: Client, msgid: int, kind: str, message: str) -> None:
        """Answer the client's call ``msgid`` with an error of wire type ``kind``."""
        error = protocol.error_map(kind, message)
        self._send(client, self._codec.encode_response(msgid, error=error))

    def close(self) -> None:
        """Close every frontend."""
        for refusals in self._watches.values():
            refusals.close()
        self._watches = {}
        for socket in self.sockets:
            socket.close()
        self.sockets = []

    def _refuse(self, client: Client, message: List[Any], exc: Exception) -> None:
        if is_notification(message):  # msgpack-rpc: its sender expects no reply
            log.debug("ignored a msgpack-rpc notification: this protocol has none")
            return
        msgid = salvage_msgid(message)
        self.fail(client, msgid, getattr(exc, "wire_type", "ProtocolError"), str(exc))

    def _answer_reserved(self, client: Client, inner: List[Any]) -> None:
        try:
            request = self._codec.decode_checked(inner)
        except ProtocolError as exc:
            self.fail(client, salvage_msgid(inner), "ProtocolError", str(exc))
            return
        assert isinstance(request, Request)
        handler = self._handlers.get(request.method)
        if handler is None:
            text = f"no method named {request.method!r} (call TARGET/METHOD)"
            self.fail(client, request.msgid, "MethodNotFound", text)
            return
        try:
            result = handler(*request.args, **request.kwargs)
            reply = self._codec.encode_response(request.msgid, result)
        except TypeError as exc:
            self.fail(client, request.msgid, "InvalidParams", str(exc))
        except RpcError as exc:  # Overloaded, a reply over the limit: the caller's to know
            self.fail(client, request.msgid, exc.wire_type, f"{request.method}: {exc}")
        except Exception as exc:  # a bug in a handler: answered and logged, never deaf
            log.exception("the broker's %s failed", request.method)
            self.fail(client, request.msgid, "Exception", f"{request.method} failed: {exc!r}")
        else:
            self._send(client, reply)

    def _send(self, client: Client, frames: Sequence[Any]) -> None:
        socket, envelope = client
        try:
            send_message(socket, [*envelope, *frames], _NOBLOCK)
        except zmq.ZMQError as exc:  # the client is gone: its loss
            log.debug("reply dropped: %s", exc)
