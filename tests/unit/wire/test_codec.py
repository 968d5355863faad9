"""The wire protocol in memory: encoding, decoding, validation, limits, signing."""

from __future__ import annotations

import struct
from typing import Any, Dict, List

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.errors import MessageTooLarge, ProtocolError, Unauthorized
from broker.wire.codec import (
    ERROR_TYPES,
    REQUEST,
    RESPONSE,
    Codec,
    Request,
    Response,
    Signer,
    default_hook,
    error_map,
    exception_error_map,
    salvage_msgid,
)

KEY = b"k" * 32


def body_of(frames: List[Any]) -> Any:
    return msgpack.unpackb(frames[0], raw=False)


def packed(message: Any) -> List[bytes]:
    return [msgpack.packb(message, use_bin_type=True)]


def oob_ref(index: int) -> msgpack.ExtType:
    return msgpack.ExtType(1, struct.pack(">I", index))


# -- requests and responses ---------------------------------------------------


def test_request_without_kwargs_is_a_four_item_array() -> None:
    frames = Codec().encode_request(7, "add", [5, 10])
    assert len(frames) == 1
    assert body_of(frames) == [0, 7, "add", [5, 10]]
    assert Codec().decode(frames) == Request(7, "add", [5, 10], {})


def test_request_with_kwargs_is_a_five_item_array() -> None:
    frames = Codec().encode_request(8, "scale", [2], {"factor": 1.5, "name": "x"})
    message = body_of(frames)
    assert len(message) == 5
    assert message == [REQUEST, 8, "scale", [2], {"factor": 1.5, "name": "x"}]
    decoded = Codec().decode(frames)
    assert isinstance(decoded, Request)
    assert decoded == Request(8, "scale", [2], {"factor": 1.5, "name": "x"})


def test_request_with_empty_kwargs_is_four_items() -> None:
    frames = Codec().encode_request(9, "noop", [], {})
    assert body_of(frames) == [0, 9, "noop", []]
    assert Codec().decode(frames) == Request(9, "noop", [], {})


def test_response_with_result() -> None:
    frames = Codec().encode_response(11, {"ok": [1, 2]})
    assert body_of(frames) == [RESPONSE, 11, None, {"ok": [1, 2]}]
    decoded = Codec().decode(frames)
    assert isinstance(decoded, Response)
    assert decoded == Response(11, None, {"ok": [1, 2]})


def test_response_with_error_map() -> None:
    error = error_map("MethodNotFound", "no method 'nope'")
    frames = Codec().encode_response(12, error=error)
    assert body_of(frames) == [1, 12, error, None]
    decoded = Codec().decode(frames)
    assert decoded == Response(12, error, None)
    assert decoded.error == {
        "type": "MethodNotFound",
        "message": "no method 'nope'",
        "exception": None,
        "traceback": None,
    }


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        b"\x00\xffbinary",
        "unicodé ✓ 日本語",
        2**63,
        -(2**63),
        2**64 - 1,
        1.25,
        {"a": [1, {"b": [None, b"x", "y"]}], "c": {}},
        [[[[]]]],
    ],
)
def test_values_round_trip(value: Any) -> None:
    codec = Codec()
    request = codec.decode(codec.encode_request(1, "m", [value], {"k": value}))
    assert request == Request(1, "m", [value], {"k": value})
    response = codec.decode(codec.encode_response(2, value))
    assert response == Response(2, None, value)
    assert type(response.result) is type(value)


def test_tuples_arrive_as_lists() -> None:
    codec = Codec()
    request = codec.decode(codec.encode_request(1, "m", (1, (2, 3)), {"t": (4,)}))
    assert request.args == [1, [2, 3]]
    assert type(request.args) is list
    assert request.kwargs == {"t": [4]}
    assert codec.decode(codec.encode_response(1, (1, 2))).result == [1, 2]


def test_sets_arrive_as_lists_through_the_default_hook() -> None:
    codec = Codec()
    result = codec.decode(codec.encode_response(1, {"s": {3, 1, 2}, "f": frozenset({"a"})})).result
    assert sorted(result["s"]) == [1, 2, 3]
    assert result["f"] == ["a"]
    assert default_hook({1}) == [1]


