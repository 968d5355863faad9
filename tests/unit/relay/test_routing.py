"""The broker's routing in memory: messages in, actions out, no sockets."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import msgpack
import pytest

from broker.relay.routing import Deliver, Forward, Refuse, Routing
from broker.wire.codec import Codec
from broker.wire.envelope import read_head

CODEC = Codec()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def routing(**options: Any) -> Tuple[Routing, Clock]:
    """A routing table; one call in flight per host unless ``window`` says more."""
    clock = Clock()
    options.setdefault("window", 1)
    return Routing(clock=clock, **options), clock


def host(host_id: str, name: str = "maya", role: Optional[str] = None) -> dict:
    info = {"id": host_id, "name": name, "endpoint": f"ipc:///tmp/{host_id}"}
    if role:
        info["role"] = role
    return info


def join(table: Routing, info: dict) -> List[Any]:
    """A host announces itself and the broker's connection to it is made."""
    return table.add(info) + table.linked(info["id"], True)


def request(table: Routing, client: str, method: str, msgid: int = 1, *args: Any) -> List[Any]:
    frames = CODEC.encode_request(msgid, method, list(args) or [msgid])
    return table.request(client, read_head(frames[0]), frames)


def sent(action: Forward) -> Tuple[str, int, str, list]:
    """(host, broker msgid, method, args) of a Forward."""
    kind, msgid, method, args = msgpack.unpackb(action.frames[0])
    return action.host_id, msgid, method, args


def answer(table: Routing, action: Forward, result: Any) -> List[Any]:
    _, msgid, _, _ = sent(action)
    frames = CODEC.encode_response(msgid, result)
    return table.reply(action.host_id, read_head(frames[0]), frames)


def test_a_call_by_id_goes_to_that_host_with_the_method_alone_and_its_reply_back() -> None:
    table, _ = routing()
    assert join(table, host("maya-1")) == []
    [forward] = request(table, "client-a", "maya-1/add", 7, 5, 10)
    assert isinstance(forward, Forward)
    host_id, broker_msgid, method, args = sent(forward)
    assert (host_id, method, args) == ("maya-1", "add", [5, 10])
    [deliver] = answer(table, forward, 15)
    assert isinstance(deliver, Deliver) and deliver.client == "client-a"
    assert msgpack.unpackb(deliver.frames[0]) == [1, 7, None, 15]  # the client's msgid again


def test_calls_by_name_go_to_the_least_recently_used_idle_host() -> None:
    table, clock = routing()
    join(table, host("maya-1"))
    join(table, host("maya-2"))
    join(table, host("nuke-1", "nuke"))
    first = request(table, "c", "maya/one", 1)[0]
    clock.now += 1
    second = request(table, "c", "maya/one", 2)[0]
    assert {first.host_id, second.host_id} == {"maya-1", "maya-2"}
    answer(table, first, 1)
    clock.now += 1
    third = request(table, "c", "maya/one", 3)[0]
    assert third.host_id == first.host_id  # the only idle one
    answer(table, second, 1)
    answer(table, third, 1)
    clock.now += 1
    assert request(table, "c", "maya/one", 4)[0].host_id == second.host_id  # used longest ago


def test_a_busy_host_queues_calls_in_order_and_rpc_calls_pass() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    running = request(table, "c", "maya-1/slow", 1)[0]
    assert request(table, "c", "maya-1/next", 2) == []
    assert request(table, "c", "maya/byname", 3) == []
    assert table.queued == 2
    ping = request(table, "c", "maya-1/rpc.ping", 4)
    assert sent(ping[0])[2] == "rpc.ping"  # answered by the host's I/O thread, even busy
    [deliver, following] = answer(table, running, "done")
    assert sent(following)[2] == "next"  # queued first, by id
    [_, last] = answer(table, following, "done")
    assert sent(last)[2] == "byname"
    assert table.queued == 0


def test_an_unknown_target_or_an_absent_ui_is_host_not_found() -> None:
    table, _ = routing()
    [refuse] = request(table, "c", "nobody/add", 9)
    assert refuse == Refuse("c", 9, "HostNotFound", "no live host with id or name 'nobody'")
    [refuse] = request(table, "c", "show", 10)
    assert refuse.kind == "HostNotFound" and "no UI is attached" in refuse.message


def test_a_bare_method_goes_to_the_latest_live_ui() -> None:
    table, _ = routing()
    join(table, host("ui-1", "ui", role="ui"))
    join(table, host("ui-2", "ui", role="ui"))
    assert request(table, "host", "show", 1)[0].host_id == "ui-2"
    table.lost("ui-2", "lost")
    assert request(table, "host", "show", 2)[0].host_id == "ui-1"
    assert request(table, "c", "ui/show", 3)[0].kind == "HostNotFound"  # a UI is not a host


