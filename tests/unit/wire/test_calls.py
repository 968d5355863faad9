"""The call table in memory: msgids, replies, refusals, timeouts, wrap-around."""

from __future__ import annotations

import pytest

from broker.errors import (
    CallTimeout,
    HostLost,
    MethodNotFound,
    ProtocolError,
    RemoteError,
    Unauthorized,
)
from broker.wire.calls import CallTable
from broker.wire.messages import MSGID_LIMIT, Response, error_map

ENDPOINT = "ipc:///tmp/host.sock"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def table(**options):
    clock = Clock()
    return CallTable(ENDPOINT, clock=clock, **options), clock


def test_a_reply_settles_its_call_with_the_result() -> None:
    calls, _ = table()
    call = calls.open("add", timeout=5)
    assert (call.msgid, call.done, len(calls)) == (1, False, 1)
    assert calls.settle(Response(call.msgid, None, 15)) is call
    assert (call.done, call.result(), call.exception(), len(calls)) == (True, 15, None, 0)


def test_a_remote_error_becomes_its_class_naming_method_and_endpoint() -> None:
    calls, _ = table()
    call = calls.open("nope")
    calls.settle(Response(call.msgid, error_map("MethodNotFound", "no method named 'nope'"), None))
    error = call.exception()
    assert isinstance(error, MethodNotFound)
    assert (error.method, error.endpoint) == ("nope", ENDPOINT)
    with pytest.raises(MethodNotFound):
        call.result()


def test_a_call_not_done_has_no_result_yet() -> None:
    calls, _ = table()
    call = calls.open("slow")
    with pytest.raises(RuntimeError, match="not done"):
        call.result()
    assert call.exception() is None


def test_replies_find_their_calls_in_any_order() -> None:
    calls, _ = table()
    first, second, third = (calls.open(f"m{n}") for n in range(3))
    assert [call.msgid for call in (first, second, third)] == [1, 2, 3]
    calls.settle(Response(3, None, "c"))
    calls.settle(Response(1, None, "a"))
    assert [call.msgid for call in calls] == [2]
    calls.settle(Response(2, None, "b"))
    assert [first.result(), second.result(), third.result()] == ["a", "b", "c"]


def test_a_late_or_unknown_reply_finds_nobody() -> None:
    calls, clock = table()
    call = calls.open("slow", timeout=1)
    clock.now += 2
    assert calls.expire() == [call]
    assert calls.settle(Response(call.msgid, None, "late")) is None
    assert isinstance(call.exception(), CallTimeout)
    assert calls.settle(Response(12345, None, "stray")) is None


def test_timeouts_name_method_endpoint_and_seconds_and_leave_the_others() -> None:
    calls, clock = table()
    quick = calls.open("quick", timeout=1)
    slow = calls.open("slow", timeout=10)
    forever = calls.open("forever", timeout=None)
    assert calls.next_deadline() == 101.0
    clock.now += 1
    assert calls.expire() == [quick]
    assert str(quick.exception()) == f"quick at {ENDPOINT}: no reply within 1 s"
    assert [call.method for call in calls] == ["slow", "forever"]
    assert calls.next_deadline() == 110.0
    clock.now += 100
    assert calls.expire() == [slow]
    assert calls.next_deadline() is None
    assert not forever.done


def test_deadlines_of_ended_calls_are_skipped() -> None:
    calls, clock = table()
    first = calls.open("first", timeout=1)
    calls.open("second", timeout=2)
    calls.settle(Response(first.msgid, None, 1))
    assert calls.next_deadline() == 102.0
    clock.now += 5
    assert [call.method for call in calls.expire()] == ["second"]


def test_wait_for_is_the_time_to_the_next_deadline_capped() -> None:
    calls, clock = table()
    assert calls.wait_for() is None
    assert calls.wait_for(0.05) == 0.05
    calls.open("m", timeout=1)
    assert calls.wait_for() == 1.0
    assert calls.wait_for(0.05) == 0.05
    clock.now += 3
    assert calls.wait_for() == 0.0