def test_unencodable_object_raises_type_error_with_clear_message() -> None:
    class Custom:
        pass

    with pytest.raises(TypeError, match=r"cannot encode request for m: .*Custom"):
        Codec().encode_request(1, "m", [Custom()])
    with pytest.raises(TypeError, match=r"cannot encode response"):
        Codec().encode_response(1, object())
    with pytest.raises(TypeError, match="cannot encode"):
        Codec().encode_response(1, 2**64)  # too large for msgpack


def test_custom_default_hook_is_used() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    codec = Codec(default=lambda obj: {"x": obj.x, "y": obj.y})
    assert codec.decode(codec.encode_response(1, Point(1, 2))).result == {"x": 1, "y": 2}


# -- out-of-band frames -------------------------------------------------------


def test_large_top_level_bytes_arg_travels_as_extra_frame() -> None:
    codec = Codec(oob_threshold=100)
    blob = bytes(range(256)) * 2
    frames = codec.encode_request(3, "put", ["name", blob], {"data": b"y" * 100})
    assert len(frames) == 3
    assert frames[1] == blob
    assert frames[2] == b"y" * 100
    assert len(frames[0]) < 100  # the body only holds references
    message = msgpack.unpackb(frames[0], raw=False)
    assert message[3][1] == oob_ref(0)
    assert message[4]["data"] == oob_ref(1)
    decoded = codec.decode(frames)
    assert decoded == Request(3, "put", ["name", blob], {"data": b"y" * 100})


def test_large_bytes_result_travels_as_extra_frame() -> None:
    codec = Codec(oob_threshold=10)
    frames = codec.encode_response(4, bytearray(b"z" * 50))
    assert len(frames) == 2
    assert bytes(frames[1]) == b"z" * 50
    assert bytes(codec.decode(frames).result) == b"z" * 50


def test_bytes_below_threshold_stay_in_body() -> None:
    codec = Codec(oob_threshold=100)
    frames = codec.encode_request(3, "put", [b"x" * 99])
    assert len(frames) == 1
    assert body_of(frames) == [0, 3, "put", [b"x" * 99]]
    assert codec.decode(frames).args == [b"x" * 99]


def test_nested_bytes_stay_in_body() -> None:
    codec = Codec(oob_threshold=10)
    frames = codec.encode_request(3, "put", [[b"x" * 50]])
    assert len(frames) == 1
    assert codec.decode(frames).args == [[b"x" * 50]]


def test_oob_threshold_none_keeps_everything_in_body() -> None:
    codec = Codec(oob_threshold=None)
    blob = b"q" * 200_000
    frames = codec.encode_request(5, "put", [blob], {"b": blob})
    assert len(frames) == 1
    assert codec.decode(frames) == Request(5, "put", [blob], {"b": blob})
    assert len(codec.encode_response(5, blob)) == 1


def test_reference_to_missing_oob_frame_is_a_protocol_error() -> None:
    body = msgpack.packb([0, 1, "m", [oob_ref(3)]], use_bin_type=True)
    with pytest.raises(ProtocolError, match="frame 3"):
        Codec().decode([body, b"only one extra frame"])
    with pytest.raises(ProtocolError, match="ext type"):
        Codec().decode([body])


def test_unknown_ext_type_is_a_protocol_error() -> None:
    body = msgpack.packb([0, 1, "m", [msgpack.ExtType(5, b"\0\0\0\0")]], use_bin_type=True)
    with pytest.raises(ProtocolError, match="ext type 5"):
        Codec().decode([body, b"extra"])
    with pytest.raises(ProtocolError, match="ext type 5"):
        Codec().decode([body])
    wrong_size = msgpack.packb([0, 1, "m", [msgpack.ExtType(1, b"\0")]], use_bin_type=True)
    with pytest.raises(ProtocolError):
        Codec().decode([wrong_size, b"extra"])


# -- size limits --------------------------------------------------------------


