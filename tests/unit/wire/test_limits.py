"""Limits on decoded data: lengths, depth, declared sizes; what a server answers."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, List

import msgpack
import msgpack.fallback
import pytest
import zmq

import broker
import host_adapter
from broker.errors import ProtocolError
from broker.wire.codec import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_STR,
    MAX_DEPTH,
    Codec,
)
from broker.wire.envelope import salvage_msgid
from broker.wire.messages import Request
from tests.conftest import ipc_endpoint

HEAD = b"\x94\x00\x07\xa1m"  # [0, 7, "m", <args>: the next value]


def request_body(args: bytes) -> List[bytes]:
    """A request whose args are the raw msgpack ``args``."""
    return [HEAD + args]


def nested(depth: int) -> bytes:
    """``depth`` arrays, one inside the other, around a nil."""
    return b"\x91" * depth + b"\xc0"


# -- defaults ------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    codec = Codec()
    assert (codec.max_items, codec.max_str, codec.max_bin) == (16 * 2**20, 64 * 2**20, None)
    assert (DEFAULT_MAX_ITEMS, DEFAULT_MAX_STR, MAX_DEPTH) == (16 * 2**20, 64 * 2**20, 1024)
    with pytest.raises(AttributeError):
        codec.max_items = 1  # type: ignore[misc]  # fixed at construction


# -- depth ---------------------------------------------------------------------------


def test_depth_limit_is_msgpacks_stack_of_1024_containers() -> None:
    # The message's own array counts: args may nest MAX_DEPTH - 1 deep.
    decoded = Codec().decode(request_body(nested(MAX_DEPTH - 1)))
    assert isinstance(decoded, Request) and decoded.msgid == 7
    depth, value = 1, decoded.args
    for _ in range(MAX_DEPTH):
        if not isinstance(value, list):
            break
        depth, value = depth + 1, value[0]
    assert depth == MAX_DEPTH
    with pytest.raises(ProtocolError, match=f"deeper than {MAX_DEPTH}"):
        Codec().decode(request_body(nested(MAX_DEPTH)))
    maps = b"\x81\xa1k" * MAX_DEPTH + b"\xc0"  # maps count the same as arrays
    with pytest.raises(ProtocolError, match="deeper"):
        Codec().decode(request_body(maps))
    with pytest.raises(ProtocolError, match="deeper"):
        Codec().decode(request_body(nested(100_000)))


def test_the_encoder_stops_at_the_same_depth() -> None:
    value: Any = None
    for _ in range(MAX_DEPTH - 2):
        value = [value]
    frames = Codec().encode_request(1, "m", [value])  # message + args + value: MAX_DEPTH
    assert Codec().decode(frames).msgid == 1
    with pytest.raises(TypeError, match=f"cannot encode request for m: .* deeper than {MAX_DEPTH}"):
        Codec().encode_request(1, "m", [[value]])
    # Containers count, not values: an empty innermost array is no deeper
    # (msgpack 1.2's encoder alone would pack one more of those).
    empty: Any = []
    for _ in range(MAX_DEPTH - 2):
        empty = [empty]
    assert Codec().decode(Codec().encode_response(1, empty)).msgid == 1
    with pytest.raises(TypeError, match=f"deeper than {MAX_DEPTH}"):
        Codec().encode_response(1, [empty])


class Msgpack11Packer:
    """msgpack 1.1's encoder (the newest on Python 3.9), here: it refuses a
    value 512 levels deep, a scalar counted."""

    def __init__(self, **options: Any) -> None:
        self._packer = REAL_PACKER(**options)

    def pack(self, value: Any) -> bytes:
        levels, level = 0, [value]
        while level:
            levels += 1
            level = [
                child
                for item in level
                if isinstance(item, (list, tuple, dict)) and not isinstance(item, msgpack.ExtType)
                for child in (item.values() if isinstance(item, dict) else item)
            ]
        if levels > 511:
            raise ValueError("recursion limit exceeded.")
        return self._packer.pack(value)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._packer, name)


REAL_PACKER = msgpack.Packer


@pytest.mark.parametrize("packer", ["msgpack 1.1", "pure Python"])
def test_the_depth_limit_is_the_codecs_whatever_msgpack_is_installed(monkeypatch, packer) -> None:
    if packer == "msgpack 1.1":
        monkeypatch.setattr(msgpack, "Packer", Msgpack11Packer)
        monkeypatch.setattr(msgpack, "packb", lambda value, **kw: Msgpack11Packer(**kw).pack(value))
    else:  # its recursion meets Python's limit first
        monkeypatch.setattr(msgpack, "Packer", msgpack.fallback.Packer)
        monkeypatch.setattr(
            msgpack, "packb", lambda value, **kw: msgpack.fallback.Packer(**kw).pack(value)
        )
    test_the_encoder_stops_at_the_same_depth()
    codec = Codec()
    deep = {"frames": [{1001: value} for value in ([None], [[None]])]}
    assert (
        codec.decode(codec.encode_response(1, deep)).result == deep
    )  # the common case still packs


# -- lengths -------------------------------------------------------------------------


def test_max_items_bounds_arrays_and_maps() -> None:
    codec = Codec(max_items=10)
    assert codec.decode(Codec().encode_request(1, "m", [[None] * 10])).args == [[None] * 10]
    with pytest.raises(ProtocolError, match="max_array_len"):
        codec.decode(Codec().encode_request(1, "m", [[None] * 11]))
    eleven = {f"k{i}": i for i in range(11)}
    with pytest.raises(ProtocolError, match="max_map_len"):
        codec.decode(Codec().encode_request(1, "m", [eleven]))
    with pytest.raises(ProtocolError, match="max_map_len"):
        codec.decode(Codec().encode_request(1, "m", [], eleven))  # kwargs too


def test_max_str_bounds_every_str_method_names_included() -> None:
    codec = Codec(max_str=100)
    assert codec.decode(Codec().encode_request(1, "m", ["é" * 50])).args == ["é" * 50]
    with pytest.raises(ProtocolError, match="max_str_len"):
        codec.decode(Codec().encode_request(1, "m", ["x" * 101]))
    with pytest.raises(ProtocolError, match="max_str_len"):
        codec.decode(Codec().encode_request(1, "m" * 101))
    with pytest.raises(ProtocolError, match="max_str_len"):
        codec.decode(Codec().encode_response(1, "é" * 51))  # counted in bytes of UTF-8


def test_max_bin_bounds_bytes_in_the_body_not_out_of_band_frames() -> None:
    codec = Codec(max_bin=100, oob_threshold=1000)
    assert codec.decode(Codec().encode_request(1, "m", [b"x" * 100])).args == [b"x" * 100]
    with pytest.raises(ProtocolError, match="max_bin_len"):
        codec.decode(Codec().encode_request(1, "m", [[b"x" * 101]]))
    frames = Codec(oob_threshold=1000).encode_request(1, "m", [b"y" * 5000])
    assert len(frames) == 2  # an out-of-band frame: only max_message_size counts
    assert bytes(codec.decode(frames).args[0]) == b"y" * 5000
    assert Codec().max_bin is None
    big = Codec(oob_threshold=None).encode_request(1, "m", [b"z" * 200_000])
    assert Codec().decode(big).args == [b"z" * 200_000]  # None: as long as the message


@pytest.mark.parametrize(
    "prefix",
    [b"\xdb", b"\xdd", b"\xdf", b"\xc6", b"\xc9"],
    ids=["str32", "array32", "map32", "bin32", "ext32"],
)
@pytest.mark.parametrize("limit", [10, 2**32], ids=["small-limits", "huge-limits"])
def test_huge_declared_lengths_are_refused_before_any_allocation(prefix, limit) -> None:
    codec = Codec(max_items=limit, max_str=limit, max_bin=limit)
    body = request_body(prefix + b"\xff\xff\xff\xff" + b"\x00" * 32)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(ProtocolError):
            codec.decode(body)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A declared 4 GiB value costs no more than its 42 bytes (plus the exception).
    assert peak < 256 * 1024, peak
    assert took < 0.5, took


def test_short_bodies_cannot_break_a_limit_and_long_ones_are_checked() -> None:
    # Bodies up to the smallest limit skip the checks: an item takes a byte.
    codec = Codec(max_items=8, max_str=1000)
    short = Codec().encode_request(1, "m", [1, 2])
    assert len(short[0]) <= 8 and codec.decode(short).args == [1, 2]
    with pytest.raises(ProtocolError, match="max_array_len"):
        codec.decode(Codec().encode_request(1, "m", list(range(9))))


# -- salvaging the msgid for the error reply -----------------------------------------


def test_salvage_reads_only_the_head() -> None:
    assert salvage_msgid([HEAD + nested(5000)]) == 7  # too deep after the msgid
    assert salvage_msgid([HEAD + b"\xc1\xc1"]) == 7  # garbage after the msgid
    assert salvage_msgid([b"\x94\x00\xce\xff\xff\xff\xff"]) == 2**32 - 1
    assert salvage_msgid([nested(5000)]) == 0
    assert salvage_msgid([b"\x94" + nested(5000)]) == 0  # the kind itself too deep


# -- a server answers and keeps serving -------------------------------------------------


@pytest.fixture
def strict_host(tmp_path):
    """A host in this process whose codec has small limits; yields its endpoint."""
    codec = Codec(max_items=100, max_str=1000, max_bin=1000)
    with host_adapter.serve(
        {"echo": lambda value=None: value},
        name="strict",
        ui=ipc_endpoint(tmp_path),
        dispatcher=host_adapter.immediate,
        codec=codec,
    ) as host:
        yield host.endpoint


@pytest.mark.parametrize(
    "value",
    [["x"] * 101, "x" * 1001, [b"x" * 1001], {"k": [None] * 101}],
    ids=["items", "str", "bin", "nested-items"],
)
def test_server_answers_a_limit_violation_at_once_then_serves(strict_host, value) -> None:
    with broker.connect(strict_host, timeout=5) as proxy:
        started = time.monotonic()
        with pytest.raises(broker.ProtocolError, match="over this codec's limits"):
            proxy.echo(value)
        # The msgid was salvaged, so the proxy matched the reply: no timeout.
        assert time.monotonic() - started < 1
        assert proxy.echo("x" * 1000) == "x" * 1000


def test_server_answers_a_too_deep_request_with_its_msgid(strict_host) -> None:
    codec = Codec()
    context = zmq.Context()
    sock = context.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(strict_host)
    try:
        sock.send_multipart(request_body(nested(MAX_DEPTH)))
        reply = codec.decode(sock.recv_multipart())
    finally:
        sock.close()
        context.term()
    assert reply.msgid == 7
    assert reply.error["type"] == "ProtocolError" and "deeper" in reply.error["message"]
    with broker.connect(strict_host, timeout=5) as proxy:
        assert proxy.echo([1, [2, [3]]]) == [1, [2, [3]]]


def test_raw_msgpack_limit_messages_are_named_in_the_error() -> None:
    # Documented: the error names msgpack's limit, so a user knows which to raise.
    with pytest.raises(ProtocolError) as info:
        Codec(max_str=4).decode([msgpack.packb([0, 1, "method", []])])
    assert "exceeds max_str_len(4)" in str(info.value)