def test_a_refused_reply_is_blamed_on_the_call_it_names() -> None:
    calls, _ = table()
    first, second = calls.open("first"), calls.open("second")
    assert calls.blame(second.msgid, Unauthorized("bad signature")) is second
    error = second.exception()
    assert isinstance(error, Unauthorized)
    assert str(error) == f"reply to second from {ENDPOINT}: bad signature"
    assert not first.done


def test_an_unreadable_msgid_is_blamed_only_on_a_sole_call() -> None:
    calls, _ = table()
    call = calls.open("only")
    assert calls.blame(0, ProtocolError("garbage")) is None  # many may be in flight
    assert calls.blame(0, ProtocolError("garbage"), sole=True) is call
    assert isinstance(call.exception(), ProtocolError)
    calls.open("a"), calls.open("b")
    assert calls.blame(0, ProtocolError("garbage"), sole=True) is None


def test_fail_one_and_fail_all() -> None:
    calls, _ = table()
    one, two, three = calls.open("one"), calls.open("two"), calls.open("three")
    lost = HostLost("host maya-1 was lost")
    calls.fail(two, lost)
    assert two.exception() is lost and len(calls) == 2
    assert calls.fail_all(lost) == [one, three]
    assert len(calls) == 0 and calls.next_deadline() is None
    assert all(call.exception() is lost for call in (one, two, three))


def test_a_discarded_call_is_forgotten() -> None:
    calls, _ = table()
    call = calls.open("never sent", timeout=1)
    calls.discard(call)
    assert len(calls) == 0
    assert calls.settle(Response(call.msgid, None, 1)) is None
    assert not call.done
    calls.discard(call)  # twice is fine


def test_msgids_wrap_skipping_zero_and_the_ones_in_flight() -> None:
    calls, _ = table(first_msgid=MSGID_LIMIT - 2)
    stuck = calls.open("stuck")  # stays in flight across the wrap
    assert stuck.msgid == MSGID_LIMIT - 2
    ids = []
    for _ in range(4):
        call = calls.open("m")
        ids.append(call.msgid)
        calls.settle(Response(call.msgid, None, None))
    assert ids == [MSGID_LIMIT - 1, 1, 2, 3]
    assert stuck.msgid not in ids[1:]  # still in flight: skipped after the wrap


def test_a_msgid_in_flight_is_never_handed_out_twice() -> None:
    calls, _ = table(first_msgid=5)
    held = calls.open("held")
    other = calls.open("other")
    assert (held.msgid, other.msgid) == (5, 6)
    calls._next = 5  # as if 2**32 - 1 more calls had been made since
    assert calls.open("next").msgid == 7


@pytest.mark.parametrize("first", [0, MSGID_LIMIT])
def test_first_msgid_must_be_a_usable_msgid(first: int) -> None:
    with pytest.raises(ValueError):
        CallTable(ENDPOINT, first_msgid=first)


def test_a_generic_remote_error_is_a_remote_error() -> None:
    calls, _ = table()
    call = calls.open("boom")
    calls.settle(Response(call.msgid, error_map("Exception", "boom", "builtins.ValueError"), None))
    assert type(call.exception()) is RemoteError


def test_open_request_encodes_with_the_calls_msgid_and_opens_nothing_on_failure() -> None:
    from broker.errors import MessageTooLarge
    from broker.wire.codec import Codec

    calls, _ = table()
    call, frames = calls.open_request(Codec(), "add", [5, 10], timeout=1)
    assert Codec().decode(frames).msgid == call.msgid and len(calls) == 1
    with pytest.raises(TypeError):
        calls.open_request(Codec(), "add", [object()])
    with pytest.raises(MessageTooLarge):
        calls.open_request(Codec(max_message_size=10), "add", ["x" * 100])
    assert len(calls) == 1
