"""Every network socket this project makes, made one way.

A :class:`SocketFactory` holds what all the sockets of one endpoint or client
share: the zmq context, the largest message they may carry, and the CURVE
settings. It makes a socket, applies the rules every socket follows, then
binds or connects it:

- ``linger = 0``: a closed socket drops what it had not sent (every caller
  that needs a reply waits for it itself);
- ``MAXMSGSIZE`` = the codec's message limit plus room for the envelope, so
  ZeroMQ drops an oversized frame before anything is decoded;
- a REQ socket is ``REQ_RELAXED`` + ``REQ_CORRELATE``, so a missed reply
  never leaves it stuck;
- the security the endpoint calls for (:mod:`broker.security.options`):
  CURVE with the user's keypair, or NULL on an ipc path only the user can
  reach; a short handshake timeout; and, before the first CURVE server
  socket binds, the ZAP handler that admits its clients;
- binding refuses an ``ipc://`` path a live process owns (ZeroMQ would take
  it over), reads back the bound endpoint (``LAST_ENDPOINT``: bind what you
  own, announce what you bound) and warns when the endpoint is reachable from
  other machines in clear.

Errors are translated here: a bind failure is :class:`EndpointInUse` or
:class:`BindError` (a ``ValueError``), a bad endpoint to connect to a
``ValueError``, both naming the endpoint.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple

import zmq

from ..errors import BindError, EndpointInUse
from .endpoints import bind_endpoint, warn_if_exposed

if TYPE_CHECKING:
    from ..security.options import Security
    from .monitor import ConnectionWatch

__all__ = ["SocketFactory", "FRAME_OVERHEAD"]

log = logging.getLogger(__name__)

#: Room, on top of a message at the codec's limit, for the frames around it.
FRAME_OVERHEAD = 1024


class SocketFactory:
    """Makes the sockets of one endpoint or client.

    Arguments:
        context: the zmq context (a ``zmq.asyncio.Context`` makes asyncio sockets).
        max_message_size: the codec's limit, in bytes.
        security: the security settings every socket follows.
        start_zap: starts the context's ZAP handler; called before a CURVE
            server socket binds (None: this factory makes no servers).
    """

    def __init__(
        self,
        context: zmq.Context,
        *,
        max_message_size: int,
        security: Security,
        start_zap: Optional[Callable[[], None]] = None,
    ) -> None:
        self.context = context
        self.max_message_size = max_message_size
        self.security = security
        self._start_zap = start_zap

    def _make(self, kind: int) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.linger = 0
        socket.setsockopt(zmq.MAXMSGSIZE, self.max_message_size + FRAME_OVERHEAD)
        return socket

    def unconnected(self, kind: int, options: Optional[Mapping[int, Any]] = None) -> zmq.Socket:
        """A socket of ``kind`` with these rules and ``options``, connected to
        nothing yet: :meth:`add_connection` connects it, to many endpoints."""
        socket = self._make(kind)
        try:
            for option, value in (options or {}).items():
                socket.setsockopt(option, value)
        except BaseException:
            socket.close()
            raise
        return socket

    def add_connection(
        self,
        socket: zmq.Socket,
        endpoint: str,
        *,
        server_key: Optional[Any] = None,
        options: Optional[Mapping[int, Any]] = None,
    ) -> None:
        """Connect ``socket`` to one more endpoint, with this connection's own
        ``options`` (ZeroMQ copies the socket's options into each connection
        when it is made: a routing id, a server key).

        Raises:
            ValueError: the endpoint is not valid.
        """
        if not isinstance(endpoint, str):
            raise ValueError(f"an endpoint is a str such as 'ipc:///path', not {endpoint!r}")
        try:
            for option, value in (options or {}).items():
                socket.setsockopt(option, value)
            self.security.apply_client(socket, endpoint, server_key)
            socket.connect(endpoint)
        except zmq.ZMQError as exc:
            raise ValueError(f"cannot connect to {endpoint!r}: {exc}") from exc

    def bind(self, kind: int, endpoint: str) -> Tuple[zmq.Socket, str]:
        """A socket of ``kind`` bound to ``endpoint``, and the endpoint it bound.

        Raises:
            EndpointInUse: another process owns the endpoint.
            BindError: the endpoint is not valid, or cannot be bound.
        """
        if not isinstance(endpoint, str):
            raise BindError(f"an endpoint is a str such as 'tcp://127.0.0.1:*', not {endpoint!r}")
        socket = self._make(kind)
        try:
            if self.security.apply_server(socket, endpoint):
                if self._start_zap is None:
                    raise BindError(f"cannot serve {endpoint} with CURVE: no ZAP handler here")
                self._start_zap()
            bind_endpoint(socket, endpoint)
        except zmq.ZMQError as exc:
            socket.close()
            raise _bind_error(endpoint, exc) from exc
        except BaseException:
            socket.close()
            raise
        warn_if_exposed(endpoint, self.security.enabled, log)
        return socket, socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def connect(
        self,
        kind: int,
        endpoint: str,
        *,
        server_key: Optional[Any] = None,
        options: Optional[Mapping[int, Any]] = None,
    ) -> zmq.Socket:
        """A socket of ``kind`` connecting to ``endpoint``.

        Arguments:
            server_key: with CURVE, the endpoint's public key when it is not
                the user's own (a host announces its own).
            options: more socket options, set before connecting (ZeroMQ
                copies them into the connection when it is made).

        Raises:
            ValueError: the endpoint is not valid.
            KeyFileError: the key file is unusable.
        """
        socket, _ = self._connect(kind, endpoint, server_key, options, 0)
        return socket

    def connect_watched(
        self,
        kind: int,
        endpoint: str,
        events: int,
        *,
        server_key: Optional[Any] = None,
        options: Optional[Mapping[int, Any]] = None,
    ) -> Tuple[zmq.Socket, ConnectionWatch]:
        """:meth:`connect`, and a :class:`~broker.transport.monitor.ConnectionWatch`
        for ``events`` (a mask of ``zmq.EVENT_*``) that sees the very first
        connection: it watches from before the socket connects."""
        socket, watch = self._connect(kind, endpoint, server_key, options, events)
        assert watch is not None
        return socket, watch

    def _connect(
        self,
        kind: int,
        endpoint: str,
        server_key: Optional[Any],
        options: Optional[Mapping[int, Any]],
        events: int,
    ) -> Tuple[zmq.Socket, Optional[ConnectionWatch]]:
        if not isinstance(endpoint, str):
            raise ValueError(
                f"an endpoint is a str such as 'tcp://127.0.0.1:9090', not {endpoint!r}"
            )
        socket = self._make(kind)
        watch = None
        try:
            for option, value in (options or {}).items():
                socket.setsockopt(option, value)
            if kind == zmq.REQ:
                socket.setsockopt(zmq.REQ_RELAXED, 1)
                socket.setsockopt(zmq.REQ_CORRELATE, 1)
            self.security.apply_client(socket, endpoint, server_key)
            if events:
                from .monitor import ConnectionWatch

                watch = ConnectionWatch(socket, events)
            socket.connect(endpoint)
        except zmq.ZMQError as exc:
            _close(socket, watch)
            raise ValueError(f"cannot connect to {endpoint!r}: {exc}") from exc
        except BaseException:
            _close(socket, watch)
            raise
        return socket, watch


def _close(socket: zmq.Socket, watch: Optional[ConnectionWatch]) -> None:
    if watch is not None:
        watch.close()
    socket.close()


def _bind_error(endpoint: str, exc: zmq.ZMQError) -> BindError:
    if exc.errno == zmq.EADDRINUSE:
        return EndpointInUse(
            f"{endpoint} is already in use by another process "
            "(another UI, a broker, or an unrelated server)"
        )
    return BindError(f"cannot bind {endpoint}: {exc}")
