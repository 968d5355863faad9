"""Host and UI adapters in one process: announce, heartbeat, restart, depart."""

from __future__ import annotations

import os
import threading
import time

import pytest

import broker
import host_adapter
import ui_adapter
from tests.conftest import ipc_endpoint, wait_until

INTERVAL = 0.1


def serve(ui_endpoint, service=None, name="maya", **kwargs):
    return host_adapter.serve(
        service or {"add": lambda a, b: a + b},
        name=name,
        ui=ui_endpoint,
        heartbeat_interval=INTERVAL,
        **kwargs,
    )


def listen(endpoint, **kwargs):
    return ui_adapter.listen(endpoint=endpoint, heartbeat_interval=INTERVAL, **kwargs)


def test_host_without_ui_keeps_serving_and_announces_when_ui_appears(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    with serve(endpoint) as adapter:
        with broker.connect(adapter.endpoint, timeout=5) as direct:
            assert direct.add(1, 2) == 3
        assert not adapter.connected
        with listen(endpoint=endpoint) as ui:
            started = time.monotonic()
            proxy = ui.wait_for_host("maya", timeout=5)
            # The queued announce is delivered as soon as the UI binds.
            assert time.monotonic() - started < 1.5
            assert proxy.add(2, 2) == 4


def test_a_call_to_the_ui_with_no_ui_fails_at_once_with_not_connected(tmp_path):
    endpoint = ipc_endpoint(tmp_path)  # nobody listens there
    with serve(endpoint, timeout=30) as adapter:
        assert not adapter.connected
        for call in (lambda: adapter.ui.show(), lambda: adapter.ui.rpc.with_timeout(60).show()):
            started = time.monotonic()
            with pytest.raises(broker.NotConnected, match="no UI is connected .* start a UI"):
                call()
            assert time.monotonic() - started < 5  # not the 30 s timeout
        waiting = adapter.ui  # the same proxy works once a UI appears
        with listen(endpoint=endpoint, service={"show": lambda: "shown"}) as ui:
            assert adapter.wait_connected(5)
            assert waiting.show() == "shown"
            ui.wait_for_host("maya", timeout=5)


def test_host_reannounces_after_ui_restart(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    with serve(endpoint) as adapter:
        with listen(endpoint=endpoint) as ui:
            ui.wait_for_host("maya", timeout=5)
        with listen(endpoint=endpoint) as ui:
            started = time.monotonic()
            ui.wait_for_host("maya", timeout=5)
            assert time.monotonic() - started < 2 * INTERVAL + 1.0
            assert ui.hosts()[0]["id"] == adapter.id


def test_busy_host_is_reported_busy_not_lost(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    release = threading.Event()
    with (
        listen(endpoint=endpoint) as ui,
        serve(endpoint, {"hold": lambda: release.wait(10)}) as adapter,
    ):
        proxy = ui.wait_for_host("maya", timeout=5)
        caller = threading.Thread(target=proxy.hold)
        caller.start()
        try:
            wait_until(lambda: ui.registry.state_of(adapter.id) == "busy", message="busy")
            # Six intervals of a busy main thread: still not lost.
            deadline = time.monotonic() + 6 * INTERVAL
            while time.monotonic() < deadline:
                assert ui.registry.state_of(adapter.id) == "busy"
                time.sleep(INTERVAL / 2)  # ok: sampling the state over a fixed window
        finally:
            release.set()
            caller.join(10)
        assert not caller.is_alive()
        wait_until(lambda: ui.registry.state_of(adapter.id) == "idle", message="idle again")


def test_callbacks_run_on_event_thread_and_may_call_the_host(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    seen = []

    def added(info):
        seen.append(
            ("added", info["name"], ui.host(info["id"]).add(1, 1), threading.current_thread().name)
        )

    with listen(
        endpoint=endpoint,
        on_host_added=added,
        on_host_departed=lambda info: seen.append(("departed", info["id"])),
    ) as ui:
        adapter = serve(endpoint)
        wait_until(lambda: seen, message="added callback")
        assert seen[0][:3] == ("added", "maya", 2)
        assert seen[0][3].startswith("broker-events")
        adapter.stop()
        wait_until(lambda: len(seen) == 2, message="departed callback")
        assert seen[1] == ("departed", adapter.id)


def test_silent_lost_and_back_callbacks(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    seen: list = []

    def note(kind):
        return lambda info: seen.append((kind, info["state"]))

    with listen(
        endpoint=endpoint,
        on_host_silent=note("silent"),
        on_host_lost=note("lost"),
        on_host_back=note("back"),
    ) as ui:
        adapter = serve(endpoint)
        ui.wait_for_host("maya", timeout=5)
        # Its heartbeats stop (as while a call holds the GIL); its socket still answers.
        adapter._node._announcer.stop(depart=False)
        wait_until(lambda: seen, timeout=3, message="on_host_silent")
        assert seen == [("silent", "silent")] and ui.hosts()[0]["state"] == "silent"
        assert ui.host("maya").add(1, 2) == 3  # alive: it still serves
        # Its endpoint closes, as when the process dies: lost at once.
        adapter._node.server.stop()
        wait_until(lambda: len(seen) == 2, timeout=3, message="on_host_lost")
        assert seen[1] == ("lost", "lost") and ui.hosts()[0]["state"] == "lost"
        with pytest.raises(broker.HostNotFound):
            ui.host("maya")  # by name: only live hosts
        with pytest.raises(broker.HostLost):
            ui.host(adapter.id).add(1, 2)  # by id: the proxy refuses at once
        adapter.stop()


def test_wait_for_host_times_out_clearly(tmp_path):
    with listen(endpoint=ipc_endpoint(tmp_path)) as ui:
        with pytest.raises(broker.HostNotFound, match="within 0.1 s"):
            ui.wait_for_host("nuke", timeout=0.1)


def test_host_proxy_is_reused_and_closed_with_the_ui(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    with serve(endpoint):
        ui = listen(endpoint=endpoint)
        first = ui.wait_for_host(timeout=5)
        assert ui.host("maya") is first
        assert ui.host("maya", timeout=1).rpc.timeout == 1
        ui.close()
        ui.close()
        assert first.closed
        with pytest.raises(broker.Closed):
            ui.host("maya")


def test_host_stop_is_idempotent_and_leaves_no_threads(tmp_path):
    before = {t.name for t in threading.enumerate()}
    endpoint = ipc_endpoint(tmp_path)
    with listen(endpoint=endpoint) as ui:
        adapter = serve(endpoint)
        ui.wait_for_host("maya", timeout=5)
        assert adapter.ui.call("rpc.ping")["name"] == "ui"
        adapter.stop()
        adapter.stop()
        with pytest.raises(broker.Closed):
            adapter.ui  # noqa: B018 - the property raises
    assert {t.name for t in threading.enumerate()} == before


def test_invalid_host_name():
    with pytest.raises(ValueError):
        host_adapter.serve({}, name="a/b")


def test_default_ui_endpoint_comes_from_environment(monkeypatch, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "from-env")
    monkeypatch.setenv(broker.UI_ENDPOINT_ENV, endpoint)
    with ui_adapter.listen(heartbeat_interval=INTERVAL) as ui, serve(None) as adapter:
        assert ui.endpoint == endpoint and adapter.ui_endpoint == endpoint
        ui.wait_for_host("maya", timeout=5)


def test_main_thread_queue_dispatcher_with_adapter(tmp_path):
    queue = host_adapter.MainThreadQueue()
    endpoint = ipc_endpoint(tmp_path)
    where = {"thread": lambda: threading.current_thread() is threading.main_thread()}
    with (
        serve(endpoint, where, dispatcher=queue) as adapter,
        broker.connect(adapter.endpoint, timeout=5) as proxy,
    ):
        result = {}
        caller = threading.Thread(target=lambda: result.setdefault("value", proxy.thread()))
        caller.start()
        wait_until(lambda: len(queue) or "value" in result, message="call queued")
        assert queue.process_pending() == 1
        caller.join(5)
        assert result["value"] is True


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_adapters_in_one_process_share_one_context():
    """Five hosts and a UI in one process: one libzmq I/O thread and one
    reaper between them, not two each."""

    def os_threads() -> int:
        return len(os.listdir("/proc/self/task"))

    before_os, before_py = os_threads(), threading.active_count()
    with ui_adapter.listen(endpoint="tcp://127.0.0.1:*", heartbeat_interval=0.2) as ui:
        hosts = [
            host_adapter.serve({"n": lambda n=n: n}, name=f"h{n}", ui=ui.endpoint) for n in range(5)
        ]
        try:
            assert [ui.wait_for_host(f"h{n}", timeout=10).n() for n in range(5)] == list(range(5))
            libzmq_threads = (os_threads() - before_os) - (threading.active_count() - before_py)
            assert libzmq_threads <= 3, libzmq_threads  # one context's I/O thread and reaper
        finally:
            for adapter in hosts:
                adapter.stop()
