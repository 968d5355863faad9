"""A UI and hosts in separate processes, as users run them."""

from __future__ import annotations

import os
import signal
import time

import msgpack
import pytest
import zmq

import broker
import host_adapter
import ui_adapter
from broker.wire.codec import Codec
from tests.conftest import ipc_endpoint, raw_socket, wait_until

INTERVAL = 0.1  # heartbeat interval of fast_ui and of the helper processes


@pytest.fixture
def host(fast_ui, spawn):
    """A host process announcing to the in-test UI; yields (process, proxy)."""
    process = spawn("host", fast_ui.endpoint, "maya")
    endpoint = process.read_line()
    host_id = process.read_line()
    proxy = fast_ui.wait_for_host("maya", timeout=10)
    assert proxy.rpc.endpoint == endpoint
    yield process, proxy, host_id


def test_host_announces_with_its_info(fast_ui, host):
    process, proxy, host_id = host
    (info,) = fast_ui.hosts()
    assert info["id"] == host_id and info["name"] == "maya"
    assert info["pid"] == process.pid
    assert info["protocol"] == 1 and info["state"] in ("idle", "busy")
    if os.name == "posix":  # a path only this user can reach; elsewhere loopback TCP
        from broker.security.options import is_private_ipc

        assert is_private_ipc(info["endpoint"]), info["endpoint"]
    else:  # pragma: no cover - Windows
        assert info["endpoint"].startswith("tcp://127.0.0.1:")
    assert isinstance(info["last_seen"], float)


def test_calls_with_args_kwargs_and_data(host):
    _, maya, _ = host
    assert maya.add(5, 10) == 15
    assert maya.add(a=1, b=2) == 3
    data = {"none": None, "bytes": b"\x00\x01", "nested": [1, {"deep": [2.5, "é"]}]}
    assert maya.echo(data) == data
    assert maya.echo(None, extra=[b"x"]) == {"value": None, "kwargs": {"extra": [b"x"]}}
    assert maya.echo(b"y" * 300_000) == b"y" * 300_000  # out-of-band frame


def test_calls_run_on_the_hosts_main_thread(host):
    process, maya, _ = host
    assert maya.where() == {"main_thread": True, "pid": process.pid}


def test_errors_come_back_typed(host):
    _, maya, _ = host
    with pytest.raises(broker.RemoteError) as info:
        maya.boom("bad scene")
    assert info.value.exception == "builtins.ValueError"
    assert "bad scene" in str(info.value) and "in boom" in info.value.remote_traceback
    with pytest.raises(broker.MethodNotFound):
        maya.no_such_method()
    with pytest.raises(broker.InvalidParams):
        maya.add(1, 2, 3)
    assert maya.add(1, 1) == 2


def test_timeout_then_a_working_call(fast_ui, host):
    _, maya, host_id = host
    with pytest.raises(broker.CallTimeout):
        maya.rpc.with_timeout(0.3).slow(1.0)
    # Busy is not lost: heartbeats come from the adapter's own thread.
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "busy", message="busy state")
    assert maya.rpc.with_timeout(10).add(2, 3) == 5
    assert fast_ui.registry.state_of(host_id) in ("idle", "busy")


def test_ping_answers_while_main_thread_is_busy(host):
    _, maya, _ = host
    with (
        broker.connect(maya.rpc.endpoint, timeout=5) as slow,
        broker.connect(maya.rpc.endpoint) as ping,
    ):
        with pytest.raises(broker.CallTimeout):
            slow.rpc.with_timeout(0.1).slow(1.5)
        started = time.monotonic()
        assert ping.rpc.with_timeout(1).call("rpc.ping")["state"] == "busy"
        assert time.monotonic() - started < 1


def test_host_calls_the_ui(host):
    _, maya, _ = host
    assert maya.call_ui("show") == "shown"


def test_clean_stop_departs(fast_ui, host):
    process, _, host_id = host
    departed = []
    fast_ui._events._callbacks["departed"] = departed.append
    process.popen.send_signal(signal.SIGTERM)
    process.popen.wait(10)
    wait_until(lambda: not fast_ui.hosts(), message="host removed after depart")
    wait_until(lambda: departed, message="on_host_departed callback")
    assert departed[0]["id"] == host_id and departed[0]["state"] == "departed"


def test_killed_host_is_lost_within_three_intervals(fast_ui, host):
    process, maya, host_id = host
    process.popen.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    process.popen.wait(10)
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "lost", timeout=5, message="lost")
    detected = time.monotonic() - killed
    # 3 intervals plus one liveness check (interval / 4) and scheduling slack.
    assert detected < 3 * INTERVAL + 0.5, detected
    with pytest.raises(broker.HostLost):
        maya.add(1, 2)


