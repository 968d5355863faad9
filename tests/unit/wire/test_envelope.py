"""Envelopes in memory: splitting frames, finding the body, salvaging msgids, heads."""

from __future__ import annotations

import msgpack
import pytest

from broker.errors import ProtocolError
from broker.wire.codec import Codec
from broker.wire.envelope import (
    body_of,
    is_notification,
    read_head,
    rewrite_head,
    salvage_msgid,
    split_envelope,
)
from broker.wire.messages import REQUEST, RESPONSE


def one(message: object) -> list:
    return [msgpack.packb(message)]


def test_salvage_msgid_reads_the_second_item_of_any_array() -> None:
    assert salvage_msgid(one([9, 42, "wrong", "shape", 1, 2])) == 42
    assert salvage_msgid(one(["x", 17])) == 17
    assert salvage_msgid([msgpack.packb([0, 1, "m", [], {1: 2}], strict_types=True)]) == 1


@pytest.mark.parametrize(
    "message",
    [
        [b"\xc1\xc1garbage"],
        [b""],
        [],
        one({"a": 1}),
        one([0]),
        one([0, -5]),
        one([0, 2**32]),
        one([0, True]),
    ],
)
def test_salvage_msgid_is_zero_when_none_can_be_read(message: list) -> None:
    assert salvage_msgid(message) == 0


def test_the_body_comes_first_out_of_band_frames_after() -> None:
    frames = Codec().encode_request(9, "echo", [b"x" * 70_000])
    assert len(frames) == 2
    assert body_of(frames) is frames[0]
    assert body_of([]) is None
    assert salvage_msgid(frames) == 9


@pytest.mark.parametrize(
    ("frames", "envelope", "message"),
    [
        ([b"id", b"", b"body"], [b"id", b""], [b"body"]),  # REQ
        ([b"id", b"\0\0\0\1", b"", b"body", b"oob"], [b"id", b"\0\0\0\1", b""], [b"body", b"oob"]),
        ([b"id", b"body"], [b"id"], [b"body"]),  # a DEALER with no delimiter
        ([b"id"], [b"id"], []),
    ],
)
def test_split_envelope(frames: list, envelope: list, message: list) -> None:
    assert split_envelope(frames) == (envelope, message)


def test_read_and_rewrite_a_request_head_keep_the_rest_byte_for_byte() -> None:
    body = Codec().encode_request(3, "maya/add", [5, 10], {"k": "v"})[0]
    head = read_head(body)
    assert (head.kind, head.msgid, head.method, head.length) == (REQUEST, 3, "maya/add", 5)
    rewritten = rewrite_head(body, head, 99, "add")
    assert msgpack.unpackb(rewritten) == [REQUEST, 99, "add", [5, 10], {"k": "v"}]
    assert rewritten.endswith(body[head.offset :])


def test_read_and_rewrite_a_response_head() -> None:
    body = Codec().encode_response(8, {"x": [1, 2]})[0]
    head = read_head(body)
    assert (head.kind, head.msgid, head.method) == (RESPONSE, 8, None)
    assert msgpack.unpackb(rewrite_head(body, head, 1)) == [RESPONSE, 1, None, {"x": [1, 2]}]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        msgpack.packb([0, 1]),
        msgpack.packb([2, 1, "m", []]),
        msgpack.packb([0, -1, "m", []]),
        msgpack.packb([0, 1, 7, []]),
        msgpack.packb([1, 1, None, 2, 3]),
        msgpack.packb({"a": 1}),
    ],
)
def test_read_head_refuses_what_is_not_a_message(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_head(body)


@pytest.mark.parametrize(
    "body, expected",
    [
        ([2, "log", ["started"]], True),
        ([2, "log", []], True),
        ([0, 2, "log", []], False),  # a request with msgid 2
        ([1, 2, None, True], False),
        ([2, "log"], False),
        ([2.0, "log", []], False),  # a float is not the kind 2
        ("not an array", False),
    ],
)
def test_a_notification_is_recognised_by_its_kind_and_length(body, expected):
    assert is_notification([msgpack.packb(body)]) is expected
    assert is_notification([]) is False
    assert is_notification([b"\xc1"]) is False  # not msgpack