def test_message_too_large_on_encode() -> None:
    codec = Codec(max_message_size=100, oob_threshold=None)
    with pytest.raises(MessageTooLarge, match="over the limit of 100"):
        codec.encode_request(1, "m", [b"x" * 200])
    with pytest.raises(MessageTooLarge):
        codec.encode_response(1, "y" * 200)
    assert len(codec.encode_request(1, "m", [b"x" * 10])) == 1


def test_message_too_large_on_encode_counts_oob_frames() -> None:
    codec = Codec(max_message_size=100, oob_threshold=10)
    with pytest.raises(MessageTooLarge):
        codec.encode_request(1, "m", [b"x" * 60, b"y" * 60])
    signed = Codec(max_message_size=100, oob_threshold=10, signer=Signer(KEY))
    with pytest.raises(MessageTooLarge):
        signed.encode_response(1, b"x" * 200)


def test_message_too_large_on_decode() -> None:
    frames = Codec().encode_request(1, "m", [b"x" * 200])
    with pytest.raises(MessageTooLarge, match="over the limit of 100"):
        Codec(max_message_size=100).decode(frames)
    split = Codec(oob_threshold=10).encode_request(1, "m", [b"x" * 60, b"y" * 60])
    assert len(split) == 3
    with pytest.raises(MessageTooLarge):
        Codec(max_message_size=100).decode(split)
    assert Codec(max_message_size=1000).decode(split).args == [b"x" * 60, b"y" * 60]


# -- malformed messages -------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([b"\xc1\xc1garbage"], id="garbage"),
        pytest.param([b"\x94\x00\x01\xa3ad"], id="truncated"),
        pytest.param([b""], id="empty-body"),
        pytest.param([msgpack.packb([0, 1, "m", []]) + b"\x00"], id="extra-data"),
        pytest.param(packed({"kind": 0}), id="map-body"),
        pytest.param(packed("string"), id="str-body"),
        pytest.param(packed(5), id="int-body"),
        pytest.param(packed([0, 1, "m"]), id="three-items"),
        pytest.param(packed([0, 1, "m", [], {}, 6]), id="six-items"),
        pytest.param(packed([2, 1, "m", []]), id="unknown-kind"),
        pytest.param(packed(["0", 1, "m", []]), id="str-kind"),
        pytest.param(packed([1, 1, None, None, {}]), id="five-item-response"),
        pytest.param(packed([0, -1, "m", []]), id="msgid-negative"),
        pytest.param(packed([0, 2**32, "m", []]), id="msgid-too-large"),
        pytest.param(packed([0, True, "m", []]), id="msgid-bool"),
        pytest.param(packed([0, "1", "m", []]), id="msgid-str"),
        pytest.param(packed([0, 1.0, "m", []]), id="msgid-float"),
        pytest.param(packed([0, 1, 5, []]), id="method-int"),
        pytest.param(packed([0, 1, b"m", []]), id="method-bytes"),
        pytest.param(packed([0, 1, "m", {}]), id="args-map"),
        pytest.param(packed([0, 1, "m", "a"]), id="args-str"),
        pytest.param(packed([0, 1, "m", [], [1]]), id="kwargs-array"),
        pytest.param(packed([0, 1, "m", [], {b"k": 1}]), id="kwargs-bytes-keys"),
        pytest.param(
            [msgpack.packb([0, 1, "m", [], {1: 2}], strict_types=True)], id="kwargs-int-keys"
        ),
        pytest.param([b"\x95\x00\x01\xa1m\x90\x81\x01\x02"], id="kwargs-raw-int-key-map"),
        pytest.param([b"\x91" * 5000 + b"\xc0"], id="deeply-nested"),
        pytest.param(packed([1, 1, "oops", None]), id="response-error-str"),
        pytest.param(packed([1, 1, [], None]), id="response-error-array"),
        pytest.param(packed([1, 1, 0, None]), id="response-error-int"),
    ],
)
def test_malformed_messages_raise_protocol_error(frames: List[bytes]) -> None:
    with pytest.raises(ProtocolError):
        Codec().decode(frames)


def test_empty_frame_list_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="empty"):
        Codec().decode([])


def test_upper_msgid_bound_is_accepted() -> None:
    assert Codec().decode(packed([0, 2**32 - 1, "m", []])).msgid == 2**32 - 1
    assert Codec().decode(packed([1, 0, None, None])) == Response(0, None, None)


