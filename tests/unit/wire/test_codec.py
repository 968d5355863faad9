"""The codec in memory: encoding, decoding, validation, limits, out-of-band frames."""

from __future__ import annotations

import concurrent.futures
import datetime
import decimal
import struct
from typing import Any, List

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.errors import MessageTooLarge, ProtocolError
from broker.wire.codec import Codec, default_hook
from broker.wire.messages import REQUEST, RESPONSE, Request, Response, error_map

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

    with pytest.raises(
        TypeError, match=r"cannot encode request for m: cannot send .*Custom: send str"
    ):
        Codec().encode_request(1, "m", [Custom()])
    with pytest.raises(TypeError, match=r"cannot encode response: cannot send object"):
        Codec().encode_response(1, object())
    with pytest.raises(
        TypeError, match="cannot encode response: int 18446744073709551616 in result"
    ):
        Codec().encode_response(1, 2**64)  # too large for msgpack


def test_custom_default_hook_is_used() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    codec = Codec(default=lambda obj: {"x": obj.x, "y": obj.y})
    assert codec.decode(codec.encode_response(1, Point(1, 2))).result == {"x": 1, "y": 2}
    assert codec.default is not default_hook


def test_a_custom_hook_may_end_with_the_default_one() -> None:
    def hook(obj: Any) -> Any:
        return str(obj) if isinstance(obj, decimal.Decimal) else default_hook(obj)

    codec = Codec(default=hook)
    when = datetime.date(2024, 5, 1)
    assert codec.decode(codec.encode_response(1, [decimal.Decimal("1.5"), when])).result == [
        "1.5",
        "2024-05-01",
    ]


# -- map keys, datetimes, big ints -------------------------------------------------------


def test_int_and_bytes_map_keys_travel_both_ways() -> None:
    codec = Codec(oob_threshold=100)
    frames = {1001: "/a.1001.exr", -1: None, 2**64 - 1: b"k", b"\x00": {7: [1]}, "s": 1}
    request = codec.decode(codec.encode_request(1, "m", [frames, b"x" * 200], {"f": frames}))
    assert request.args[0] == frames and request.kwargs == {"f": frames}
    assert bytes(request.args[1]) == b"x" * 200  # with an out-of-band frame too
    assert codec.decode(codec.encode_response(2, frames)).result == frames


@pytest.mark.parametrize(
    ("mapping", "where", "kind"),
    [
        ({1.5: 1}, r"a key of args\[0\]", "float"),
        ({"a": [{None: 1}]}, r"a key of args\[0\]\['a'\]\[0\]", "NoneType"),
        ({1: {False: 1}}, r"a key of args\[0\]\[1\]", "bool"),
    ],
)
def test_other_map_keys_are_a_protocol_error_naming_type_and_place(mapping, where, kind) -> None:
    body = packed([0, 1, "m", [mapping]])
    with pytest.raises(
        ProtocolError, match=rf"^{where} is a {kind} \(.*\): map keys are str, int or bytes$"
    ):
        Codec().decode(body)
    result = packed([1, 1, None, mapping])
    with pytest.raises(ProtocolError, match=rf"a key of result.* is a {kind}"):
        Codec().decode(result)


def test_array_keys_and_non_str_keyword_names_are_protocol_errors() -> None:
    array_key = [b"\x94\x00\x01\xa1m\x91\x81\x91\x01\x02"]  # [0, 1, "m", [{[1]: 2}]]
    with pytest.raises(ProtocolError, match="a map key is an array or a map"):
        Codec().decode(array_key)
    with pytest.raises(ProtocolError, match="kwargs must be a map with str keys"):
        Codec().decode(packed([0, 1, "m", [], {1: 2}]))
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        Codec().decode([packed([0, 1, "m", [{1: 2}]])[0][:-1]])  # truncated, after a key


def test_dates_and_times_arrive_as_iso_8601_strings() -> None:
    codec = Codec()
    values = [
        datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
        datetime.datetime(2024, 5, 1, 12, 30),
        datetime.date(2024, 5, 1),
        datetime.time(12, 30, 1, 500),
    ]
    decoded = codec.decode(codec.encode_request(1, "m", values, {"when": values[0]}))
    assert decoded.args == [
        "2024-05-01T12:30:00+00:00",
        "2024-05-01T12:30:00",
        "2024-05-01",
        "12:30:01.000500",
    ]
    assert decoded.kwargs == {"when": "2024-05-01T12:30:00+00:00"}


@pytest.mark.parametrize(
    ("number", "named"),
    [
        (2**64, "int 18446744073709551616"),
        (-(2**63) - 1, "int -9223372036854775809"),
        (7**200, "int of 562 bits"),
    ],
)
def test_ints_beyond_64_bits_are_named_with_their_place(number: int, named: str) -> None:
    tail = "is out of the 64-bit range msgpack can carry"
    with pytest.raises(
        TypeError, match=rf"^cannot encode request for m: {named} in args\[1\]\[0\] {tail}"
    ):
        Codec().encode_request(1, "m", [0, [number]])
    with pytest.raises(TypeError, match=rf"{named} in kwargs\['n'\] {tail}"):
        Codec().encode_request(1, "m", [], {"n": number})
    with pytest.raises(
        TypeError, match=rf"^cannot encode response: {named} in result\['n'\] {tail}"
    ):
        Codec().encode_response(1, {"n": number})


def test_one_codec_encodes_from_many_threads_at_once() -> None:
    codec = Codec()
    bodies = {n: packed([0, n, "m", [list(range(n)), {n: "x" * n}]])[0] for n in range(200)}

    def encode(n: int) -> bool:
        return all(
            codec.encode_request(n, "m", [list(range(n)), {n: "x" * n}])[0] == bodies[n]
            for _ in range(50)
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(encode, range(200)))


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
    with pytest.raises(MessageTooLarge):
        codec.encode_response(1, b"x" * 200)


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


@pytest.mark.parametrize("body", [b"\xc1", b"\x94\x00\x01", b"\x95\x00"])
def test_an_undecodable_body_is_refused_with_a_detail(body: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        Codec().decode([body])
    message = str(info.value)
    assert message.startswith("body is not valid msgpack, or is over this codec's limits: ")
    detail = message.split("limits: ", 1)[1]
    assert detail.strip(), message  # 0xc1 (msgpack's FormatError) used to end the text in ": "
