"""Out-of-band frames: large bytes-like values travel beside the body, zero-copy.

In memory (the codec), over raw sockets (the frame helpers) and end to end
(a server and a proxy): layouts, references, limits, a
truncated frame set, and what type a large value arrives as.
"""

from __future__ import annotations

import threading

import msgpack
import pytest
import zmq

import broker
from broker.errors import MessageTooLarge, ProtocolError
from broker.serve.server import Server
from broker.serve.service import as_service
from broker.transport.frames import recv_message, send_message
from broker.wire.codec import Codec
from broker.wire.messages import Request, Response
from tests.conftest import curve_server, sockets, wait_until

BIG = bytes(range(256)) * 1024  # 256 KiB: above the 64 KiB threshold
SMALL = b"s" * 100


# -- the codec, in memory ---------------------------------------------------------------


def test_large_values_leave_the_body_and_are_referenced_from_it():
    codec = Codec()
    frames = codec.encode_request(
        7, "put", (SMALL, BIG, bytearray(BIG)), {"extra": memoryview(BIG)}
    )
    assert len(frames) == 4  # body + three out-of-band frames
    body = msgpack.unpackb(frames[0], raw=False)
    assert body[3][0] == SMALL  # small bytes stay in the body
    assert body[3][1] == msgpack.ExtType(1, (0).to_bytes(4, "big"))
    assert body[3][2] == msgpack.ExtType(1, (1).to_bytes(4, "big"))
    assert body[4]["extra"] == msgpack.ExtType(1, (2).to_bytes(4, "big"))
    assert frames[1] is BIG  # sent as given: no copy made
    request = codec.decode(frames)
    assert isinstance(request, Request)
    assert request.args == [SMALL, BIG, BIG] and request.kwargs == {"extra": BIG}


def test_results_leave_the_body_too():
    codec = Codec()
    frames = codec.encode_response(3, BIG)
    assert len(frames) == 2
    response = codec.decode(frames)
    assert isinstance(response, Response) and response.result == BIG


def test_zero_copy_hands_back_the_received_buffer_and_copy_makes_bytes():
    frames = Codec().encode_response(3, BIG)
    received = [frames[0], memoryview(frames[1]).toreadonly()]  # as the sockets deliver it
    result = Codec().decode(received).result
    assert isinstance(result, memoryview) and result.obj is BIG and result == BIG
    copied = Codec(zero_copy=False).decode(received).result
    assert type(copied) is bytes and copied == BIG


def test_truncated_frame_set_is_a_protocol_error():
    codec = Codec()
    frames = codec.encode_request(1, "put", (BIG, BIG))
    with pytest.raises(ProtocolError, match="out-of-band frame 1 that was not sent"):
        codec.decode(frames[:-1])
    with pytest.raises(ProtocolError, match="no out-of-band frames sent"):
        codec.decode(frames[:1])


def test_over_the_limit_is_refused_before_sending_and_when_received():
    codec = Codec(max_message_size=len(BIG))
    with pytest.raises(MessageTooLarge, match="request for put"):
        codec.encode_request(1, "put", (BIG,))
    frames = Codec().encode_request(1, "put", (BIG,))
    with pytest.raises(MessageTooLarge, match="over the limit"):
        codec.decode(frames)


def test_threshold_none_keeps_everything_in_the_body():
    frames = Codec(oob_threshold=None).encode_request(1, "put", (BIG,))
    assert len(frames) == 1
    assert Codec().decode(frames).args == [BIG]


# -- the frame helpers, over real sockets ------------------------------------------------


@pytest.fixture
def pair():
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.bind("inproc://oob-pair")
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect("inproc://oob-pair")
    yield dealer, router
    dealer.close()
    router.close()
    context.term()


def test_recv_message_copies_the_head_and_not_the_tail(pair):
    dealer, router = pair
    # Bodies are never empty or 4 bytes long (request ids are): see recv_message.
    send_message(dealer, [b"", b"the body", BIG, SMALL])
    frames = recv_message(router, prefix=1)
    assert [type(frame) for frame in frames[:3]] == [bytes, bytes, bytes]  # id, b"", body
    assert frames[1:3] == [b"", b"the body"]
    big, small = frames[3:]
    assert isinstance(big, memoryview) and big.readonly and big == BIG
    assert isinstance(small, memoryview) and small == SMALL
    send_message(router, frames[:1] + [b"", b"the reply", big])  # a view is sent on as it is
    reply = recv_message(dealer)
    assert reply[:2] == [b"", b"the reply"] and reply[2] == BIG


