"""What happened to a socket's connections: ZeroMQ's socket monitor, read without blocking.

ZeroMQ reports each connection's life (connected, handshake done or
refused, dropped) on a monitor socket, from its own I/O thread. A
:class:`ConnectionWatch` reads those reports when its owner looks; it never
blocks and never starts a thread. Its owner must be the thread that owns
the watched socket.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple

import zmq

__all__ = ["ConnectionWatch", "ConnectionEvent", "HANDSHAKE_FAILED"]

#: Any of the ways a security handshake can fail.
HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


class ConnectionEvent(NamedTuple):
    """One report: what happened (a ``zmq.EVENT_*``), the event's value, and
    the endpoint the connection belongs to."""

    event: int
    value: int
    endpoint: str


class ConnectionWatch:
    """The reports of ``socket``'s connections, for the events in ``events``.

    Arguments:
        socket: the watched socket.
        events: a mask of ``zmq.EVENT_*``.
    """

    def __init__(self, socket: zmq.Socket, events: int) -> None:
        self._socket = socket
        self._monitor: zmq.Socket = socket.get_monitor_socket(events)

    @property
    def socket(self) -> zmq.Socket:
        """The monitor socket itself, to poll alongside others."""
        return self._monitor

    def events(self) -> List[ConnectionEvent]:
        """The reports that arrived since the last look, oldest first."""
        monitor = self._monitor
        # EVENTS rather than poll(): no poller made on every look (this runs per call).
        if not int(monitor.get(_EVENTS)) & _POLLIN:
            return []
        from zmq.utils.monitor import parse_monitor_message

        found = []
        while int(monitor.get(_EVENTS)) & _POLLIN:
            message = parse_monitor_message(monitor.recv_multipart())
            endpoint: Any = message["endpoint"]
            if isinstance(endpoint, bytes):
                endpoint = endpoint.decode("utf-8", "replace")
            found.append(ConnectionEvent(message["event"], message["value"], str(endpoint)))
        return found

    def close(self) -> None:
        """Stop watching; the watched socket stays open."""
        self._socket.disable_monitor()
        self._monitor.close()
