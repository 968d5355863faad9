"""Whether anything listens at an endpoint, and whether it speaks ZeroMQ: real sockets."""

from __future__ import annotations

import socket
import time

import zmq

from broker.transport.probe import foreign_server, nothing_listens
from tests.helpers.plainserver import PlainServer, free_tcp_endpoint


def test_a_missing_ipc_path_is_sure_at_once(tmp_path):
    started = time.monotonic()
    assert nothing_listens(f"ipc://{tmp_path / 'nobody.sock'}")
    assert time.monotonic() - started < 0.2


def test_a_stale_ipc_file_is_nothing_listening(tmp_path):
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, as a killed process leaves it
    assert path.exists() and nothing_listens(f"ipc://{path}")


def test_a_live_ipc_endpoint_listens(tmp_path):
    endpoint = f"ipc://{tmp_path / 'live.sock'}"
    with zmq.Context() as context, context.socket(zmq.ROUTER) as server:
        server.linger = 0
        server.bind(endpoint)
        assert not nothing_listens(endpoint)


def test_a_refusing_tcp_port_is_sure_within_the_wait():
    started = time.monotonic()
    assert nothing_listens(free_tcp_endpoint(), wait=0.5)
    assert time.monotonic() - started < 2.0


def test_a_tcp_peer_that_accepts_and_is_silent_listens():
    with PlainServer("silent") as server:
        started = time.monotonic()
        assert not nothing_listens(server.endpoint, wait=5.0)
        assert time.monotonic() - started < 2.0  # says so when connected, not at the end


def test_other_transports_are_never_sure():
    assert not nothing_listens("inproc://nobody")
    assert not nothing_listens("tcp://not a host:x")


def test_an_http_server_is_foreign():
    with PlainServer("http") as server:
        reason = foreign_server(server.endpoint)
    assert reason is not None and "HTTP/1.0 400" in reason and "not ZeroMQ" in reason


def test_a_silent_server_is_foreign():
    with PlainServer("silent") as server:
        reason = foreign_server(server.endpoint, wait=0.3)
    assert reason == "it accepted the connection but sent nothing within 0.3 s"
    with PlainServer("silent") as server:  # as a stopped ZeroMQ process would be
        assert foreign_server(server.endpoint, wait=0.3, silence=False) is None


def test_a_zeromq_server_is_not_foreign(tmp_path):
    with zmq.Context() as context, context.socket(zmq.ROUTER) as server:
        server.linger = 0
        port = server.bind_to_random_port("tcp://127.0.0.1")
        assert foreign_server(f"tcp://127.0.0.1:{port}") is None
        ipc = f"ipc://{tmp_path / 'zmq.sock'}"
        server.bind(ipc)
        assert foreign_server(ipc) is None


def test_nothing_there_is_not_foreign(tmp_path):
    assert foreign_server(free_tcp_endpoint()) is None
    assert foreign_server(f"ipc://{tmp_path / 'nobody.sock'}") is None
    assert foreign_server("inproc://x") is None


def test_the_usual_owner_follows_the_endpoints_form(monkeypatch):
    from broker.transport.endpoints import DEFAULT_UI_ENDPOINT, UI_ENDPOINT_ENV, host_endpoint
    from broker.transport.probe import usual_owner

    # Endpoints as text only: nothing here binds or connects.
    moved = "ipc:///tmp/a-studio-ui.sock"
    monkeypatch.setenv(UI_ENDPOINT_ENV, moved)
    for ui in (DEFAULT_UI_ENDPOINT, moved):
        assert usual_owner(ui).startswith("the UI endpoint, which a UI or the broker")
    assert "a host's endpoint" in usual_owner(host_endpoint("maya-1234"))
    assert "a host, a UI or a broker" in usual_owner("ipc:///tmp/somewhere-else.sock")
