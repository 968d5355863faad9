"""The serving loop, driven by raw pyzmq sockets: what any other client sees."""

from __future__ import annotations

import threading

import msgpack
import pytest
import zmq

import broker
from broker.errors import EndpointInUse
from broker.serve.server import Server
from broker.serve.service import as_service
from broker.wire.codec import Codec
from tests.conftest import curve_server, sockets, wait_until


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def release():
    """An event a test's slow method waits on; set at teardown so nothing hangs."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def server(context, release):
    def hold(seconds: float) -> str:
        release.wait(seconds)
        return "released"

    service = as_service({"add": lambda a, b: a + b, "hold": hold, "fail": lambda: 1 / 0})
    srv = Server(service, sockets=sockets(context), name="test", id="test-1").start()
    yield srv
    release.set()
    srv.stop()


def req_socket(context, endpoint, timeout_ms=5000):
    sock = context.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvtimeo = timeout_ms
    sock.connect(endpoint)
    return sock


def call_raw(sock, message):
    sock.send(msgpack.packb(message, use_bin_type=True))
    return msgpack.unpackb(sock.recv(), raw=False)


def test_plain_req_client_gets_msgpack_rpc_reply(context, server):
    sock = req_socket(context, server.endpoint)
    assert call_raw(sock, [0, 7, "add", [5, 10]]) == [1, 7, None, 15]
    sock.close()


def test_binds_ephemeral_loopback_port(server):
    assert server.endpoint.startswith("tcp://127.0.0.1:")
    assert not server.endpoint.endswith(":*")


def test_kwargs_extension(context, server):
    sock = req_socket(context, server.endpoint)
    assert call_raw(sock, [0, 8, "add", [], {"a": 1, "b": 2}]) == [1, 8, None, 3]
    sock.close()


def test_unknown_method_and_private_names(context, server):
    sock = req_socket(context, server.endpoint)
    for name in ("nope", "_private", "__class__", "add.__globals__", "rpc.nope"):
        kind, msgid, error, result = call_raw(sock, [0, 9, name, []])
        assert (kind, msgid, result) == (1, 9, None)
        assert error["type"] == "MethodNotFound", name
    sock.close()


def test_remote_exception_becomes_error_map(context, server):
    sock = req_socket(context, server.endpoint)
    _, _, error, _ = call_raw(sock, [0, 1, "fail", []])
    assert error["type"] == "Exception"
    assert error["exception"] == "builtins.ZeroDivisionError"
    assert "ZeroDivisionError" in error["traceback"]
    assert "_execute" not in error["traceback"]  # the server's own frame is left out
    sock.close()


def test_wrong_arguments_are_invalid_params(context, server):
    sock = req_socket(context, server.endpoint)
    _, _, error, _ = call_raw(sock, [0, 1, "add", [1]])
    assert error["type"] == "InvalidParams"
    sock.close()


def test_ping_answers_while_a_call_runs(context, server, release):
    slow = req_socket(context, server.endpoint)
    slow.send(msgpack.packb([0, 1, "hold", [30]]))
    wait_until(lambda: server.state == "busy", message="server busy")
    pinger = req_socket(context, server.endpoint, timeout_ms=2000)
    _, _, error, ping = call_raw(pinger, [0, 2, "rpc.ping", []])
    assert error is None
    assert ping["state"] == "busy" and ping["id"] == "test-1" and ping["protocol"] == 1
    release.set()
    assert msgpack.unpackb(slow.recv()) == [1, 1, None, "released"]
    wait_until(lambda: server.state == "idle", message="server idle again")
    slow.close()
    pinger.close()


def test_describe_lists_methods(context, server):
    sock = req_socket(context, server.endpoint)
    _, _, _, description = call_raw(sock, [0, 3, "rpc.describe", []])
    assert description["protocol"] == 1
    assert [m["name"] for m in description["methods"]] == ["add", "fail", "hold"]
    assert description["methods"][0]["signature"] == "(a, b)"
    sock.close()


GARBAGE = [
    [b""],
    [b"\xff\xfe\xfd"],
    [b"\x93\x00"],  # truncated array
    [msgpack.packb({"not": "a list"})],
    [msgpack.packb([0, 1, 2, 3])],  # method not a str
    [msgpack.packb([1, 5, None, 3])],  # a response sent to a server
    [msgpack.packb([0, 2**40, "add", []])],  # msgid not uint32
    [b"\x91" * 10000 + b"\xc0"],  # nested too deep
    [msgpack.packb([0, 1, "add", [1, 2]]), b"unexpected extra frame"],
    [b"\xdb\xff\xff\xff\xff"],  # str32 declaring 4 GiB
    [b"\xc7\x01\x05a"],  # unknown ext type
]


@pytest.mark.parametrize("frames", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_gets_protocol_error_then_server_keeps_serving(context, server, frames):
    sock = req_socket(context, server.endpoint)
    sock.send_multipart(frames)
    kind, _, error, _ = msgpack.unpackb(sock.recv(), raw=False)
    assert kind == 1
    if frames[-1] == b"unexpected extra frame":
        assert error is None  # extra frames are out-of-band data nobody referenced
    else:
        assert error["type"] == "ProtocolError"
    assert call_raw(sock, [0, 4, "add", [2, 3]]) == [1, 4, None, 5]
    sock.close()


def test_dealer_without_delimiter_is_answered(context, server):
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.rcvtimeo = 5000
    dealer.connect(server.endpoint)
    dealer.send(msgpack.packb([0, 11, "add", [1, 1]]))
    assert msgpack.unpackb(dealer.recv()) == [1, 11, None, 2]
    dealer.close()


def test_a_msgpack_rpc_notification_gets_no_reply(context, server):
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.rcvtimeo = 5000
    dealer.connect(server.endpoint)
    dealer.send(msgpack.packb([2, "add", [1, 1]]))
    dealer.send(msgpack.packb([0, 12, "add", [2, 2]]))
    # Handled in order: had the notification been answered, its reply came first.
    assert msgpack.unpackb(dealer.recv()) == [1, 12, None, 4]
    dealer.send(msgpack.packb([2, 9, "add", [1, 1]]))  # not a notification: 4 items
    assert msgpack.unpackb(dealer.recv())[2]["type"] == "ProtocolError"
    dealer.close()


def test_oversized_message_answered_too_large(context, release):
    codec = Codec(max_message_size=1000)
    srv = Server(as_service({"echo": lambda x: x}), sockets=sockets(context), codec=codec).start()
    try:
        sock = req_socket(context, srv.endpoint)
        sock.send(msgpack.packb([0, 5, "echo", [b"x" * 1500]]))
        assert msgpack.unpackb(sock.recv(), raw=False)[2]["type"] == "TooLarge"
        _, _, error, _ = call_raw(sock, [0, 6, "echo", [b"x" * 10]])
        assert error is None
        sock.close()
    finally:
        srv.stop()


def test_unencodable_result_is_an_error_not_a_crash(context):
    srv = Server(as_service({"bad": lambda: object()}), sockets=sockets(context)).start()
    try:
        sock = req_socket(context, srv.endpoint)
        _, _, error, _ = call_raw(sock, [0, 1, "bad", []])
        assert error["type"] == "Exception" and "could not be sent" in error["message"]
        sock.close()
    finally:
        srv.stop()


def test_system_exit_in_a_call_does_not_stop_the_server(context):
    def leave():
        raise SystemExit(3)

    srv = Server(as_service({"leave": leave, "one": lambda: 1}), sockets=sockets(context)).start()
    try:
        sock = req_socket(context, srv.endpoint)
        assert call_raw(sock, [0, 1, "leave", []])[2]["exception"] == "builtins.SystemExit"
        assert call_raw(sock, [0, 2, "one", []]) == [1, 2, None, 1]
        sock.close()
    finally:
        srv.stop()


def test_dispatcher_runs_every_call(context):
    ran = []

    def dispatch(func, *args, **kwargs):
        ran.append(threading.current_thread().name)
        return func(*args, **kwargs)

    srv = Server(
        as_service({"one": lambda func=None: 1}), sockets=sockets(context), dispatcher=dispatch
    )
    srv.start()
    try:
        sock = req_socket(context, srv.endpoint)
        # a remote keyword named "func" cannot collide with the dispatcher's
        assert call_raw(sock, [0, 1, "one", [], {"func": 5}]) == [1, 1, None, 1]
        assert ran and ran[0].startswith("broker-call")
        sock.close()
    finally:
        srv.stop()


def test_pending_limit_answers_at_once(context, release):
    srv = Server(
        as_service({"hold": lambda: release.wait(30)}), sockets=sockets(context), max_pending=1
    ).start()
    try:
        first = req_socket(context, srv.endpoint)
        first.send(msgpack.packb([0, 1, "hold", []]))
        wait_until(lambda: srv.state == "busy", message="first call running")
        second = req_socket(context, srv.endpoint)
        _, _, error, _ = call_raw(second, [0, 2, "hold", []])
        assert "pending" in error["message"]
        release.set()
        assert msgpack.unpackb(first.recv()) == [1, 1, None, True]
        first.close()
        second.close()
    finally:
        srv.stop()


def test_endpoint_in_use_is_a_clear_error(context, server):
    with pytest.raises(EndpointInUse, match="already in use"):
        Server(as_service({}), sockets=sockets(context), endpoint=server.endpoint).start()


def test_bad_endpoint_is_value_error(context):
    with pytest.raises(ValueError, match="cannot bind"):
        Server(as_service({}), sockets=sockets(context), endpoint="bogus://nowhere").start()


def test_stop_is_idempotent_and_releases_threads(context):
    before = threading.active_count()
    srv = Server(as_service({}), sockets=sockets(context)).start()
    srv.stop()
    srv.stop()
    assert not srv.threads_alive
    assert threading.active_count() == before


def test_a_curve_server_lets_in_nothing_from_a_plain_client_and_serves_the_user(caplog):
    refused = "refused a connection: the client has authentication off"
    with curve_server({"one": lambda: 1}) as srv:
        context = zmq.Context()
        try:
            # Both ends race to judge a mismatched handshake; when the client
            # wins, the server sees only a hang-up. A user would try again.
            for _ in range(20):
                plain = req_socket(context, srv.endpoint)  # no CURVE: never gets in
                plain.send(msgpack.packb([0, 1, "one", []]))
                assert not plain.poll(100)
                plain.close()
                if refused in caplog.text:
                    break
        finally:
            context.destroy(linger=0)
        wait_until(lambda: refused in caplog.text, message="the server to log the refusal")
        with broker.connect(srv.endpoint, timeout=5) as user:
            assert user.one() == 1


def test_calls_queued_behind_a_long_call_run_in_order_after_it(context, release):
    ran = []

    def record(n):
        ran.append(n)
        return n

    srv = Server(
        as_service({"hold": lambda: release.wait(30), "record": record}), sockets=sockets(context)
    ).start()
    try:
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.rcvtimeo = 5000
        dealer.connect(srv.endpoint)
        dealer.send_multipart([b"", msgpack.packb([0, 1, "hold", []])])
        wait_until(lambda: srv.state == "busy", message="the long call running")
        # Answered only once the standby has taken the socket over.
        pinger = req_socket(context, srv.endpoint)
        assert call_raw(pinger, [0, 2, "rpc.ping", []])[3]["state"] == "busy"
        for n in range(5):
            dealer.send_multipart([b"", msgpack.packb([0, 10 + n, "record", [n]])])
        assert call_raw(pinger, [0, 3, "rpc.ping", []])[3]["state"] == "busy"
        assert ran == []  # queued, not run beside the long call
        release.set()
        replies = [msgpack.unpackb(dealer.recv_multipart()[1]) for _ in range(6)]
        # Run in arrival order; replies are matched by msgid, and may overtake
        # each other (some are relayed by the new leader, some sent by it).
        assert ran == [0, 1, 2, 3, 4]
        expected = [[1, 1, None, True]] + [[1, 10 + n, None, n] for n in range(5)]
        assert sorted(replies, key=lambda reply: reply[1]) == expected
        wait_until(lambda: srv.state == "idle", message="server idle again")
        assert call_raw(pinger, [0, 4, "record", [5]]) == [1, 4, None, 5]
        dealer.close()
        pinger.close()
    finally:
        srv.stop()


def test_long_calls_hand_the_socket_over_again_and_again(context):
    gates = [threading.Event() for _ in range(3)]
    srv = Server(
        as_service({"hold": lambda n: gates[n].wait(30), "add": lambda a, b: a + b}),
        sockets=sockets(context),
    ).start()
    try:
        pinger = req_socket(context, srv.endpoint)
        for n in range(3):
            slow = req_socket(context, srv.endpoint)
            slow.send(msgpack.packb([0, n, "hold", [n]]))
            wait_until(lambda: srv.state == "busy", message=f"long call {n} running")
            assert call_raw(pinger, [0, 100 + n, "rpc.ping", []])[3]["state"] == "busy"
            gates[n].set()
            assert msgpack.unpackb(slow.recv()) == [1, n, None, True]
            for i in range(20):  # back on the fast path, whichever thread leads
                assert call_raw(pinger, [0, i, "add", [n, i]]) == [1, i, None, n + i]
            slow.close()
        pinger.close()
    finally:
        for gate in gates:
            gate.set()
        srv.stop()


def test_stop_during_a_call_that_holds_the_socket_still_closes_it(context, release):
    # handover=60: the standby would not take over before the call ends by itself.
    srv = Server(
        as_service({"hold": lambda: release.wait(30)}), sockets=sockets(context), handover=60
    )
    srv.start()
    slow = req_socket(context, srv.endpoint)
    slow.send(msgpack.packb([0, 1, "hold", []]))
    wait_until(lambda: srv.state == "busy", message="the call running")
    srv.stop(timeout=0.2)
    assert not srv.running
    # The endpoint is free again although the call still runs.
    again = Server(as_service({}), sockets=sockets(context), endpoint=srv.endpoint).start()
    again.stop()
    assert srv.threads_alive
    release.set()
    wait_until(lambda: not srv.threads_alive, message="the call's thread to end")
    slow.close()