def test_salvage_msgid() -> None:
    assert salvage_msgid(msgpack.packb([9, 42, "wrong", "shape", 1, 2])) == 42
    assert salvage_msgid(msgpack.packb(["x", 17])) == 17
    assert salvage_msgid(msgpack.packb([0, 1, "m", [], {1: 2}], strict_types=True)) == 1
    assert salvage_msgid(b"\xc1\xc1garbage") == 0
    assert salvage_msgid(b"") == 0
    assert salvage_msgid(msgpack.packb({"a": 1})) == 0
    assert salvage_msgid(msgpack.packb([0])) == 0
    assert salvage_msgid(msgpack.packb([0, -5])) == 0
    assert salvage_msgid(msgpack.packb([0, 2**32])) == 0
    assert salvage_msgid(msgpack.packb([0, True])) == 0


# -- error maps ---------------------------------------------------------------


def test_error_map_fields_and_rejects_unknown_type() -> None:
    assert error_map("Timeout", "slow", "x.Y", "tb") == {
        "type": "Timeout",
        "message": "slow",
        "exception": "x.Y",
        "traceback": "tb",
    }
    for wire_type in ERROR_TYPES:
        assert error_map(wire_type, "m")["type"] == wire_type
    with pytest.raises(ValueError, match="Bogus"):
        error_map("Bogus", "m")


def _inner_raiser() -> None:
    raise ValueError("bad value 42")


def _outer_caller() -> None:
    _inner_raiser()


def _caught() -> BaseException:
    try:
        _outer_caller()
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def test_exception_error_map() -> None:
    exc = _caught()
    error = exception_error_map(exc)
    assert error["type"] == "Exception"
    assert error["exception"] == "builtins.ValueError"
    assert error["message"] == "bad value 42"
    assert isinstance(error["traceback"], str)
    assert "_inner_raiser" in error["traceback"]
    assert "in _caught" in error["traceback"]
    assert "ValueError: bad value 42" in error["traceback"]
    assert exception_error_map(exc, type="InvalidParams")["type"] == "InvalidParams"


def test_exception_error_map_skip_frames() -> None:
    exc = _caught()
    one = exception_error_map(exc, skip_frames=1)["traceback"]
    assert "in _caught" not in one
    assert "in _outer_caller" in one
    assert "in _inner_raiser" in one
    two = exception_error_map(exc, skip_frames=2)["traceback"]
    assert "in _outer_caller" not in two
    assert "in _inner_raiser" in two
    # More frames than exist: the innermost one is always kept.
    many = exception_error_map(exc, skip_frames=50)["traceback"]
    assert "in _inner_raiser" in many
    assert "ValueError: bad value 42" in many


def test_exception_error_map_of_custom_exception_class() -> None:
    class Oops(RuntimeError):
        pass

    error = exception_error_map(Oops("boom"))
    assert error["exception"] == f"{__name__}.{Oops.__qualname__}"
    assert error["exception"].endswith(".<locals>.Oops")
    assert error["message"] == "boom"


# -- signing ------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_signer(clock: Clock, key: bytes = KEY) -> Signer:
    return Signer(key, clock=lambda: clock.now)


def test_sign_verify_round_trip() -> None:
    clock = Clock()
    signer = make_signer(clock)
    frames = [b"body", b"oob"]
    signed = signer.sign(frames)
    assert len(signed) == 4
    assert len(signed[0]) == 32
    header = msgpack.unpackb(signed[1], raw=False)
    assert header["v"] == 1
    assert header["ts"] == clock.now
    assert isinstance(header["nonce"], bytes) and len(header["nonce"]) == 16
    assert signed[2:] == frames
    assert signer.verify(signed) == frames
    # The other side, with the same key, verifies too.
    assert make_signer(clock).verify(signed) == frames


def test_tampered_body_is_unauthorized() -> None:
    clock = Clock()
    signed = make_signer(clock).sign([b"body"])
    with pytest.raises(Unauthorized, match="signature"):
        make_signer(clock).verify([signed[0], signed[1], b"bodY"])


