"""Bad input against the host endpoint, the UI endpoint and the broker.

Every case is sent to each of the three over an authenticated connection
(CURVE to the TCP UI and broker, NULL to the host's private ipc path), so
that the decoder sees it: the answer must be an error of a known type, or a
normal reply for a valid message. After every case a valid call to the same
endpoint must still work. Hypothesis
runs a fixed number of derandomized examples, so CI sees the same cases on
every run.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional, Set

import msgpack
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

import broker
import host_adapter
import ui_adapter
from broker.wire.codec import MAX_DEPTH, Codec
from broker.wire.messages import Response
from tests.conftest import raw_socket

INTERVAL = 0.1
# Small limits, so that "over the limit" costs little to send.
MAX_MESSAGE = 1024 * 1024
LIMITS = {"max_message_size": MAX_MESSAGE, "max_items": 10_000, "max_str": 100_000}
SERVICE = {"add": lambda a, b: a + b, "echo": lambda value=None, **kwargs: value}

#: Error types a bad message may get; never Unauthorized, HostLost or Timeout.
ANSWERS = {"ProtocolError", "TooLarge", "MethodNotFound", "InvalidParams", "HostNotFound"}
ANY_ANSWER = ANSWERS | {"Exception", None}  # None: a normal reply
FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None)


def limited_codec() -> Codec:
    return Codec(**LIMITS)


class Target:
    """One endpoint under test, reached by a DEALER that talks like a REQ."""

    def __init__(self, context: zmq.Context, endpoint: str, prefix: str) -> None:
        self.endpoint = endpoint
        self.prefix = prefix  # "maya/" through the broker, so calls reach a host
        self.codec = limited_codec()
        self.socket = raw_socket(context, zmq.DEALER, endpoint)
        self._msgid = 0
        self.exchanges = 0
        self.slowest = 0.0  # seconds, the longest wait for a reply

    def method(self, name: str) -> str:
        return self.prefix + name

    def exchange(self, frames: List[Any]) -> List[bytes]:
        """Send one REQ-shaped message; return the frames of its one reply."""
        started = time.perf_counter()
        self.socket.send_multipart([b"", *frames])
        reply = self.socket.recv_multipart()
        self.exchanges += 1
        self.slowest = max(self.slowest, time.perf_counter() - started)
        assert reply[0] == b"", reply
        return reply[1:]

    def answers(self, frames: List[Any], expected: Set[Optional[str]]) -> Response:
        response = self.codec.decode(self.exchange(frames))
        assert isinstance(response, Response)
        kind = None if response.error is None else response.error["type"]
        assert kind in expected, (kind, response.error)
        return response

    def still_works(self) -> None:
        self._msgid += 1
        frames = self.codec.encode_request(self._msgid, self.method("add"), [40, 2])
        assert self.codec.decode(self.exchange(frames)) == Response(self._msgid, None, 42)

    def attack(self, frames: List[bytes], expected: Set[Optional[str]]) -> Response:
        """The bad message, then a valid call; returns the answer to the first."""
        response = self.answers(frames, expected)
        self.still_works()
        return response


@pytest.fixture(scope="module")
def targets() -> Iterator[Dict[str, Target]]:
    """A UI with a host announced to it, and a broker with a host of its own."""
    with (
        ui_adapter.listen(
            SERVICE,
            endpoint="tcp://127.0.0.1:*",
            heartbeat_interval=INTERVAL,
            codec=limited_codec(),
        ) as ui,
        broker.Broker(
            ["tcp://127.0.0.1:*"], heartbeat_interval=INTERVAL, codec=limited_codec()
        ) as hub,
    ):
        hub.start()
        with (
            host_adapter.serve(
                SERVICE,
                name="maya",
                ui=ui.endpoint,
                dispatcher=host_adapter.immediate,
                codec=limited_codec(),
            ) as host,
            host_adapter.serve(
                SERVICE,
                name="maya",
                ui=hub.endpoint,
                dispatcher=host_adapter.immediate,
                codec=limited_codec(),
            ) as behind,
        ):
            assert host.wait_connected(10) and behind.wait_connected(10)
            context = zmq.Context()
            found = {
                "host": Target(context, host.endpoint, ""),
                "ui": Target(context, ui.endpoint, ""),
                "broker": Target(context, hub.endpoint, "maya/"),
            }
            try:
                yield found
                for name, target in found.items():  # shown with pytest -s
                    print(
                        f"\nFUZZ | {name} | {target.exchanges} replies | "
                        f"slowest {target.slowest * 1000:.1f} ms"
                    )
                # Nothing the fuzz sent made the UI or the broker forget their host.
                assert ui.registry.state_of(host.id) in ("idle", "busy")
                assert hub.registry.state_of(behind.id) in ("idle", "busy")
            finally:
                for target in found.values():
                    target.socket.close()
                context.term()


@pytest.fixture(params=["host", "ui", "broker"])
def target(request, targets) -> Target:
    return targets[request.param]


def head(target: Target, method: str = "echo", msgid: int = 7, length: int = 4) -> bytes:
    """The packed start of a request whose remaining items the caller appends."""
    packer = msgpack.Packer(use_bin_type=True)
    return (
        packer.pack_array_header(length)
        + packer.pack(0)
        + packer.pack(msgid)
        + packer.pack(target.method(method))
    )


def nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"


# -- hypothesis: random frames, wrong shapes, message-like arrays ------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
keys = st.text(max_size=4) | st.integers(-3, 3) | st.binary(max_size=2) | st.none()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)
methods = (
    st.sampled_from(
        ["add", "echo", "nope", "", "rpc.ping", "rpc.describe", "rpc.hosts", "rpc.heartbeat"]
        + ["rpc.depart", "rpc.nope", "maya/add", "maya/echo", "maya/rpc.ping", "ghost/add", "/"]
    )
    | st.text(max_size=6)
    | st.integers(-1, 2)
    | st.none()
)
messages = st.builds(
    lambda kind, msgid, method, args, rest: [kind, msgid, method, args, *rest],
    st.sampled_from([0, 1, 2, -1, None, "0"]),
    st.integers(-1, 2**32) | st.none() | st.text(max_size=2),
    methods,
    values,
    st.lists(values, max_size=2),
)


@FUZZ
@given(frames=st.lists(st.binary(max_size=48), max_size=5))
def test_random_frames(targets, frames):
    for target in targets.values():
        target.attack(frames, ANY_ANSWER if frames else {"ProtocolError"})


@FUZZ
@given(value=values)
def test_valid_msgpack_of_the_wrong_shape(targets, value):
    body = msgpack.packb(value, use_bin_type=True)
    shaped = isinstance(value, list) and len(value) in (4, 5)
    for target in targets.values():
        target.attack([body], ANY_ANSWER if shaped else {"ProtocolError"})


@FUZZ
@given(message=messages)
def test_message_like_arrays(targets, message):
    body = msgpack.packb(message, use_bin_type=True)
    for target in targets.values():
        target.attack([body], ANY_ANSWER)


@FUZZ
@given(value=values, extra=st.lists(st.binary(max_size=16), max_size=2))
def test_valid_requests_echo_their_value(targets, value, extra):
    """Any value with str keys comes back as sent, unreferenced extra frames or not."""
    try:
        packed = msgpack.packb(value, use_bin_type=True)
        msgpack.unpackb(packed, raw=False, strict_map_key=True)
    except ValueError:
        return  # non-str keys: the other tests cover those
    for target in targets.values():
        body = head(target, "echo", length=4) + msgpack.packb([value], use_bin_type=True)
        response = target.attack([body, *extra], {None})
        assert msgpack.packb(response.result, use_bin_type=True) == packed
        assert response.msgid == 7


# -- hand-made cases ----------------------------------------------------------------------------

HUGE_DECLARED = [
    b"\xdb\xff\xff\xff\xff",  # str 32
    b"\xdd\xff\xff\xff\xff",  # array 32
    b"\xdf\xff\xff\xff\xff",  # map 32
    b"\xc6\xff\xff\xff\xff",  # bin 32
    b"\xc9\xff\xff\xff\xff\x01",  # ext 32
]


@pytest.mark.parametrize("declared", HUGE_DECLARED, ids=["str", "array", "map", "bin", "ext"])
def test_huge_declared_lengths(target, declared):
    target.attack([declared], {"ProtocolError"})  # as the whole body
    target.attack([head(target) + declared + b"\x00" * 8], {"ProtocolError"})  # as the args


def test_nesting_at_and_over_the_depth_limit(target):
    # The request's own array and its args array count: MAX_DEPTH - 2 more fit.
    body = head(target) + b"\x91" + nested(MAX_DEPTH - 2)
    echoed = target.attack([body], {None}).result
    for _ in range(MAX_DEPTH - 3):
        echoed = echoed[0]
    assert echoed == [None]
    target.attack([head(target) + b"\x91" + nested(MAX_DEPTH - 1)], {"ProtocolError"})
    target.attack([head(target) + nested(100_000)], {"ProtocolError"})
    target.attack([b"\x81\xa1k" * (MAX_DEPTH + 1) + b"\xc0"], {"ProtocolError"})


@pytest.mark.parametrize(
    "kwargs",
    [{1: 2}, {None: 1}, {b"k": 1}, {1.5: 1}, {"ok": 1, 2: 3}, {True: 1}],
    ids=["int", "nil", "bin", "float", "mixed", "bool"],
)
def test_non_str_map_keys(target, kwargs):
    packed = msgpack.packb(kwargs, use_bin_type=True)
    target.attack([head(target, length=5) + b"\x90" + packed], {"ProtocolError"})  # as kwargs
    # Inside the args: int and bin keys are data (frame numbers...), others refused.
    portable = all(type(key) in (str, int, bytes) for key in kwargs)
    answer = target.attack(
        [head(target, length=4) + b"\x91" + packed], {None} if portable else {"ProtocolError"}
    )
    if portable:
        assert answer.result == kwargs


def test_array_and_map_keys_are_refused_wherever_they_are(target):
    array_key = b"\x81\x91\x01\x02"  # {[1]: 2}: unhashable in Python
    map_key = b"\x81\x81\xa1k\x01\x02"  # {{"k": 1}: 2}
    for key in (array_key, map_key):
        target.attack([head(target, length=4) + b"\x91" + key], {"ProtocolError"})
        target.attack([b"\x94\x00" + key + b"\xa1m\x90"], {"ProtocolError"})  # as the msgid


def ext(code: int, data: bytes) -> bytes:
    """A packed msgpack ext (codes below 0 are msgpack's own, e.g. -1 timestamps)."""
    return b"\xc7" + bytes([len(data), code & 0xFF]) + data


@pytest.mark.parametrize(
    "packed, oob",
    [
        (ext(5, b"x"), []),  # a type nobody defined
        (ext(1, b"\x00\x00\x00\x00"), []),  # out-of-band reference, no frame
        (ext(1, b"\x00\x00\x00\x07"), [b"frame 0"]),  # reference past the frames
        (ext(1, b"\x00\x00"), [b"frame 0"]),  # reference of the wrong size
        (ext(-1, b"\x00" * 5), []),  # a timestamp of an impossible size
        (ext(-7, b"\x00" * 4), []),  # a reserved negative type
        (ext(127, b"\x00" * 200), [b"x"]),
    ],
    ids=["unknown", "no-frame", "past-end", "short-ref", "bad-timestamp", "reserved", "127"],
)
def test_bad_ext_types(target, packed, oob):
    target.attack([head(target) + b"\x91" + packed, *oob], {"ProtocolError"})


def test_truncated_messages(target):
    body = head(target, "add") + msgpack.packb([[1, 2], {"k": "é"}])
    for cut in range(len(body)):
        target.attack([body[:cut]], {"ProtocolError"} if cut else ANY_ANSWER - {None})


def test_wrong_frame_counts_and_orders(target):
    body = head(target, "add", length=4) + msgpack.packb([1, 2])
    # Frames nobody references: they are ignored.
    assert target.attack([body, b"extra", b""], {None}).result == 3
    # An empty body, or a reference to a frame that is not there.
    target.attack([b""], {"ProtocolError"})
    target.attack([b"", b"frame"], {"ProtocolError"})


def test_a_response_is_not_a_request(target):
    target.attack([msgpack.packb([1, 7, None, 42])], {"ProtocolError"})
    target.attack([msgpack.packb([2, 7, "rpc.heartbeat", []])], ANY_ANSWER - {None})


def test_over_the_limits(target):
    too_many = head(target) + msgpack.packb([list(range(10_001))])
    target.attack([too_many], {"ProtocolError"})
    too_long = head(target) + msgpack.packb(["x" * 100_001])
    target.attack([too_long], {"ProtocolError"})
    # Two frames, each under the socket's limit, together over the codec's.
    half = MAX_MESSAGE // 2 + 1
    big = head(target) + msgpack.packb([b"x" * half], use_bin_type=True)
    target.attack([big, b"y" * half], {"TooLarge"})


def test_frames_that_are_not_req_shaped(targets):
    """No empty delimiter, or many: the server answers or drops, and lives."""
    context = zmq.Context()
    try:
        for target in targets.values():
            for frames in ([b"x"], [b"x", b"y", b"", b"z"], [b"", b"", b""], [b"\x00" * 70_000]):
                raw = raw_socket(context, zmq.DEALER, target.endpoint)
                raw.send_multipart(frames)
                raw.close()
                target.still_works()
            # Over the socket's own limit: ZeroMQ drops that connection, nothing else.
            raw = raw_socket(context, zmq.DEALER, target.endpoint)
            raw.send_multipart([b"", b"x" * (MAX_MESSAGE + 4096)])
            raw.close()
            target.still_works()
    finally:
        context.term()
