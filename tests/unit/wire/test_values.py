"""What a body may carry: the default hook, nesting packed past msgpack's own
limit, and finding the value to blame."""

from __future__ import annotations

import collections
import datetime
import decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.wire.values import (
    MAX_DEPTH,
    default_hook,
    describe_path,
    extra_packer_levels,
    find_bad_key,
    find_big_int,
    pack_nested,
)


def nested(depth: int, innermost: Any = None) -> Any:
    """``depth`` lists, one inside the other, around ``innermost``."""
    value = innermost
    for _ in range(depth):
        value = [value]
    return value


def packb(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, default=default_hook)  # type: ignore[no-any-return]


# -- the default hook --------------------------------------------------------------------


def test_dates_and_times_become_their_iso_8601_text() -> None:
    aware = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    assert default_hook(aware) == "2024-05-01T12:30:00+00:00"
    assert default_hook(datetime.datetime(2024, 5, 1, 12, 30, 0, 5)) == "2024-05-01T12:30:00.000005"
    assert default_hook(datetime.date(2024, 5, 1)) == "2024-05-01"
    assert default_hook(datetime.time(7, 5)) == "07:05:00"
    assert sorted(default_hook({3, 1})) == [1, 3] and default_hook(frozenset()) == []


def test_anything_else_is_a_type_error_naming_the_type_and_what_to_send() -> None:
    with pytest.raises(TypeError) as info:
        default_hook(decimal.Decimal("1.5"))
    assert str(info.value) == (
        "cannot send decimal.Decimal: send str, int, float, bool, None, bytes,"
        " a list or a dict, or convert it first"
    )
    with pytest.raises(TypeError, match="^cannot send object:"):
        default_hook(object())
    with pytest.raises(OverflowError, match="int 18446744073709551616 is out of the 64-bit"):
        default_hook(2**64)  # msgpack asks its hook about an int it cannot pack


# -- packing past msgpack's own limit ----------------------------------------------------

keys = st.text(max_size=3) | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=3)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=5)
    | st.dates()
    | st.datetimes()
    | st.sets(st.integers(0, 3), max_size=2)
    | st.builds(bytearray, st.binary(max_size=3))
    | st.builds(lambda data: msgpack.ExtType(1, data), st.binary(max_size=4))
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=3)
        | st.dictionaries(keys, children, max_size=2).map(collections.OrderedDict)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=values)
def test_pack_nested_packs_what_msgpack_packs_byte_for_byte(value: Any) -> None:
    assert pack_nested(value, default_hook) == packb(value)


def depth_of(value: Any) -> int:
    """How many arrays and maps deep ``value`` nests (along its first items)."""
    depth = 0
    while isinstance(value, (list, dict)):
        depth += 1
        value = next(iter(value.values() if isinstance(value, dict) else value), None)
    return depth


def test_pack_nested_counts_arrays_and_maps_not_scalars() -> None:
    # As msgpack's C decoder: MAX_DEPTH containers, whatever is innermost.
    for value in (nested(MAX_DEPTH), nested(MAX_DEPTH - 1, []), nested(MAX_DEPTH - 1, {})):
        assert depth_of(msgpack.unpackb(pack_nested(value, default_hook))) == MAX_DEPTH
    for value in (nested(MAX_DEPTH + 1), nested(MAX_DEPTH, []), nested(MAX_DEPTH, {})):
        with pytest.raises(ValueError, match=f"deeper than {MAX_DEPTH}"):
            pack_nested(value, default_hook)
    assert pack_nested({"a": [{"b": 1}]}, default_hook, limit=3) == packb({"a": [{"b": 1}]})
    with pytest.raises(ValueError, match="deeper than 3"):
        pack_nested({"a": [{"b": [1]}]}, default_hook, limit=3)  # maps count as arrays do
    with pytest.raises(ValueError, match="deeper"):
        pack_nested(nested(100_000), default_hook)  # iterative: no RecursionError
    looped: list = []
    looped.append(looped)
    with pytest.raises(ValueError, match="deeper"):
        pack_nested(looped, default_hook)


def test_pack_nested_raises_what_msgpack_raises() -> None:
    with pytest.raises(TypeError, match=r"decimal\.Decimal"):
        pack_nested([[decimal.Decimal(1)]], default_hook)
    with pytest.raises(OverflowError):
        pack_nested([{"k": 2**64}], default_hook)
    with pytest.raises(TypeError, match="can not serialize 'object'"):
        pack_nested([object()], lambda obj: obj)  # a hook that returns what it got


def test_the_wrap_makes_msgpack_refuse_what_is_deeper_than_the_limit() -> None:
    extra = extra_packer_levels()
    assert 0 <= extra < 16  # else msgpack's limit changed: look again
    with pytest.raises((ValueError, RecursionError)):
        packb(nested(extra, nested(MAX_DEPTH, [])))  # one container too many
    if extra:  # msgpack 1.2 and later: up to the limit, msgpack packs it itself
        assert packb(nested(extra, nested(MAX_DEPTH - 1, [])))


# -- finding what to blame ---------------------------------------------------------------


def test_find_big_int_gives_the_first_and_its_path() -> None:
    assert find_big_int([1, {"a": [2**64 - 1, -(2**63)]}]) is None
    assert find_big_int([1, {"a": [0, 2**64]}, -(2**70)]) == ((1, "a", 1), 2**64)
    path, number = find_big_int([{2**64: 1}])  # type: ignore[misc]
    assert number == 2**64 and describe_path("args", path) == "a key of args[0]"
    looped: list = [1]
    looped.append(looped)
    assert find_big_int(looped) is None  # bounded: a value may contain itself


def test_find_bad_key_allows_str_int_and_bytes_only() -> None:
    assert find_bad_key([0, 1, "m", [{1001: "a", b"k": {"x": {-1: None}}}]]) is None
    path, key = find_bad_key([0, 1, "m", [{"ok": [{1: 1, 2.5: 2}]}]])  # type: ignore[misc]
    assert key == 2.5 and describe_path("message", path) == "a key of message[3][0]['ok'][0]"
    assert find_bad_key([{True: 1}])[1] is True  # type: ignore[index]  # a bool is not an int here
    assert find_bad_key([{None: 1}])[1] is None  # type: ignore[index]