def test_tampered_header_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    mac, header, body = signer.sign([b"body"])
    fields = msgpack.unpackb(header, raw=False)
    fields["ts"] += 1
    forged = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(Unauthorized):
        signer.verify([mac, forged, body])
    flipped = bytes([header[0] ^ 1]) + header[1:]
    with pytest.raises(Unauthorized):
        signer.verify([mac, flipped, body])


def test_tampered_mac_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    mac, header, body = signer.sign([b"body"])
    with pytest.raises(Unauthorized):
        signer.verify([mac[:-1] + bytes([mac[-1] ^ 1]), header, body])
    with pytest.raises(Unauthorized):
        signer.verify([mac[:16], header, body])


def test_wrong_key_is_unauthorized() -> None:
    clock = Clock()
    signed = make_signer(clock, b"a" * 32).sign([b"body"])
    with pytest.raises(Unauthorized, match="key"):
        make_signer(clock, b"b" * 32).verify(signed)


def test_unsigned_message_is_unauthorized() -> None:
    signer = make_signer(Clock())
    with pytest.raises(Unauthorized, match="not signed"):
        signer.verify([b"body"])
    with pytest.raises(Unauthorized, match="not signed"):
        signer.verify([])


@pytest.mark.parametrize("offset", [-61.0, 61.0, -3600.0, 3600.0])
def test_timestamp_outside_window_is_unauthorized(offset: float) -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    clock.now += offset  # verify later (offset > 0: stale) or earlier (offset < 0: future)
    with pytest.raises(Unauthorized, match="timestamp"):
        signer.verify(signed)


@pytest.mark.parametrize("offset", [-59.0, 59.0])
def test_timestamp_inside_window_verifies(offset: float) -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    clock.now += offset
    assert signer.verify(signed) == [b"body"]


def test_replay_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    assert signer.verify(signed) == [b"body"]
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(list(signed))
    clock.now += 30
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(signed)


def test_nonce_memory_is_pruned_after_the_window() -> None:
    clock = Clock()
    signer = make_signer(clock)
    for _ in range(5):
        signer.verify(signer.sign([b"body"]))
    assert len(signer._seen) == 5
    clock.now += 61
    fresh = signer.sign([b"fresh"])
    assert signer.verify(fresh) == [b"fresh"]
    assert len(signer._seen) == 1
    assert len(signer._expiries) == 1
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(fresh)


def test_short_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Signer(b"x" * 15)
    assert isinstance(Signer(b"x" * 16), Signer)


def test_mac_covers_oob_frames() -> None:
    clock = Clock()
    signer = make_signer(clock)
    codec = Codec(oob_threshold=10, signer=signer)
    signed = codec.encode_request(1, "put", [b"x" * 50])
    assert len(signed) == 4  # mac, header, body, oob
    tampered = [*signed[:3], b"y" * 50]
    with pytest.raises(Unauthorized):
        Codec(oob_threshold=10, signer=make_signer(clock)).decode(tampered)
    dropped = signed[:3]
    with pytest.raises(Unauthorized):
        Codec(oob_threshold=10, signer=make_signer(clock)).decode(dropped)
    assert codec.decode(signed).args == [b"x" * 50]


def test_signing_codec_round_trip_and_rejects_unsigned() -> None:
    clock = Clock()
    sender = Codec(signer=make_signer(clock))
    receiver = Codec(signer=make_signer(clock))
    frames = sender.encode_request(21, "add", [1, 2], {"c": 3})
    assert len(frames) == 3
    assert receiver.decode(frames) == Request(21, "add", [1, 2], {"c": 3})
    response = receiver.encode_response(21, 6)
    assert sender.decode(response) == Response(21, None, 6)
    unsigned = Codec().encode_request(22, "add", [1, 2])
    with pytest.raises(Unauthorized):
        receiver.decode(unsigned)