def test_call_waiting_on_a_killed_host_fails_with_host_lost(fast_ui, host):
    process, maya, _ = host
    import threading

    threading.Timer(0.3, lambda: os.kill(process.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with pytest.raises(broker.HostLost):
        maya.rpc.with_timeout(30).slow(20)
    assert time.monotonic() - started < 3


def raw_request(endpoint, frames):
    """Send frames on a fresh REQ socket; return the reply's frames."""
    context = zmq.Context()
    sock = raw_socket(context, zmq.REQ, endpoint)
    try:
        sock.send_multipart(frames)
        return sock.recv_multipart()
    finally:
        sock.close()
        context.term()


def test_raw_req_client_against_unauthenticated_host(spawn, tmp_path):
    process = spawn("host", ipc_endpoint(tmp_path), "maya", "--no-auth")
    endpoint = process.read_line()
    (reply,) = raw_request(endpoint, [msgpack.packb([0, 7, "add", [5, 10]])])
    assert msgpack.unpackb(reply) == [1, 7, None, 15]


def test_a_raw_client_of_this_user_needs_no_key_for_a_host_on_its_private_path(host):
    _, maya, _ = host
    (reply,) = raw_request(maya.rpc.endpoint, [msgpack.packb([0, 7, "add", [5, 10]])])
    assert msgpack.unpackb(reply) == [1, 7, None, 15]


def test_a_client_without_the_key_is_refused_by_the_tcp_ui_endpoint(fast_ui, host):
    with broker.connect(fast_ui.endpoint, timeout=5, auth=False) as plain:
        with pytest.raises(broker.Unauthorized, match="authentication"):
            plain.call("rpc.hosts")
    with broker.connect(fast_ui.endpoint, timeout=5) as keyed:
        assert [h["name"] for h in keyed.call("rpc.hosts")] == ["maya"]


GARBAGE = [[b"\x00garbage"], [b""], [b"\xc1", b"\xc1"], [b"\x91" * 5000]]


@pytest.mark.parametrize("frames", GARBAGE)
def test_garbage_to_each_endpoint_then_a_working_call(fast_ui, host, frames):
    _, maya, _ = host
    for endpoint in (maya.rpc.endpoint, fast_ui.endpoint):
        assert Codec().decode(raw_request(endpoint, frames)).error["type"] == "ProtocolError"
    assert maya.add(40, 2) == 42
    with broker.connect(fast_ui.endpoint, timeout=5) as ui:
        assert [h["name"] for h in ui.call("rpc.hosts")] == ["maya"]


def test_two_hosts_by_name_and_by_id(fast_ui, spawn):
    first, second = spawn("host", fast_ui.endpoint, "maya"), spawn("host", fast_ui.endpoint, "nuke")
    maya_id = [first.read_line(), first.read_line()][1]
    [second.read_line(), second.read_line()]
    wait_until(lambda: len(fast_ui.hosts()) == 2, timeout=10, message="two hosts")
    assert fast_ui.host("nuke").where()["pid"] == second.pid
    assert fast_ui.host(maya_id).where()["pid"] == first.pid
    with pytest.raises(broker.HostNotFound):
        fast_ui.host("houdini")


def test_host_in_this_process_ui_in_another(spawn, tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    ui_process = spawn("ui", endpoint)
    assert ui_process.read_line() == endpoint
    with host_adapter.serve(
        {"add": lambda a, b: a + b}, name="blender", ui=endpoint, heartbeat_interval=INTERVAL
    ) as adapter:
        assert adapter.wait_connected(10)
        assert adapter.ui.show() == "shown"
        with broker.connect(endpoint, timeout=5) as ui:
            (info,) = ui.call("rpc.hosts")
            assert info["id"] == adapter.id
        # The UI dies: the host notices, keeps serving, and re-announces to a new UI.
        ui_process.popen.send_signal(signal.SIGKILL)
        ui_process.popen.wait(10)
        wait_until(lambda: not adapter.connected, timeout=5, message="host noticed UI loss")
        with broker.connect(adapter.endpoint, timeout=5) as direct:
            assert direct.add(1, 2) == 3
        restarted = spawn("ui", endpoint)
        restarted.read_line()
        started = time.monotonic()
        assert adapter.wait_connected(10)
        assert time.monotonic() - started < 2
        assert adapter.ui.hide() == "hidden"


def test_ui_endpoint_in_use_is_reported(fast_ui):
    with pytest.raises(broker.EndpointInUse):
        ui_adapter.listen(endpoint=fast_ui.endpoint)