def test_recv_message_with_a_request_id_and_without_any_envelope(pair):
    dealer, router = pair
    send_message(dealer, [b"\x00\x00\x00\x07", b"", b"the body", BIG])
    frames = recv_message(router, prefix=1)  # REQ_CORRELATE's id, then the delimiter
    assert all(type(frame) is bytes for frame in frames[:4])
    assert isinstance(frames[4], memoryview) and frames[4] == BIG
    send_message(dealer, [b"the body", BIG])  # a DEALER without one
    frames = recv_message(router, prefix=1)
    assert frames[1] == b"the body"
    assert isinstance(frames[2], memoryview) and frames[2] == BIG
    send_message(router, [frames[0], b"the body", BIG])
    frames = recv_message(dealer)
    assert frames[0] == b"the body" and isinstance(frames[1], memoryview) and frames[1] == BIG


# -- end to end --------------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.types = []

    def echo(self, value):
        self.types.append(type(value))
        return value

    def several(self, a, b, *, c):
        return [len(a), len(b), len(c)]

    def make(self, size):
        return b"m" * size


@pytest.fixture
def store():
    return Store()


@pytest.fixture
def server(store):
    context = zmq.Context()
    srv = Server(
        as_service(store), sockets=sockets(context), codec=Codec(max_message_size=1_000_000)
    ).start()
    yield srv
    srv.stop()
    context.term()


def test_large_bytes_round_trip_zero_copy_on_both_sides(server, store):
    with broker.connect(server.endpoint, timeout=10, auth=False) as proxy:
        result = proxy.echo(BIG)
        assert isinstance(result, memoryview) and result.readonly and result == BIG
        assert store.types == [memoryview]  # the service got a view, not a copy
        assert proxy.echo(SMALL) == SMALL and store.types[-1] is bytes
        assert proxy.several(BIG, bytearray(BIG), c=memoryview(BIG)) == [len(BIG)] * 3


def test_copying_codec_returns_bytes(server):
    with broker.connect(
        server.endpoint, timeout=10, codec=Codec(zero_copy=False), auth=False
    ) as proxy:
        result = proxy.echo(BIG)
        assert type(result) is bytes and result == BIG


def test_request_over_the_servers_limit_is_answered_too_large(server):
    # Each frame is under the server's MAXMSGSIZE, all of them together over
    # its codec's limit: the server reads them, refuses, and keeps serving.
    with broker.connect(server.endpoint, timeout=10, auth=False) as proxy:
        with pytest.raises(MessageTooLarge, match="over the limit"):
            proxy.several(b"a" * 400_000, b"b" * 400_000, c=b"c" * 400_000)
        assert proxy.several(SMALL, SMALL, c=SMALL) == [100, 100, 100]


def test_reply_over_the_clients_limit_raises_too_large(server):
    with broker.connect(
        server.endpoint, timeout=10, codec=Codec(max_message_size=200_000), auth=False
    ) as p:
        with pytest.raises(MessageTooLarge, match="reply to make"):
            p.make(200_500)  # one frame: under MAXMSGSIZE, over the codec's limit
        assert p.make(10) == b"m" * 10


def test_truncated_frame_set_from_a_raw_client_is_answered(server):
    context = zmq.Context()
    sock = context.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(server.endpoint)
    try:
        frames = Codec().encode_request(9, "several", (BIG, BIG), {"c": BIG})
        sock.send_multipart(frames[:2])  # body + the first of three out-of-band frames
        reply = msgpack.unpackb(sock.recv(), raw=False)
        assert reply[:2] == [1, 9]
        assert reply[2]["type"] == "ProtocolError" and "not sent" in reply[2]["message"]
        sock.send_multipart(frames)
        assert msgpack.unpackb(sock.recv(), raw=False) == [1, 9, None, [len(BIG)] * 3]
    finally:
        sock.close()
        context.term()


def test_large_reply_after_a_handover_is_relayed_intact():
    release = threading.Event()

    def slow_make(size):
        release.wait(30)
        return b"h" * size

    context = zmq.Context()
    srv = Server(as_service({"slow_make": slow_make}), sockets=sockets(context)).start()
    try:
        with broker.connect(srv.endpoint, timeout=10, auth=False) as proxy:
            done = []
            caller = threading.Thread(target=lambda: done.append(proxy.slow_make(300_000)))
            caller.start()
            wait_until(lambda: srv.state == "busy", message="the slow call running")
            with broker.connect(srv.endpoint, timeout=10, auth=False) as pinger:
                # Answered only once the standby took the socket over.
                assert pinger.call("rpc.ping")["state"] == "busy"
            release.set()
            caller.join(10)
            assert not caller.is_alive()
            assert len(done) == 1 and done[0] == b"h" * 300_000
    finally:
        release.set()
        srv.stop()
        context.term()


def test_large_values_end_to_end_over_curve():
    with curve_server({"echo": lambda value: value}) as srv:
        assert srv.endpoint.startswith("tcp://")  # CURVE: the user's key on both sides
        with broker.connect(srv.endpoint, timeout=10) as proxy:
            assert proxy.echo(BIG) == BIG
            assert proxy.echo(SMALL) == SMALL
