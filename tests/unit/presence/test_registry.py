"""HostRegistry: announce, heartbeats, liveness and lookups, with a fake clock."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from broker.errors import HostNotFound, Overloaded
from broker.presence.registry import HostRegistry
from tests.conftest import wait_until


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now


Events = List[Tuple[str, Dict[str, Any]]]


def make_registry(clock: Clock, events: Events, **options: Any) -> HostRegistry:
    return HostRegistry(
        heartbeat_interval=1,
        missed_heartbeats=3,
        on_event=lambda kind, info: events.append((kind, info)),
        clock=lambda: clock.now,
        **options,
    )


def info(
    host_id: str = "h1", name: str = "maya", endpoint: str = "", **extra: Any
) -> Dict[str, Any]:
    return {
        "id": host_id,
        "name": name,
        "endpoint": endpoint or f"tcp://127.0.0.1:1/{host_id}",
        "pid": 123,
        "hostname": "box",
        "protocol": 1,
        **extra,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> Events:
    return []


@pytest.fixture
def registry(clock: Clock, events: Events) -> HostRegistry:
    return make_registry(clock, events)


def kinds(events: Events) -> List[str]:
    return [kind for kind, _ in events]


# -- announce, heartbeat, hosts ----------------------------------------------------


def test_announce_returns_heartbeat_interval(registry: HostRegistry, events: Events) -> None:
    assert registry.announce(info()) == {"heartbeat": 1}
    assert kinds(events) == ["added"]
    assert events[0][1]["id"] == "h1"
    assert events[0][1]["state"] == "idle"


def test_hosts_lists_info_state_and_last_seen(registry: HostRegistry) -> None:
    assert registry.hosts() == []
    before = time.time()
    registry.announce(info("h1", "maya", extra_field="kept"))
    registry.announce(info("h2", "nuke"))
    hosts = {host["id"]: host for host in registry.hosts()}
    assert set(hosts) == {"h1", "h2"}
    h1 = hosts["h1"]
    expected = {**info("h1", "maya", extra_field="kept"), "state": "idle"}
    assert {key: value for key, value in h1.items() if key != "last_seen"} == expected
    assert isinstance(h1["last_seen"], float)
    assert before - 1 <= h1["last_seen"] <= time.time() + 1
    assert hosts["h2"]["name"] == "nuke"


def test_announce_copies_info(registry: HostRegistry) -> None:
    data = info()
    registry.announce(data)
    data["name"] = "changed"
    assert registry.hosts()[0]["name"] == "maya"


def test_reannounce_same_endpoint_is_not_added_twice(
    registry: HostRegistry, events: Events
) -> None:
    registry.announce(info())
    registry.announce(info())
    assert kinds(events) == ["added"]
    registry.announce(info(endpoint="tcp://127.0.0.1:2"))
    assert kinds(events) == ["added", "added"]
    assert len(registry.hosts()) == 1


def test_heartbeat_unknown_host_returns_false(registry: HostRegistry) -> None:
    assert registry.heartbeat("nobody") is False
    assert registry.heartbeat("nobody", "busy") is False
    assert registry.hosts() == []


def test_heartbeat_updates_state(registry: HostRegistry) -> None:
    registry.announce(info())
    assert registry.state_of("h1") == "idle"
    assert registry.heartbeat("h1", "busy") is True
    assert registry.state_of("h1") == "busy"
    assert registry.hosts()[0]["state"] == "busy"
    assert registry.heartbeat("h1", "idle") is True
    assert registry.state_of("h1") == "idle"
    assert registry.heartbeat("h1") is True
    assert registry.state_of("h1") == "idle"
    assert registry.state_of("unknown") is None


@pytest.mark.parametrize(
    "args",
    [(5,), (None,), (b"h1",), ("h1", "lost"), ("h1", "sleeping"), ("h1", None), ("h1", "IDLE")],
)
def test_invalid_heartbeat_args(registry: HostRegistry, args: tuple) -> None:
    registry.announce(info())
    with pytest.raises(TypeError):
        registry.heartbeat(*args)
    assert registry.state_of("h1") == "idle"


@pytest.mark.parametrize(
    "bad",
    [
        "not a dict",
        None,
        ["h1", "maya", "tcp://x"],
        {"name": "maya", "endpoint": "tcp://x"},
        {"id": "h1", "endpoint": "tcp://x"},
        {"id": "h1", "name": "maya"},
        {"id": "", "name": "maya", "endpoint": "tcp://x"},
        {"id": "h1", "name": "", "endpoint": "tcp://x"},
        {"id": 5, "name": "maya", "endpoint": "tcp://x"},
        {"id": "h1", "name": b"maya", "endpoint": "tcp://x"},
        {"id": "h1", "name": "ma/ya", "endpoint": "tcp://x"},
        {"id": "h/1", "name": "maya", "endpoint": "tcp://x"},
    ],
)
def test_announce_with_bad_info(registry: HostRegistry, events: Events, bad: Any) -> None:
    with pytest.raises(TypeError):
        registry.announce(bad)
    assert registry.hosts() == []
    assert events == []


def test_invalid_registry_options() -> None:
    with pytest.raises(ValueError):
        HostRegistry(heartbeat_interval=0)
    with pytest.raises(ValueError):
        HostRegistry(missed_heartbeats=0)


# -- liveness --------------------------------------------------------------------------


def test_lost_only_after_more_than_missed_heartbeats(
    registry: HostRegistry, clock: Clock, events: Events
) -> None:
    registry.announce(info())
    clock.now += 2.9
    registry.check()
    assert registry.state_of("h1") == "idle"
    clock.now = 1003.0  # exactly 3 intervals: not yet
    registry.check()
    assert registry.state_of("h1") == "idle"
    assert kinds(events) == ["added"]
    clock.now = 1003.01
    registry.check()
    assert registry.state_of("h1") == "lost"
    assert registry.hosts()[0]["state"] == "lost"
    assert kinds(events) == ["added", "lost"]
    assert events[1][1]["id"] == "h1"
    assert events[1][1]["state"] == "lost"
    clock.now += 1
    registry.check()
    assert kinds(events) == ["added", "lost"]  # emitted once


def test_heartbeat_resets_the_silence(registry: HostRegistry, clock: Clock) -> None:
    registry.announce(info())
    clock.now += 2.5
    assert registry.heartbeat("h1", "busy")
    clock.now += 2.5  # 5 s since announce, 2.5 s since the heartbeat
    registry.check()
    assert registry.state_of("h1") == "busy"
    clock.now += 1
    registry.check()
    assert registry.state_of("h1") == "lost"


def test_heartbeat_after_lost_brings_host_back(
    registry: HostRegistry, clock: Clock, events: Events
) -> None:
    registry.announce(info())
    clock.now += 5
    registry.check()
    assert registry.state_of("h1") == "lost"
    assert registry.heartbeat("h1", "busy") is True
    assert registry.state_of("h1") == "busy"
    assert kinds(events) == ["added", "lost", "back"]
    assert events[-1][1]["state"] == "busy"
    registry.check()
    assert registry.state_of("h1") == "busy"
    assert kinds(events) == ["added", "lost", "back"]


def test_reannounce_after_lost_emits_back(
    registry: HostRegistry, clock: Clock, events: Events
) -> None:
    registry.announce(info())
    clock.now += 5
    registry.check()
    registry.announce(info())
    assert registry.state_of("h1") == "idle"
    assert kinds(events) == ["added", "lost", "back"]


def test_lost_hosts_are_forgotten_after_forget_after(clock: Clock, events: Events) -> None:
    registry = make_registry(clock, events, forget_after=10)
    registry.announce(info())
    clock.now += 5
    registry.check()
    assert registry.state_of("h1") == "lost"
    clock.now = 1010.0  # silent for exactly forget_after: still known
    registry.check()
    assert registry.state_of("h1") == "lost"
    clock.now = 1010.5
    registry.check()
    assert registry.state_of("h1") is None
    assert registry.hosts() == []
    assert registry.heartbeat("h1") is False  # "announce again"


def test_live_hosts_are_never_forgotten(clock: Clock, events: Events) -> None:
    registry = make_registry(clock, events, forget_after=2)
    registry.announce(info())
    for _ in range(20):
        clock.now += 1
        assert registry.heartbeat("h1")
        registry.check()
    assert registry.state_of("h1") == "idle"


def test_depart_removes_host(registry: HostRegistry, events: Events) -> None:
    registry.announce(info("h1"))
    registry.announce(info("h2"))
    assert registry.depart("h1") is None
    assert [host["id"] for host in registry.hosts()] == ["h2"]
    assert registry.state_of("h1") is None
    assert kinds(events) == ["added", "added", "departed"]
    assert events[-1][1]["id"] == "h1"
    assert events[-1][1]["state"] == "departed"
    registry.depart("h1")  # unknown: no second event
    assert kinds(events) == ["added", "added", "departed"]
    with pytest.raises(TypeError):
        registry.depart(5)  # type: ignore[arg-type]


# -- lookups ----------------------------------------------------------------------------


def test_find_by_id(registry: HostRegistry) -> None:
    registry.announce(info("h1", "maya"))
    registry.announce(info("h2", "maya"))
    found = registry.find("h2")
    assert found["id"] == "h2"
    assert found["state"] == "idle"
    assert found["endpoint"] == info("h2")["endpoint"]


def test_find_by_name_prefers_idle_over_busy(registry: HostRegistry, clock: Clock) -> None:
    registry.announce(info("h1", "maya"))
    registry.announce(info("h2", "maya"))
    registry.heartbeat("h1", "busy")
    for _ in range(3):
        clock.now += 0.1
        assert registry.find("maya")["id"] == "h2"
    registry.heartbeat("h2", "busy")
    registry.heartbeat("h1", "idle")
    clock.now += 0.1
    assert registry.find("maya")["id"] == "h1"


def test_find_by_name_rotates_least_recently_used(registry: HostRegistry, clock: Clock) -> None:
    registry.announce(info("h1", "maya"))
    registry.announce(info("h2", "maya"))
    registry.announce(info("n1", "nuke"))
    picked = []
    for _ in range(4):
        clock.now += 0.1
        picked.append(registry.find("maya")["id"])
    assert picked[0] != picked[1]
    assert picked == [picked[0], picked[1], picked[0], picked[1]]
    assert set(picked) == {"h1", "h2"}
    # Finding by id counts as a use too.
    last = picked[-1]
    other = picked[0]
    clock.now += 0.1
    registry.find(other)
    clock.now += 0.1
    assert registry.find("maya")["id"] == last


def test_find_skips_lost_hosts(registry: HostRegistry, clock: Clock) -> None:
    registry.announce(info("h1", "maya"))
    clock.now += 2
    registry.announce(info("h2", "maya"))
    clock.now += 1.5  # h1 silent 3.5 s, h2 1.5 s
    registry.check()
    assert registry.state_of("h1") == "lost"
    assert registry.state_of("h2") == "idle"
    for _ in range(3):
        clock.now += 0.1
        assert registry.find("maya")["id"] == "h2"
    clock.now += 5
    registry.check()
    with pytest.raises(HostNotFound, match="maya"):
        registry.find("maya")


def test_find_unknown_raises_host_not_found(registry: HostRegistry) -> None:
    registry.announce(info("h1", "maya"))
    with pytest.raises(HostNotFound, match="houdini") as caught:
        registry.find("houdini")
    assert "maya" in str(caught.value)  # known names are listed
    with pytest.raises(HostNotFound):
        HostRegistry().find("anything")


def test_wait_for_returns_immediately_when_present(registry: HostRegistry) -> None:
    registry.announce(info("h1", "maya"))
    started = time.monotonic()
    assert registry.wait_for("maya", timeout=5)["id"] == "h1"
    assert registry.wait_for(None, timeout=0)["id"] == "h1"
    assert time.monotonic() - started < 1


def test_wait_for_times_out_when_absent(registry: HostRegistry, clock: Clock) -> None:
    registry.announce(info("n1", "nuke"))
    registry.announce(info("m1", "maya"))
    clock.now += 5
    registry.check()  # m1 is lost, n1 too
    registry.heartbeat("n1")
    started = time.monotonic()
    with pytest.raises(HostNotFound, match="maya"):
        registry.wait_for("maya", timeout=0.05)
    elapsed = time.monotonic() - started
    assert 0.04 <= elapsed < 2
    with pytest.raises(HostNotFound):
        HostRegistry().wait_for(timeout=0.05)


def test_wait_for_wakes_up_when_another_thread_announces(registry: HostRegistry) -> None:
    registry.announce(info("n1", "nuke"))
    announcer = threading.Timer(0.05, registry.announce, args=(info("m1", "maya"),))
    announcer.start()
    try:
        started = time.monotonic()
        found = registry.wait_for("maya", timeout=10)
        elapsed = time.monotonic() - started
    finally:
        announcer.cancel()
        announcer.join(timeout=5)
    assert not announcer.is_alive()
    assert found["id"] == "m1"
    assert elapsed < 5


def test_wait_for_wakes_up_when_a_lost_host_comes_back(
    registry: HostRegistry, clock: Clock
) -> None:
    registry.announce(info("m1", "maya"))
    clock.now += 5
    registry.check()
    result: Dict[str, Any] = {}

    def waiter() -> None:
        try:
            result["found"] = registry.wait_for("maya", timeout=10)
        except HostNotFound as exc:  # pragma: no cover - reported by the assert below
            result["error"] = exc

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    try:
        # The waiter is blocked on the registry's condition (CPython keeps its waiters here).
        wait_until(lambda: registry._changed._waiters, message="wait_for to block")  # type: ignore[attr-defined]
        assert thread.is_alive()
        assert registry.heartbeat("m1", "busy")
    finally:
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert "error" not in result
    assert result["found"]["id"] == "m1"
    assert result["found"]["state"] == "busy"


# -- hosts whose connection is watched (a UI, the broker) ------------------------------------


@pytest.fixture
def watching(clock: Clock, events: Events) -> HostRegistry:
    registry = make_registry(clock, events, watch_links=True)
    registry.announce(info())
    registry.link("h1", True)
    events.clear()
    return registry


def test_silence_with_a_live_connection_is_silent_never_lost(
    watching: HostRegistry, clock: Clock, events: Events
) -> None:
    watching.heartbeat("h1", "busy")
    clock.now += 3.5
    watching.check()
    assert watching.state_of("h1") == "silent" and kinds(events) == ["silent"]
    clock.now += 100  # a call holding the GIL for minutes
    watching.check()
    assert watching.state_of("h1") == "silent" and kinds(events) == ["silent"]
    watching.heartbeat("h1", "idle")  # the call returned
    assert watching.state_of("h1") == "idle" and kinds(events) == ["silent", "back"]


def test_a_dropped_connection_is_lost_at_once_and_back_when_made_again(
    watching: HostRegistry, clock: Clock, events: Events
) -> None:
    watching.link("h1", False)
    assert watching.state_of("h1") == "lost" and kinds(events) == ["lost"]
    watching.heartbeat("h1", "idle")  # its Python speaks, but nothing reaches it
    assert watching.state_of("h1") == "lost"
    clock.now += 1
    watching.link("h1", True)  # SIGCONT: reconnected
    assert watching.state_of("h1") == "idle" and kinds(events) == ["lost", "back"]
    clock.now += 2.9  # a fresh start for its heartbeats
    watching.check()
    assert watching.state_of("h1") == "idle"


def test_a_host_never_reached_is_lost_as_unreachable(clock: Clock, events: Events) -> None:
    registry = make_registry(clock, events, watch_links=True)
    registry.announce(info())
    for _ in range(3):
        clock.now += 1
        registry.heartbeat("h1", "idle")
    registry.check()
    assert registry.state_of("h1") == "idle"
    clock.now += 0.5  # heartbeats arrive, but the connection was never made
    registry.heartbeat("h1", "idle")
    registry.check()
    assert registry.state_of("h1") == "lost"


def test_a_reannounce_keeps_the_connection_state(
    watching: HostRegistry, clock: Clock, events: Events
) -> None:
    watching.announce(info())  # the host lost track of us and announced again
    clock.now += 10
    watching.check()
    assert watching.state_of("h1") == "silent"  # not lost as never connected


def test_by_name_a_silent_host_is_chosen_last(watching: HostRegistry, clock: Clock) -> None:
    watching.announce(info("h2"))
    watching.link("h2", True)
    clock.now += 2
    watching.heartbeat("h2", "busy")
    clock.now += 2
    watching.heartbeat("h2", "busy")
    watching.check()
    assert watching.state_of("h1") == "silent" and watching.state_of("h2") == "busy"
    assert watching.find("maya")["id"] == "h2"
    watching.depart("h2")
    assert watching.find("maya")["id"] == "h1"  # alive; the call will wait for it


# -- at farm scale: capacity, filtered and paged listing, checks by deadline --------------


def test_an_announce_past_capacity_is_refused_and_a_known_host_still_refreshes(
    clock: Clock, events: Events
) -> None:
    registry = make_registry(clock, events, capacity=2)
    registry.announce(info("h1"))
    registry.announce(info("h2"))
    with pytest.raises(Overloaded, match="holds 2 hosts"):
        registry.announce(info("h3"))
    assert registry.announce(info("h1")) == {"heartbeat": 1}  # not a new host
    registry.depart("h2")
    registry.announce(info("h3"))
    assert sorted(h["id"] for h in registry.hosts()) == ["h1", "h3"]


def test_hosts_filtered_by_name_and_state_and_paged_by_id(clock: Clock, events: Events) -> None:
    registry = make_registry(clock, events)
    for n in range(25):
        registry.announce(info(f"h{n:02}", name="nuke" if n % 5 == 0 else "maya"))
    registry.heartbeat("h01", "busy")
    assert [h["id"] for h in registry.hosts(name="nuke")] == ["h00", "h05", "h10", "h15", "h20"]
    assert [h["id"] for h in registry.hosts(state="busy")] == ["h01"]
    assert registry.hosts(name="houdini") == []
    seen: List[str] = []
    page = registry.hosts(limit=7)
    for _ in range(10):  # bounded: 25 hosts in pages of 7
        seen += [h["id"] for h in page]
        if len(page) < 7:
            break
        page = registry.hosts(after=seen[-1], limit=7)
    assert seen == sorted(f"h{n:02}" for n in range(25))


@pytest.mark.parametrize(
    "query, error",
    [
        ("maya", "one optional map"),
        ({"colour": "red"}, "one optional map"),
        ({"limit": "10"}, "'limit' must be a int"),
        ({"limit": 0}, "at least 1"),
        ({"state": "sleepy"}, "no state"),
    ],
)
def test_rpc_hosts_refuses_a_bad_query_with_a_clear_type_error(
    clock: Clock, events: Events, query: Any, error: str
) -> None:
    handler = make_registry(clock, events).handlers()["rpc.hosts"]
    with pytest.raises(TypeError, match=error):
        handler(query)


def test_rpc_hosts_answers_a_query_map_and_no_argument(clock: Clock, events: Events) -> None:
    registry = make_registry(clock, events)
    registry.announce(info("h1", name="maya"))
    registry.announce(info("h2", name="nuke"))
    handler = registry.handlers()["rpc.hosts"]
    assert [h["id"] for h in handler()] == ["h1", "h2"]
    assert [h["id"] for h in handler({"name": "nuke", "limit": 5})] == ["h2"]


def test_only_hosts_whose_time_is_up_are_judged_in_heartbeat_order(
    clock: Clock, events: Events
) -> None:
    registry = make_registry(clock, events)
    for n in range(3):
        registry.announce(info(f"h{n}"))
    clock.now += 2
    registry.heartbeat("h0")  # h0 now newest: h1 and h2 go quiet first
    clock.now += 1.5
    registry.check()
    lost = [i["id"] for kind, i in events if kind == "lost"]
    assert lost == ["h1", "h2"]
    assert registry.state_of("h0") == "idle"
    clock.now += 2
    registry.check()
    assert registry.state_of("h0") == "lost"
