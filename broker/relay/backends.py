"""The broker's connections to its hosts: one DEALER per registered host.

:class:`Backends` is owned by the broker's I/O thread. It connects to a
host's announced endpoint, sends it the calls routing forwards, and reads
its replies; the broker's loop polls :attr:`sockets` with its frontends.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple

import zmq

from ..transport.frames import recv_message, send_message
from ..transport.sockets import SocketFactory

__all__ = ["Backends"]

log = logging.getLogger(__name__)

_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)


class Backends:
    """The sockets that reach the hosts.

    Arguments:
        sockets: makes the sockets (the broker's context, limits, security).
        poller: the broker loop's poller; each socket is registered in it.
    """

    def __init__(self, sockets: SocketFactory, poller: zmq.Poller) -> None:
        self._sockets = sockets
        self._poller = poller
        self._by_host: Dict[str, zmq.Socket] = {}
        self._by_socket: Dict[zmq.Socket, str] = {}

    def add(self, info: Dict[str, Any]) -> bool:
        """Connect to a host's announced endpoint; False when it cannot be
        (the host is then unreachable, and logged)."""
        self.drop(info["id"])
        try:
            socket = self._sockets.connect(
                zmq.DEALER, info["endpoint"], server_key=info.get("curve_public_key")
            )
        except ValueError as exc:
            log.warning("cannot connect to %s at %s: %s", info["id"], info["endpoint"], exc)
            return False
        self._by_host[info["id"]] = socket
        self._by_socket[socket] = info["id"]
        self._poller.register(socket, zmq.POLLIN)
        return True

    def drop(self, host_id: str) -> None:
        """Close the connection to a host. Idempotent."""
        socket = self._by_host.pop(host_id, None)
        if socket is not None:
            self._poller.unregister(socket)
            del self._by_socket[socket]
            socket.close()

    def send(self, host_id: str, frames: List[Any]) -> None:
        """Send sealed ``frames`` to a host.

        Raises:
            zmq.ZMQError: no connection to that host, or it cannot take them now.
        """
        socket = self._by_host.get(host_id)
        if socket is None:
            raise zmq.ZMQError(zmq.EHOSTUNREACH, "no connection to that host")
        send_message(socket, [b"", *frames], _NOBLOCK)  # the REQ envelope a host echoes

    def host_of(self, socket: zmq.Socket) -> Optional[str]:
        """The host a polled socket reaches, or None (not one of ours)."""
        return self._by_socket.get(socket)

    def receive(self, socket: zmq.Socket) -> Iterator[Tuple[str, List[Any]]]:
        """``(host id, message)`` for each reply waiting on ``socket``, at most
        a batch; the envelope the host echoed is left out."""
        host_id = self._by_socket[socket]
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = recv_message(socket, flags=_NOBLOCK)
            except zmq.Again:
                return
            yield host_id, frames[1:] if frames and not frames[0] else frames

    def close(self) -> None:
        """Close every connection."""
        for host_id in list(self._by_host):
            self.drop(host_id)
