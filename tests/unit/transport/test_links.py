"""Links: one ROUTER connected to many peers by id, each connection watched.

The peers here are plain ROUTER sockets that echo, one on a private ipc path
(NULL security) and one on loopback TCP (CURVE with the user's key), so
that one socket carries both mechanisms, as the broker's does."""

from __future__ import annotations

from typing import Iterator, List, Tuple

import pytest
import zmq

from broker.security.options import Security
from broker.transport.context import PrivateContext
from broker.transport.links import Links
from tests.conftest import ipc_endpoint, wait_until

INTERVAL = 0.1


@pytest.fixture
def private() -> Iterator[PrivateContext]:
    context = PrivateContext(Security())
    yield context
    context.close()


def factory(private: PrivateContext):
    from broker.wire.codec import Codec

    return Security().sockets(private.context, Codec(), private.start_zap)


def peer(private: PrivateContext, endpoint: str) -> Tuple[zmq.Socket, str]:
    socket, bound = factory(private).bind(zmq.ROUTER, endpoint)
    return socket, bound


def events_until(links: Links, count: int) -> List[Tuple[str, bool]]:
    found: List[Tuple[str, bool]] = []
    monitor = links.sockets[1]

    def more() -> bool:
        if monitor.poll(10):
            found.extend(links.events())
        return len(found) >= count

    wait_until(more, timeout=5, message=f"{count} link events")
    return found


def echo_once(socket: zmq.Socket) -> None:
    assert socket.poll(5000)
    routing_id, *rest = socket.recv_multipart()
    socket.send_multipart([routing_id, *rest])


def test_one_socket_reaches_peers_of_both_mechanisms_by_id(private, tmp_path):
    ipc_peer, ipc_at = peer(private, ipc_endpoint(tmp_path, "host-a"))
    tcp_peer, tcp_at = peer(private, "tcp://127.0.0.1:*")
    links = Links(factory(private), INTERVAL)
    try:
        links.connect("a", ipc_at)
        links.connect("b", tcp_at)  # CURVE, with the user's own key as the server's
        assert sorted(events_until(links, 2)) == [("a", True), ("b", True)]
        for name, socket in (("a", ipc_peer), ("b", tcp_peer)):
            links.send(name, [b"hello " + name.encode()])
            echo_once(socket)
            assert links.sockets[0].poll(5000)
            assert list(links.receive()) == [(name, [b"hello " + name.encode()])]
    finally:
        links.close()
        ipc_peer.close()
        tcp_peer.close()


def test_a_peer_that_goes_away_is_down_and_up_again_when_it_comes_back(private, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "host")
    first, _ = peer(private, endpoint)
    links = Links(factory(private), INTERVAL)
    try:
        links.connect("h", endpoint)
        assert events_until(links, 1) == [("h", True)] and links.is_up("h")
        first.close()
        assert events_until(links, 1) == [("h", False)] and not links.is_up("h")
        again, _ = peer(private, endpoint)
        assert events_until(links, 1) == [("h", True)]
        links.send("h", [b"after the restart"])
        echo_once(again)
        again.close()
    finally:
        links.close()


def test_a_new_peer_at_the_same_endpoint_replaces_the_old_one(private, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "host")
    socket, _ = peer(private, endpoint)
    links = Links(factory(private), INTERVAL)
    try:
        links.connect("old", endpoint)
        assert events_until(links, 1) == [("old", True)]
        links.connect("new", endpoint)  # the host restarted with a new id
        assert events_until(links, 1) == [("new", True)]
        assert not links.is_up("old")
        links.send("new", [b"x"])
        echo_once(socket)
        assert links.sockets[0].poll(5000)
        assert [peer_id for peer_id, _ in links.receive()] == ["new"]
        with pytest.raises(zmq.ZMQError):
            links.send("old", [b"x"])
    finally:
        links.close()
        socket.close()