def test_a_lost_host_fails_its_calls_and_calls_by_name_wait_for_another() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    join(table, host("maya-2"))
    one = request(table, "c", "maya-1/slow", 1)[0]
    two = request(table, "c", "maya-2/slow", 2)[0]
    assert request(table, "c", "maya-1/next", 3) == []
    assert request(table, "c", "maya/any", 4) == []
    failed = table.lost("maya-1", "host maya-1 was lost")
    assert sorted((a.msgid, a.kind) for a in failed) == [(1, "HostLost"), (3, "HostLost")]
    assert table.queued == 1  # the call by name waits for maya-2
    assert request(table, "c", "maya-1/again", 5)[0].kind == "HostLost"
    [_, next_call] = answer(table, two, "done")
    assert (next_call.host_id, sent(next_call)[2]) == ("maya-2", "any")
    assert answer(table, one, "late") == []  # its caller was answered HostLost already


def test_the_last_host_of_a_name_lost_fails_the_calls_by_name() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    request(table, "c", "maya/slow", 1)
    request(table, "c", "maya/waiting", 2)
    failed = table.lost("maya-1", "gone")
    assert sorted(a.msgid for a in failed) == [1, 2] and table.queued == 0


def test_a_host_that_comes_back_takes_its_queued_calls() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    table.lost("maya-1", "lost")
    table.back("maya-1")
    running = request(table, "c", "maya-1/slow", 1)[0]
    request(table, "c", "maya-1/next", 2)
    table.lost("maya-1", "lost")  # the queued call fails with it
    assert table.queued == 0
    assert table.back("maya-1") == []
    assert answer(table, running, "late") == []


def test_a_departed_host_fails_its_calls_and_is_not_found() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    request(table, "c", "maya-1/slow", 1)
    [refuse] = table.remove("maya-1", "host maya-1 departed")
    assert (refuse.kind, refuse.message) == ("HostLost", "host maya-1 departed")
    assert request(table, "c", "maya-1/one", 2)[0].kind == "HostNotFound"
    assert table.remove("maya-1", "again") == []


def test_a_re_announced_host_fails_what_the_old_one_had() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    request(table, "c", "maya-1/slow", 1)
    [refuse] = join(table, host("maya-1"))
    assert refuse.kind == "HostLost" and "re-announced" in refuse.message
    assert isinstance(request(table, "c", "maya-1/one", 2)[0], Forward)


def test_a_full_queue_refuses_at_once() -> None:
    table, _ = routing(queue_limit=1)
    join(table, host("maya-1"))
    request(table, "c", "maya-1/slow", 1)
    assert request(table, "c", "maya-1/one", 2) == []
    [refuse] = request(table, "c", "maya-1/one", 3)
    assert (refuse.kind, refuse.msgid) == ("Overloaded", 3) and "queue is full" in refuse.message


def test_queued_calls_time_out_and_the_running_one_does_not() -> None:
    table, clock = routing(queue_timeout=5)
    join(table, host("maya-1"))
    request(table, "c", "maya-1/slow", 1)
    request(table, "c", "maya-1/one", 2)
    clock.now += 4
    request(table, "c", "maya/two", 3)
    assert table.tick() == []
    clock.now += 2
    [refuse] = table.tick()
    assert (refuse.msgid, refuse.kind) == (2, "Timeout")
    assert "waited 5 s for a free host 'maya-1'" == refuse.message
    clock.now += 10
    assert [a.msgid for a in table.tick()] == [3]
    assert table.queued == 0


def test_no_queue_timeout_waits_as_long_as_the_host_lives() -> None:
    table, clock = routing(queue_timeout=None)
    join(table, host("maya-1"))
    request(table, "c", "maya-1/slow", 1)
    request(table, "c", "maya-1/one", 2)
    clock.now += 10_000
    assert table.tick() == [] and table.queued == 1


def test_an_unreachable_host_fails_the_call_and_frees_the_host() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    forward = request(table, "c", "maya-1/slow", 1)[0]
    [refuse] = table.unreachable("maya-1", forward.msgid, "no route")
    assert refuse.kind == "HostLost" and "cannot reach host maya-1: no route" == refuse.message
    assert not table.busy
    assert isinstance(request(table, "c", "maya-1/one", 2)[0], Forward)


def test_out_of_band_frames_pass_untouched() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    frames = CODEC.encode_request(4, "maya-1/put", [b"x" * 70_000])
    [forward] = table.request("c", read_head(frames[0]), frames)
    assert forward.frames[1] is frames[1]


@pytest.mark.parametrize("kind", ["lost", "back", "remove"])
def test_events_for_unknown_hosts_do_nothing(kind: str) -> None:
    table, _ = routing()
    arguments = ("nobody",) if kind == "back" else ("nobody", "why")
    assert getattr(table, kind)(*arguments) == []


