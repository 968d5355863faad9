"""The pyblish-qml window's link to its host: found, called, and noticed going, three ways.

Real adapters, a real broker, in this process; no Qt.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, List

import pytest

import broker
import host_adapter
from broker.errors import HostNotFound
from tests.conftest import ipc_endpoint, wait_until
from ui_adapter.qml.bridge import HostBridge

INTERVAL = 0.1


class Gone:
    """Collects the reasons the bridge gives."""

    def __init__(self) -> None:
        self.reasons: List[str] = []
        self.event = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.event.set()


@pytest.fixture
def gone() -> Gone:
    return Gone()


@pytest.fixture
def bridge(gone: Gone) -> Iterator[HostBridge]:
    link = HostBridge(gone, timeout=5.0, heartbeat_interval=INTERVAL)
    yield link
    link.close()


def serve_host(ui: str, name: str = "maya") -> Any:
    return host_adapter.serve(
        {"add": lambda a, b: a + b}, name=name, ui=ui, heartbeat_interval=INTERVAL
    )


def test_listen_finds_the_host_by_id_among_namesakes_and_notices_it_depart(bridge, gone, tmp_path):
    calls: List[str] = []
    endpoint = bridge.listen(ipc_endpoint(tmp_path), {"show": lambda: calls.append("show")})
    with serve_host(endpoint) as first, serve_host(endpoint) as second:
        info = bridge.wait_for_host(second.id, timeout=5)
        assert info["id"] == second.id and bridge.host_id == second.id
        assert bridge.call("add", 2, 3) == 5
        with broker.connect(endpoint, timeout=5) as host_side:
            host_side.call("show")  # what a host's adapter.ui.call("show") sends
        assert calls == ["show"]
        first.stop()
        assert not gone.event.wait(5 * INTERVAL), "another host departing is not ours"
    assert gone.event.wait(5)
    assert gone.reasons == [f"host {second.id} departed: it stopped serving"]


def test_no_host_in_time_is_a_clear_error(bridge, tmp_path):
    bridge.listen(ipc_endpoint(tmp_path), {})
    with pytest.raises(HostNotFound, match="no host 'nuke' reached the UI endpoint"):
        bridge.wait_for_host("nuke", timeout=0.3)
    with pytest.raises(HostNotFound, match="wait_for_host"):
        bridge.call("add", 1, 2)


def test_attach_calls_the_host_through_the_broker_and_notices_it_go(bridge, gone, tmp_path):
    with broker.start_broker([ipc_endpoint(tmp_path, "broker")], heartbeat_interval=INTERVAL) as b:
        shown: List[bool] = []
        bridge.attach(b.endpoint, {"show": lambda: shown.append(True)})
        with serve_host(b.endpoint) as host:
            info = bridge.wait_for_host("maya", timeout=5)
            assert info["id"] == host.id
            assert bridge.call("add", 4, 5) == 9
            wait_until(lambda: _ui_answers(host), message="the attached UI to answer show")
            assert shown
        assert gone.event.wait(5)
        assert gone.reasons == [f"host {host.id} departed: it stopped serving"]


def test_no_broker_at_all_ends_the_wait_in_its_time(bridge, gone, tmp_path):
    bridge.attach(ipc_endpoint(tmp_path, "nobody"), {})
    started = time.monotonic()
    with pytest.raises(HostNotFound, match="no host 'maya' reached the broker at"):
        bridge.wait_for_host("maya", timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert not gone.event.is_set()  # no host was found, so none went


def test_attach_notices_the_broker_go(bridge, gone, tmp_path):
    b = broker.start_broker([ipc_endpoint(tmp_path, "broker")], heartbeat_interval=INTERVAL)
    try:
        bridge.attach(b.endpoint, {})
        with serve_host(b.endpoint):
            bridge.wait_for_host("maya", timeout=5)
            assert not gone.event.is_set()
            b.stop()
            assert gone.event.wait(20 * INTERVAL + 2)
    finally:
        b.stop()
    assert gone.reasons == [f"the broker at {b.endpoint} stopped answering"]


def test_connect_calls_the_host_at_its_endpoint_and_notices_it_go(bridge, gone, tmp_path):
    with serve_host(ipc_endpoint(tmp_path, "nobody")) as host:
        info = bridge.connect(host.endpoint, timeout=5)
        assert info["id"] == host.id and bridge.call("add", 1, 1) == 2
    assert gone.event.wait(20 * INTERVAL + 2)
    assert gone.reasons == [f"host {host.id} at {host.endpoint} stopped answering"]


def _ui_answers(host: Any) -> bool:
    try:
        host.ui.call("show")
    except HostNotFound:  # not attached yet
        return False
    return True
