"""One socket connected to many peers, each connection kept alive by ZeroMQ itself.

A UI and the broker need to know whether each host is alive, even while the
host's Python is silent: a DCC command that holds the GIL stops every
Python thread of the host, its heartbeat thread included, but not libzmq's
I/O thread. So :class:`Links` connects a ROUTER to every host with ZMTP
heartbeats on (``HEARTBEAT_IVL``, ``HEARTBEAT_TIMEOUT``): libzmq sends
PINGs and the host's libzmq answers them without the GIL. A connection
that stops answering (the process was killed or stopped, the machine or
the network is gone) is dropped, and the socket monitor says so; ZeroMQ
reconnects by itself, and a handshake that succeeds again says the host is
back.

Each connection's routing id is the peer's id (``CONNECT_ROUTING_ID``), so
the same socket also carries messages to a peer by id (the broker's calls to
its hosts). ``ROUTER_MANDATORY`` makes a message to a peer this socket
does not connect to an error at once instead of a silent drop; a message
to a peer whose connection is down waits for it (``IMMEDIATE`` would fail
it instead, but also fails the first sends after a handshake succeeds,
before the socket has attached the new connection), so an owner sends only
to peers that are up (:meth:`Links.is_up`).

The owner's thread (the broker's loop, a UI's watcher) owns the socket and
its monitor; :attr:`sockets` are the two to poll.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

import zmq

from .frames import recv_message, send_message
from .monitor import ConnectionWatch
from .sockets import SocketFactory

__all__ = ["Links", "LinkEvent"]

_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)
_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED

#: ``(peer id, up)``: the peer's connection was made (True) or lost (False).
LinkEvent = Tuple[str, bool]


class Links:
    """The connections of one owner to its peers.

    Arguments:
        sockets: makes the socket (the owner's context, limits and security).
        interval: the heartbeat interval of the peers, in seconds: ZeroMQ
            pings every 0.75 interval and drops a connection that answers
            nothing for 1.5 intervals after a ping, so a dead peer's link is
            down within 2.25 intervals. (Every ping costs the owner's I/O
            thread a write and a read: at farm scale, pinging twice an
            interval was the broker's largest idle cost.)
    """

    def __init__(self, sockets: SocketFactory, interval: float) -> None:
        interval_ms = max(20, int(interval * 1000))
        self.socket = sockets.unconnected(
            zmq.ROUTER,
            {
                zmq.ROUTER_MANDATORY: 1,
                zmq.HEARTBEAT_IVL: interval_ms * 3 // 4,
                zmq.HEARTBEAT_TIMEOUT: interval_ms * 3 // 2,
                # A peer that accepts the connection but cannot finish the
                # handshake (stopped) is given up on as fast as a silent one.
                zmq.HANDSHAKE_IVL: max(100, 2 * interval_ms),
                zmq.RECONNECT_IVL_MAX: max(100, interval_ms),
            },
        )
        self._factory = sockets
        self._watch = ConnectionWatch(self.socket, _EVENTS)
        self._by_endpoint: Dict[str, str] = {}
        self._endpoints: Dict[str, str] = {}  # peer id -> endpoint
        self._up: Dict[str, bool] = {}

    @property
    def sockets(self) -> List[zmq.Socket]:
        """The socket and its monitor: what the owner polls."""
        return [self.socket, self._watch.socket]

    def connect(self, peer_id: str, endpoint: str, server_key: Optional[Any] = None) -> None:
        """Keep a connection to ``peer_id`` at ``endpoint``; one to another
        peer at that endpoint (the peer it replaced) is dropped first.

        Raises:
            ValueError: the endpoint is not valid.
        """
        self.disconnect(peer_id)
        previous = self._by_endpoint.get(endpoint)
        if previous is not None:
            self.disconnect(previous)
        self._factory.add_connection(
            self.socket,
            endpoint,
            server_key=server_key,
            options={zmq.CONNECT_ROUTING_ID: peer_id.encode("utf-8")},
        )
        self._by_endpoint[endpoint] = peer_id
        self._endpoints[peer_id] = endpoint
        self._up[peer_id] = False

    def disconnect(self, peer_id: str) -> None:
        """Stop connecting to ``peer_id``. Idempotent."""
        endpoint = self._endpoints.pop(peer_id, None)
        self._up.pop(peer_id, None)
        if endpoint is None:
            return
        self._by_endpoint.pop(endpoint, None)
        try:
            self.socket.disconnect(endpoint)
        except zmq.ZMQError:  # already gone
            pass

    def is_up(self, peer_id: str) -> bool:
        """Whether the connection to ``peer_id`` is made (its handshake succeeded)."""
        return self._up.get(peer_id, False)

    def events(self) -> List[LinkEvent]:
        """The links that went up or down since the last look (their monitor
        must have been polled readable, or this returns nothing)."""
        changed: List[LinkEvent] = []
        for event in self._watch.events():
            peer_id = self._by_endpoint.get(event.endpoint)
            if peer_id is None:
                continue  # a peer disconnected meanwhile
            up = event.event == zmq.EVENT_HANDSHAKE_SUCCEEDED
            if up != self._up.get(peer_id, False):
                self._up[peer_id] = up
                changed.append((peer_id, up))
        return changed

    def send(self, peer_id: str, frames: List[Any]) -> None:
        """Send ``frames`` to ``peer_id`` with a REQ envelope (an empty frame
        first), as a host expects.

        Raises:
            zmq.ZMQError: not a peer of this socket (``EHOSTUNREACH``), or
                it cannot take more now (``EAGAIN``).
        """
        send_message(self.socket, [peer_id.encode("utf-8"), b"", *frames], _NOBLOCK)

    def receive(self) -> Iterator[Tuple[str, List[Any]]]:
        """``(peer id, message)`` for each message waiting, at most a batch;
        the envelope the peer echoed is left out."""
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = recv_message(self.socket, prefix=1, flags=_NOBLOCK)
            except zmq.Again:
                return
            peer = bytes(frames[0]).decode("utf-8", "replace")
            rest = frames[1:]
            yield peer, rest[1:] if rest and not rest[0] else rest

    def close(self) -> None:
        """Close the socket and its monitor."""
        self._watch.close()
        self.socket.close()
        self._by_endpoint.clear()
        self._endpoints.clear()
        self._up.clear()