def test_signed_message_with_malformed_header_fields_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)

    def forge(header: Dict[str, Any]) -> List[bytes]:
        packed_header = msgpack.packb(header, use_bin_type=True)
        return [signer._mac(packed_header, [b"body"]), packed_header, b"body"]

    good = {"v": 1, "ts": clock.now, "nonce": b"n" * 16}
    assert signer.verify(forge(good)) == [b"body"]
    for bad in (
        {"v": 2, "ts": clock.now, "nonce": b"m" * 16},
        {"v": 1, "ts": "now", "nonce": b"m" * 16},
        {"v": 1, "ts": True, "nonce": b"m" * 16},
        {"v": 1, "ts": clock.now, "nonce": b"short"},
        {"v": 1, "ts": clock.now, "nonce": "m" * 16},
        {"v": 1, "nonce": b"m" * 16},
        [1, 2, 3],
    ):
        with pytest.raises(Unauthorized):
            signer.verify(forge(bad))  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=values, msgid=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_value_round_trips(value: Any, msgid: int) -> None:
    codec = Codec()
    request = codec.decode(codec.encode_request(msgid, "method", [value], {"key": value}))
    assert request == Request(msgid, "method", [value], {"key": value})
    response = codec.decode(codec.encode_response(msgid, value))
    assert response == Response(msgid, None, value)


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.binary(), max_size=4))
def test_decode_of_arbitrary_bytes_raises_only_protocol_errors(frames: List[bytes]) -> None:
    try:
        decoded = Codec().decode(frames)
    except (ProtocolError, MessageTooLarge):
        return
    assert isinstance(decoded, (Request, Response))


@settings(max_examples=200, deadline=None)
@given(
    message=st.lists(
        st.one_of(
            st.integers(min_value=-2, max_value=2**32 + 1),
            st.text(max_size=4),
            st.none(),
            st.lists(st.integers(min_value=-5, max_value=5), max_size=2),
            st.dictionaries(st.text(max_size=2), st.booleans(), max_size=2),
        ),
        max_size=6,
    )
)
def test_decode_of_array_bodies_raises_only_protocol_errors(message: List[Any]) -> None:
    try:
        decoded = Codec().decode(packed(message))
    except ProtocolError:
        return
    assert isinstance(decoded, (Request, Response))
    assert decoded.msgid == message[1]


def test_non_finite_timestamp_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    header = msgpack.packb({"v": 1, "ts": float("nan"), "nonce": b"n" * 16}, use_bin_type=True)
    with pytest.raises(Unauthorized):
        signer.verify([signer._mac(header, [b"body"]), header, b"body"])


def test_signature_header_is_the_msgpack_map_and_nonces_never_repeat() -> None:
    first = Signer(KEY, clock=lambda: 1234.5)
    headers = [first.sign([b"body"])[1] for _ in range(1000)]
    fields = [msgpack.unpackb(header, raw=False) for header in headers]
    assert all(f.keys() == {"v", "ts", "nonce"} and f["ts"] == 1234.5 for f in fields)
    # Byte for byte what msgpack makes of the same map.
    assert headers[0] == msgpack.packb(fields[0], use_bin_type=True)
    nonces = {f["nonce"] for f in fields}
    assert len(nonces) == 1000 and all(len(nonce) == 16 for nonce in nonces)
    other = msgpack.unpackb(Signer(KEY).sign([b"body"])[1], raw=False)["nonce"]
    assert other not in nonces  # another signer, another random prefix


def test_verify_reads_headers_laid_out_otherwise() -> None:
    # Another implementation may order the keys differently or send an int ts.
    now = 1_700_000_000
    signer = Signer(KEY, clock=lambda: now)
    header = msgpack.packb({"nonce": b"n" * 16, "ts": now, "v": 1}, use_bin_type=True)
    mac = signer._mac(header, [b"body"])
    assert signer.verify([mac, header, b"body"]) == [b"body"]
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify([mac, header, b"body"])


@pytest.mark.parametrize("key", [b"k" * 16, b"k" * 32, bytes(range(64)), b"long" * 40])
def test_mac_is_hmac_sha256_of_header_and_frames(key: bytes) -> None:
    import hashlib
    import hmac

    frames = Signer(key).sign([b"body", b"x" * 70_000])
    expected = hmac.new(key, b"".join(frames[1:]), hashlib.sha256).digest()
    assert frames[0] == expected
