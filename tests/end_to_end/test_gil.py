"""A host whose call holds the GIL, in a real process: every Python thread of
the host stops (its heartbeats too), but libzmq's I/O thread answers the
UI's and the broker's ZMTP heartbeats, so the host is ``silent``, never
``lost``, and its call's result arrives. A stopped or killed host is still
lost within three intervals."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Callable, List, Optional

import pytest

import broker
from tests.conftest import wait_until

INTERVAL = 0.1  # of the in-test UI and broker, and of tests/helpers/processes.py
HOLD = 15 * INTERVAL  # at least ten intervals with the GIL held
# Three intervals, plus slack for a loaded CI machine (the bench measures the figure).
LOST_WITHIN = 3 * INTERVAL + 0.5


def record(what: str, seconds: float) -> None:
    print(f"\nLIVENESS | {what} | {seconds:.3f} s")


def states_during(call: Callable[[], Any], state_of: Callable[[], Optional[str]]) -> tuple:
    """Run ``call`` on a thread; sample ``state_of`` until it returns.
    Returns (its result or exception, the distinct states seen, in order)."""
    outcome: List[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    seen: List[Optional[str]] = []
    deadline = time.monotonic() + HOLD + 10
    while thread.is_alive() and time.monotonic() < deadline:
        state = state_of()
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.005)  # ok: the sampling period of a bounded observation
    thread.join(10)
    return outcome[0], seen


def start_host(spawn, ui_endpoint: str, name: str = "maya") -> tuple:
    process = spawn("host", ui_endpoint, name)
    endpoint = process.read_line()
    return process, endpoint, process.read_line()


def test_direct_a_call_holding_the_gil_is_silent_never_lost(fast_ui, spawn):
    process, _, host_id = start_host(spawn, fast_ui.endpoint)
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "idle", message="announced")
    time.sleep(3 * INTERVAL)  # ok: let an idle heartbeat be the latest the UI heard
    maya = fast_ui.host(host_id)
    result, seen = states_during(
        lambda: maya.hold_gil(HOLD), lambda: fast_ui.registry.state_of(host_id)
    )
    assert result == HOLD
    assert "lost" not in seen, seen
    record(f"GIL held {HOLD:.1f} s, states {seen}", HOLD)
    # busy first (told before the call ran), silent while it held the GIL, then back.
    assert seen.index("busy") < seen.index("silent"), seen
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "idle", message="idle again")
    assert maya.add(1, 2) == 3


@pytest.fixture
def hub():
    with broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=INTERVAL) as running:
        yield running


def test_brokered_a_call_holding_the_gil_is_silent_and_not_chosen_by_name(hub, spawn):
    holder, _, holder_id = start_host(spawn, hub.endpoint)
    other, _, other_id = start_host(spawn, hub.endpoint)
    wait_until(
        lambda: {hub.registry.state_of(h) for h in (holder_id, other_id)} == {"idle"},
        message="both hosts idle",
    )
    with (
        broker.connect(hub.endpoint, timeout=30) as client,
        broker.connect(hub.endpoint, timeout=5) as watcher,
    ):

        def during() -> Optional[str]:
            return hub.registry.state_of(holder_id)

        routed: List[int] = []

        def hold() -> Any:
            return client.call(f"{holder_id}/hold_gil", HOLD)

        def by_name_while_silent() -> None:
            wait_until(lambda: during() == "silent", timeout=HOLD, message="silent")
            listed = {h["id"]: h["state"] for h in watcher.call("rpc.hosts")}
            assert listed[holder_id] == "silent"
            for _ in range(3):
                routed.append(watcher.call("maya/where")["pid"])

        side = threading.Thread(target=by_name_while_silent)
        side.start()
        result, seen = states_during(hold, during)
        side.join(10)
    assert result == HOLD and "lost" not in seen, (result, seen)
    assert routed == [other.pid] * 3  # the silent host was never chosen by name


def test_a_stopped_host_is_lost_within_three_intervals_and_back_after_sigcont(fast_ui, spawn):
    process, _, host_id = start_host(spawn, fast_ui.endpoint)
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "idle", message="announced")
    process.popen.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        wait_until(lambda: fast_ui.registry.state_of(host_id) == "lost", timeout=5)
        took = time.monotonic() - stopped
        assert took < LOST_WITHIN, took
        record("SIGSTOP to lost", took)
    finally:
        process.popen.send_signal(signal.SIGCONT)
    wait_until(lambda: fast_ui.registry.state_of(host_id) == "idle", timeout=5, message="back")
    assert fast_ui.host(host_id).add(2, 2) == 4


@pytest.mark.parametrize("where", ["direct", "brokered"])
def test_a_host_killed_mid_call_is_host_lost_within_three_intervals(fast_ui, hub, spawn, where):
    ui_endpoint = fast_ui.endpoint if where == "direct" else hub.endpoint
    process, _, host_id = start_host(spawn, ui_endpoint)
    registry = fast_ui.registry if where == "direct" else hub.registry
    wait_until(lambda: registry.state_of(host_id) == "idle", message="announced")
    if where == "direct":
        proxy = fast_ui.host(host_id)
        call = lambda: proxy.hold_gil(30)  # noqa: E731
    else:
        client = broker.connect(hub.endpoint, timeout=60)
        call = lambda: client.call(f"{host_id}/hold_gil", 30)  # noqa: E731
    outcome: List[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(_catch(call)))
    thread.start()
    wait_until(lambda: registry.state_of(host_id) in ("busy", "silent"), message="in the call")
    process.popen.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    thread.join(10)
    took = time.monotonic() - killed
    assert isinstance(outcome[0], broker.HostLost), outcome
    assert took < LOST_WITHIN, took
    record(f"SIGKILL mid-call to HostLost, {where}", took)
    if where == "brokered":
        client.close()


def _catch(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except broker.RpcError as exc:
        return exc