# -- the connection to a host, and silent hosts ----------------------------------------------


def test_calls_wait_for_the_connection_to_a_new_host() -> None:
    table, _ = routing()
    assert table.add(host("maya-1")) == []
    assert request(table, "a", "maya-1/add", 1) == []  # by id: waits
    assert request(table, "b", "maya/add", 2) == []  # by name: waits
    assert request(table, "c", "maya-1/rpc.ping", 3) == []
    forwards = table.linked("maya-1", True)
    # rpc.* at once, then the oldest service call; the other waits for its reply.
    assert [sent(f)[2] for f in forwards] == ["rpc.ping", "add"]
    assert table.queued == 1


def test_a_silent_host_is_not_chosen_by_name_but_still_served_by_id() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    join(table, host("maya-2"))
    assert table.silent("maya-1") == []
    for msgid in range(1, 4):
        [forward] = request(table, "a", "maya/add", msgid)
        assert sent(forward)[0] == "maya-2"
        answer(table, forward, msgid)
    [forward] = request(table, "a", "maya-1/add", 9)  # by id: it is alive, it gets it
    assert sent(forward)[0] == "maya-1"


def test_calls_by_name_wait_while_every_host_is_silent_and_go_when_one_speaks() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    table.silent("maya-1")
    assert request(table, "a", "maya/add", 1) == [] and table.queued == 1
    [forward] = table.back("maya-1")
    assert sent(forward)[0] == "maya-1" and table.queued == 0


def test_a_silent_host_with_calls_in_flight_keeps_them() -> None:
    table, _ = routing()
    join(table, host("maya-1"))
    [forward] = request(table, "a", "maya-1/hold", 1)
    assert table.silent("maya-1") == []  # no HostLost: the call holds its GIL, it will return
    [deliver] = answer(table, forward, "done")
    assert isinstance(deliver, Deliver) and deliver.client == "a"


# -- a window of calls in flight per host, least loaded by name ----------------------------


def test_up_to_window_calls_go_to_a_host_and_the_rest_wait_for_replies_in_order() -> None:
    table, _ = routing(window=3)
    join(table, host("maya-1"))
    first = [request(table, "c", "maya-1/work", n) for n in range(1, 6)]
    forwarded = [actions[0] for actions in first if actions]
    assert [sent(f)[3] for f in forwarded] == [[1], [2], [3]] and table.queued == 2
    assert table.busy
    [deliver, nxt] = answer(table, forwarded[0], "one")
    assert isinstance(deliver, Deliver) and sent(nxt)[3] == [4]
    assert table.queued == 1


def test_by_name_the_least_loaded_host_is_chosen_the_longest_waiting_among_equals() -> None:
    table, _ = routing(window=4)
    join(table, host("maya-1"))
    join(table, host("maya-2"))
    forwards = [request(table, "c", "maya/work", n)[0] for n in range(1, 5)]
    assert [f.host_id for f in forwards] == ["maya-1", "maya-2", "maya-1", "maya-2"]
    request(table, "c", "maya-2/work", 5)  # by id: maya-2 now carries 3, maya-1 2
    assert request(table, "c", "maya/work", 6)[0].host_id == "maya-1"
    for forward in forwards[1::2]:
        answer(table, forward, None)  # maya-2 down to 1, maya-1 at 3
    assert request(table, "c", "maya/work", 7)[0].host_id == "maya-2"


def test_a_lost_host_fails_every_call_in_its_window_and_its_queue() -> None:
    table, _ = routing(window=2)
    join(table, host("maya-1"))
    for n in range(1, 5):
        request(table, "c", "maya-1/work", n)
    refused = table.lost("maya-1", "host maya-1 was lost")
    assert sorted(r.msgid for r in refused) == [1, 2, 3, 4]
    assert {r.kind for r in refused} == {"HostLost"} and table.queued == 0 and not table.busy


def test_a_call_sent_from_the_queue_no_longer_times_out_and_the_next_one_does() -> None:
    table, clock = routing(window=1, queue_timeout=5)
    join(table, host("maya-1"))
    running = request(table, "c", "maya-1/work", 1)[0]
    request(table, "c", "maya-1/work", 2)  # queued at t=0
    clock.now += 4
    [_, second] = answer(table, running, None)  # call 2 leaves the queue for the host
    assert sent(second)[3] == [2]
    request(table, "c", "maya-1/work", 3)  # queued at t=4
    clock.now += 1.5
    assert table.tick() == []  # call 2 arrived 5.5 s ago, but it is running
    clock.now += 4
    [timeout] = table.tick()
    assert (timeout.kind, timeout.msgid) == ("Timeout", 3) and table.queued == 0
