"""Faults with real processes: what a caller sees, how soon, and that nothing leaks.

Every test kills, stops or silences a real process (a host, a UI, a broker,
or a peer that never answers) and asserts what the caller saw and how long
it took, then that the test process holds no more threads or file
descriptors than before. Each prints a ``FAULT`` line with its measured
figures (``pytest -s tests/end_to_end/test_faults.py``); docs/security.md quotes them.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator, Optional, Tuple

import pytest
import zmq

import broker
import host_adapter
import ui_adapter
from broker.transport.endpoints import ipc_in_use
from broker.wire.codec import Codec
from tests.conftest import Process, ipc_endpoint, wait_until

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")

INTERVAL = 0.1  # heartbeat interval of the in-test UIs and of tests/helpers/processes.py
LOST_WITHIN = 3 * INTERVAL + 0.5  # three missed heartbeats, plus generous slack


def record(fault: str, seen: str, seconds: float) -> None:
    """Print one measured figure (shown with ``pytest -s``)."""
    print(f"\nFAULT | {fault} | {seen} | {seconds:.3f} s")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    """Every thread of this process, ZeroMQ's own I/O threads included."""
    return len(os.listdir("/proc/self/task"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill(process: Process, sig: int = signal.SIGKILL) -> float:
    """Send ``sig``; for SIGKILL reap the process. Returns when it was sent."""
    os.kill(process.pid, sig)
    sent = time.monotonic()
    if sig == signal.SIGKILL:
        process.popen.wait(10)
    return sent


def started_host(spawn: Callable[..., Process], ui: str, name: str = "maya") -> Tuple[Process, str]:
    """A host process announcing to ``ui``; returns it and its host id."""
    process = spawn("host", ui, name)
    process.read_line()  # its endpoint
    return process, process.read_line()


class Caller:
    """Runs one call on its own thread; remembers what it raised (or returned) and when."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.outcome: Optional[Tuple[Any, float]] = None
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(call,), name="test-caller")
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            value: Any = call()
        except broker.RpcError as exc:
            value = exc
        self.outcome = (value, time.monotonic())

    def result(self, timeout: float) -> Tuple[Any, float]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the call did not return within {timeout} s"
        assert self.outcome is not None
        return self.outcome


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Request first: checks threads and descriptors after everything else closed.

    Python threads (``threading.active_count``), all threads (ZeroMQ's are not
    Python threads: a context left open shows only here) and descriptors.
    """
    gc.collect()
    threads, tasks, fds = threading.active_count(), os_threads(), open_fds()
    yield
    gc.collect()
    wait_until(
        lambda: threading.active_count() <= threads,
        timeout=5,
        message=f"threads back to {threads} (now: {[t.name for t in threading.enumerate()]})",
    )
    wait_until(lambda: os_threads() <= tasks, timeout=5, message=f"OS threads back to {tasks}")
    wait_until(lambda: open_fds() <= fds, timeout=5, message=f"open descriptors back to {fds}")


def busy(proxy: broker.Proxy, host_id: str) -> bool:
    return any(h["id"] == host_id and h["state"] == "busy" for h in proxy.rpc.hosts())


def state_in(proxy: broker.Proxy, host_id: str) -> Optional[str]:
    return next((h["state"] for h in proxy.rpc.hosts() if h["id"] == host_id), None)


# -- a host dies mid-call -------------------------------------------------------------------


def test_host_killed_mid_call_direct_then_restarted(no_leaks, spawn):
    with ui_adapter.listen(endpoint="tcp://127.0.0.1:*", heartbeat_interval=INTERVAL) as ui:
        process, host_id = started_host(spawn, ui.endpoint)
        maya = ui.wait_for_host("maya", timeout=10)
        caller = Caller(lambda: maya.rpc.with_timeout(30).slow(20))
        wait_until(lambda: ui.registry.state_of(host_id) == "busy", message="host busy")
        killed = kill(process)
        error, when = caller.result(10)
        assert isinstance(error, broker.HostLost), error
        assert when - killed < LOST_WITHIN, when - killed
        record("host SIGKILL mid-call (direct)", "HostLost", when - killed)
        started = time.monotonic()
        with pytest.raises(broker.HostLost):
            maya.add(1, 2)  # a lost host fails new calls at once
        assert time.monotonic() - started < 0.5
        assert ui.registry.state_of(host_id) == "lost"

        began = time.monotonic()
        restarted, new_id = started_host(spawn, ui.endpoint)
        assert new_id != host_id
        assert ui.wait_for_host("maya", timeout=10).add(2, 3) == 5
        took = time.monotonic() - began
        record("host restart (direct)", "new process announced, calls work", took)
        assert {h["id"]: h["state"] for h in ui.hosts()}[new_id] in ("idle", "busy")


def test_host_killed_mid_call_through_broker_then_restarted(no_leaks, spawn):
    broker_process = spawn("broker", "tcp://127.0.0.1:*")
    endpoint = broker_process.read_line()
    process, host_id = started_host(spawn, endpoint)
    with broker.connect(endpoint, timeout=5) as watch, broker.connect(endpoint, timeout=30) as p:
        wait_until(lambda: state_in(watch, host_id), timeout=10, message="host registered")
        caller = Caller(lambda: p.rpc.host(host_id).slow(20))
        wait_until(lambda: busy(watch, host_id), message="host busy")
        killed = kill(process)
        error, when = caller.result(10)
        assert isinstance(error, broker.HostLost), error
        assert when - killed < LOST_WITHIN, when - killed
        record("host SIGKILL mid-call (broker)", "HostLost", when - killed)
        started = time.monotonic()
        with pytest.raises(broker.HostLost):
            p.rpc.host(host_id).add(1, 2)  # by id: that host is lost
        with pytest.raises(broker.HostNotFound):
            p.rpc.host("maya").add(1, 2)  # by name: no live host of that name
        assert time.monotonic() - started < 0.5

        began = time.monotonic()
        restarted, new_id = started_host(spawn, endpoint)
        wait_until(lambda: state_in(watch, new_id), timeout=10, message="new host registered")
        assert p.rpc.host("maya").add(2, 3) == 5  # the same proxy, by name
        took = time.monotonic() - began
        record("host restart (broker)", "new process registered, calls work", took)


# -- the UI dies ------------------------------------------------------------------------------


def test_ui_killed_host_keeps_serving_and_reannounces_to_a_restarted_ui(no_leaks, spawn, tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    ui_process = spawn("ui", endpoint)
    ui_process.read_line()
    with host_adapter.serve(
        {"add": lambda a, b: a + b},
        name="blender",
        ui=endpoint,
        heartbeat_interval=INTERVAL,
        dispatcher=host_adapter.immediate,
    ) as adapter:
        assert adapter.wait_connected(10)
        assert adapter.ui.show() == "shown"
        killed = kill(ui_process)
        wait_until(lambda: not adapter.connected, timeout=5, message="host noticed the UI died")
        noticed = time.monotonic() - killed
        assert noticed < LOST_WITHIN, noticed
        record("UI SIGKILL (host in test process)", "host: not connected", noticed)

        with broker.connect(adapter.endpoint, timeout=5) as direct:
            assert direct.add(1, 2) == 3  # the host keeps serving
        started = time.monotonic()
        with pytest.raises(broker.NotConnected, match="no UI is connected"):
            adapter.ui.rpc.with_timeout(5).show()  # the host knows: not its 5 s timeout
        took = time.monotonic() - started
        assert took < 2.5, took
        record("host calls the dead UI", "NotConnected at once", took)

        restarted = spawn("ui", endpoint)
        restarted.read_line()
        began = time.monotonic()
        assert adapter.wait_connected(10)
        reannounced = time.monotonic() - began
        assert reannounced < LOST_WITHIN, reannounced
        record("UI restart at the same ipc endpoint", "host re-announced", reannounced)
        assert adapter.ui.hide() == "hidden"  # the same proxy works again
        with broker.connect(endpoint, timeout=5) as ui:
            assert [h["id"] for h in ui.call("rpc.hosts")] == [adapter.id]


def test_host_whose_ui_is_gone_backs_off_without_a_busy_loop(no_leaks, spawn, tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    ui_process = spawn("ui", endpoint)
    ui_process.read_line()
    host = spawn("host", endpoint, "maya")
    host_endpoint = host.read_line()
    host_id = host.read_line()
    with broker.connect(endpoint, timeout=5) as ui:
        wait_until(lambda: [h["id"] for h in ui.call("rpc.hosts")] == [host_id], timeout=10)
    kill(ui_process)
    before, began = cpu_seconds(host.pid), time.monotonic()
    time.sleep(2.0)  # ok: sampling the host's CPU time over a fixed window, not an event
    used, window = cpu_seconds(host.pid) - before, time.monotonic() - began
    assert used < 0.2, f"{used:.3f} s of CPU in {window:.2f} s with no UI"
    record("host with no UI, CPU over 2 s", f"{used:.3f} s CPU in {window:.2f} s", used)
    with broker.connect(host_endpoint, timeout=5) as direct:
        assert direct.add(1, 2) == 3


# -- the broker dies ------------------------------------------------------------------------


def test_broker_killed_caller_sees_host_lost_hosts_reregister_with_a_restart(
    no_leaks, spawn, tmp_path
):
    endpoint = ipc_endpoint(tmp_path, "broker")
    first = spawn("broker", endpoint)
    first.read_line()
    process, host_id = started_host(spawn, endpoint)
    timeout = 1.5
    with broker.connect(endpoint, timeout=5) as watch, broker.connect(endpoint, timeout) as p:
        wait_until(lambda: state_in(watch, host_id), timeout=10, message="host registered")
        caller = Caller(lambda: p.rpc.host(host_id).slow(0.5))
        wait_until(lambda: busy(watch, host_id), message="host busy")
        killed = kill(first)
        error, when = caller.result(10)
        # The connection to the broker drops with it: the reply can never come,
        # so the call fails at once rather than at its timeout.
        assert isinstance(error, broker.HostLost), error
        assert when - killed < timeout
        record("broker SIGKILL mid-call", "HostLost (connection dropped)", when - killed)

        second = spawn("broker", endpoint)
        second.read_line()
        began = time.monotonic()
        wait_until(lambda: state_in(watch, host_id), timeout=5, message="host re-registered")
        reregistered = time.monotonic() - began
        assert reregistered < LOST_WITHIN, reregistered
        record("broker restart at the same ipc endpoint", "host re-registered", reregistered)
        assert p.rpc.host("maya").add(1, 2) == 3  # the same proxy, on a fresh socket
        assert p.rpc.host(host_id).call("rpc.ping")["pid"] == process.pid


def test_call_without_timeout_through_a_killed_broker_returns(no_leaks, spawn, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "broker")
    first = spawn("broker", endpoint)
    first.read_line()
    _, host_id = started_host(spawn, endpoint)
    context = zmq.Context()  # terminating it is how this test frees the stuck call
    proxy = broker.connect(endpoint, timeout=None, context=context)
    caller: Optional[Caller] = None
    try:
        with broker.connect(endpoint, timeout=5) as watch:
            wait_until(lambda: state_in(watch, host_id), timeout=10, message="host registered")
            caller = Caller(lambda: proxy.rpc.host(host_id).slow(0.3))
            wait_until(lambda: busy(watch, host_id), message="host busy")
            kill(first)
            killed = time.monotonic()
            # The proxy's connection dropped with the broker: the reply can
            # never come, so the call fails at once instead of waiting forever.
            outcome, when = caller.result(5)
            assert isinstance(outcome, broker.HostLost), outcome
            assert "connection dropped" in str(outcome)
            record("broker killed under a call with timeout=None", "HostLost", when - killed)
            spawn("broker", endpoint).read_line()
            wait_until(lambda: state_in(watch, host_id), timeout=5, message="host re-registered")
        assert proxy.rpc.host(host_id).add(1, 2) == 3  # the same proxy works again
    finally:
        if caller is not None and caller.outcome is None:
            context.term()  # the receive blocked forever fails with ETERM, closing its socket
            caller.result(5)
            proxy.close()
        else:
            proxy.close()
            context.term()


# -- a host stops (SIGSTOP) and resumes (SIGCONT) -----------------------------------------------


def test_stopped_host_is_lost_then_back_with_the_same_id_direct(no_leaks, spawn):
    lost = []
    with ui_adapter.listen(
        endpoint="tcp://127.0.0.1:*", heartbeat_interval=INTERVAL, on_host_lost=lost.append
    ) as ui:
        process, host_id = started_host(spawn, ui.endpoint)
        maya = ui.wait_for_host("maya", timeout=10)
        assert maya.add(1, 2) == 3
        caller = Caller(lambda: maya.rpc.with_timeout(30).slow(0.5))
        wait_until(lambda: ui.registry.state_of(host_id) == "busy", message="host busy")
        stopped = kill(process, signal.SIGSTOP)
        error, when = caller.result(10)
        assert isinstance(error, broker.HostLost), error
        assert when - stopped < LOST_WITHIN, when - stopped
        record("host SIGSTOP mid-call (direct)", "HostLost", when - stopped)
        wait_until(lambda: lost, message="on_host_lost callback")
        assert lost[0]["id"] == host_id
        with pytest.raises(broker.HostLost):
            maya.add(1, 2)

        resumed = kill(process, signal.SIGCONT)
        wait_until(lambda: ui.registry.state_of(host_id) == "idle", timeout=5, message="host back")
        back = time.monotonic() - resumed
        assert back < LOST_WITHIN, back
        record("host SIGCONT (direct)", "idle again, same id", back)
        assert [(h["id"], h["state"]) for h in ui.hosts()] == [(host_id, "idle")]
        assert maya.add(2, 3) == 5  # the same proxy; the late reply to slow() is not mixed in
        assert maya.items() == []


def test_stopped_host_is_lost_then_back_through_broker(no_leaks, spawn):
    broker_process = spawn("broker", "tcp://127.0.0.1:*")
    endpoint = broker_process.read_line()
    process, host_id = started_host(spawn, endpoint)
    with broker.connect(endpoint, timeout=5) as watch, broker.connect(endpoint, timeout=30) as p:
        wait_until(lambda: state_in(watch, host_id), timeout=10, message="host registered")
        caller = Caller(lambda: p.rpc.host(host_id).slow(0.5))
        wait_until(lambda: busy(watch, host_id), message="host busy")
        stopped = kill(process, signal.SIGSTOP)
        error, when = caller.result(10)
        assert isinstance(error, broker.HostLost), error
        assert when - stopped < LOST_WITHIN, when - stopped
        record("host SIGSTOP mid-call (broker)", "HostLost", when - stopped)
        assert state_in(watch, host_id) == "lost"
        with pytest.raises(broker.HostLost):
            p.rpc.host(host_id).add(1, 2)

        resumed = kill(process, signal.SIGCONT)
        wait_until(lambda: state_in(watch, host_id) == "idle", timeout=5, message="host back")
        back = time.monotonic() - resumed
        assert back < LOST_WITHIN, back
        record("host SIGCONT (broker)", "idle again, same id", back)
        # The late reply to slow() is dropped by the broker, never given to this call.
        assert p.rpc.host(host_id).add(2, 3) == 5
        assert p.rpc.host("maya").echo("same host") == "same host"


# -- a peer that never answers -------------------------------------------------------------------


def test_peer_that_never_answers_times_out_then_the_same_proxy_works(no_leaks, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "silent")
    context = zmq.Context()
    silent = context.socket(zmq.ROUTER)
    silent.linger = 0
    silent.bind(endpoint)
    codec = Codec()
    try:
        with broker.connect(endpoint, timeout=0.5) as proxy:
            started = time.monotonic()
            with pytest.raises(broker.CallTimeout):
                proxy.add(1, 2)
            took = time.monotonic() - started
            assert 0.5 <= took < 1.0, took
            record("peer reads and never answers", "CallTimeout at its timeout (0.5 s)", took)
            assert silent.poll(1000), "the silent peer did not even receive the request"
            frames = silent.recv_multipart()
            delimiter = frames.index(b"")  # [identity, correlation id, b"", body]
            envelope = frames[: delimiter + 1]
            request = codec.decode(frames[delimiter + 1 :])
            assert (request.method, request.args) == ("add", [1, 2])
            # Answering now is too late: the proxy dropped that socket (Lazy Pirate).
            late = codec.encode_response(request.msgid, "late")
            silent.send_multipart([*envelope, *late])
            silent.close()
            # ZeroMQ closes the listener on its own thread, a moment later.
            wait_until(lambda: not ipc_in_use(endpoint), message="the silent peer's endpoint freed")

            with host_adapter.serve(
                {"add": lambda a, b: a + b},
                name="real",
                endpoint=endpoint,
                ui=ipc_endpoint(tmp_path, "no-ui"),
                dispatcher=host_adapter.immediate,
            ):
                assert proxy.add(1, 2) == 3  # the same proxy, its own answer
    finally:
        silent.close()
        context.term()
