"""proxy.rpc.pipeline(): many calls in flight from synchronous code."""

from __future__ import annotations

import threading

import pytest
import zmq

import broker
from broker.client.pipeline import PendingCall
from broker.errors import HostLost
from broker.serve.server import Server
from broker.serve.service import as_service
from broker.wire.codec import Codec
from tests.conftest import curve_server, sockets
from tests.helpers.rawserver import RawServer, batches_of, echo_args, never

BIG = bytes(range(256)) * 1024


class Service:
    def add(self, a, b):
        return a + b

    def fail(self, message):
        raise ValueError(message)

    def echo(self, value):
        return value


@pytest.fixture
def server():
    context = zmq.Context()
    srv = Server(as_service(Service()), sockets=sockets(context)).start()
    yield srv
    srv.stop()
    context.term()


@pytest.fixture
def proxy(server):
    with broker.connect(server.endpoint, timeout=5, auth=False) as p:
        yield p


def test_results_errors_and_order(proxy):
    with proxy.rpc.pipeline(window=16) as pipeline:
        replies = [pipeline.add(i, i) for i in range(100)]
        failed = pipeline.fail("number 100")
        missing = pipeline.call("nope")
        last = pipeline.echo({"nested": [1, None]})
    assert all(reply.done() for reply in [*replies, failed, missing, last])
    assert [reply.result() for reply in replies] == [2 * i for i in range(100)]
    with pytest.raises(broker.RemoteError, match="number 100") as info:
        failed.result()
    assert info.value.exception == "builtins.ValueError" and "in fail" in str(info.value)
    assert isinstance(failed.exception(), broker.RemoteError)
    with pytest.raises(broker.MethodNotFound):
        missing.result()
    assert last.result() == {"nested": [1, None]} and last.exception() is None
    assert proxy.add(1, 1) == 2  # the proxy's own socket is untouched


def test_window_calls_are_in_flight_at_once():
    # The server answers only once 8 requests wait, last first: a pipeline
    # that waited for replies before sending more would time out here.
    with RawServer(batches_of(8)) as raw, broker.connect(raw.endpoint, 5, auth=False) as p:
        with p.rpc.pipeline(window=8) as pipeline:
            replies = []
            for i in range(24):
                replies.append(pipeline.call("echo", i))
                assert pipeline.in_flight <= 8
        assert [reply.result() for reply in replies] == list(range(24))
        assert [request.args[0] for request in raw.received] == list(range(24))


def test_result_inside_the_block_reads_its_own_reply(proxy):
    with proxy.rpc.pipeline(window=4) as pipeline:
        first = pipeline.add(1, 2)
        others = [pipeline.add(i, 0) for i in range(3)]
        assert first.result() == 3  # reads replies until its own is there
        assert not isinstance(first.result(), PendingCall)
        pipeline.wait()
        assert pipeline.in_flight == 0 and all(other.done() for other in others)


def test_timeout_then_late_reply_is_dropped():
    with RawServer(never) as raw, broker.connect(raw.endpoint, 0.2, auth=False) as p:
        with p.rpc.pipeline() as pipeline:
            lost = pipeline.call("anything", 1)
            with pytest.raises(broker.CallTimeout, match="anything .* no reply within 0.2 s"):
                lost.result()
            # The server now answers "anything" (late), then "release": the late
            # reply finds nobody waiting and the next call gets its own.
            assert pipeline.call("release").result() == "released"
            assert pipeline.in_flight == 0
        assert [r.method for r in raw.received] == ["anything", "release"]


def test_errors_before_sending_leave_nothing_in_flight(server):
    small = Codec(max_message_size=1000)
    with broker.connect(server.endpoint, timeout=5, codec=small, auth=False) as proxy:
        with proxy.rpc.pipeline() as pipeline:
            with pytest.raises(broker.MessageTooLarge):
                pipeline.echo(b"x" * 2000)
            with pytest.raises(TypeError, match="cannot encode"):
                pipeline.echo(object())
            assert pipeline.in_flight == 0
            assert pipeline.add(2, 2).result() == 4


def test_closed_pipeline_and_calls_cut_short(proxy):
    pipeline = proxy.rpc.pipeline()
    pending = pipeline.add(1, 1)
    pipeline.close()
    pipeline.close()
    assert pipeline.closed
    with pytest.raises(broker.Closed):
        pending.result()
    with pytest.raises(broker.Closed):
        pipeline.add(1, 2)
    with pytest.raises(ZeroDivisionError):
        with proxy.rpc.pipeline() as pipeline:
            cut = pipeline.add(1, 1)
            1 / 0  # noqa: B018 - leaving the block by an exception does not wait
    assert isinstance(cut.exception(), broker.Closed)


def test_closing_the_proxy_closes_its_pipelines(server):
    proxy = broker.connect(server.endpoint, timeout=5, auth=False)
    pipeline = proxy.rpc.pipeline()
    assert pipeline.add(1, 1).result() == 2
    proxy.close()  # would wait forever in context.term() if the pipeline stayed open
    assert pipeline.closed
    with pytest.raises(broker.Closed):
        proxy.rpc.pipeline()


def test_lost_host_fails_every_call_in_flight():
    lost = threading.Event()

    def liveness():
        if lost.is_set():
            raise HostLost("gone")

    with RawServer(never) as raw:
        proxy = broker.Proxy(raw.endpoint, timeout=30, auth=False, liveness=liveness)
        with proxy.rpc.pipeline() as pipeline:
            calls = [pipeline.call("hold", i) for i in range(3)]
            lost.set()
            for call in calls:
                with pytest.raises(HostLost):
                    call.result()
            with pytest.raises(HostLost):
                pipeline.call("hold", 4)
        proxy.close()


def test_through_a_broker_calls_go_to_target_slash_method():
    with RawServer(echo_args) as raw, broker.connect(raw.endpoint, 5, auth=False) as proxy:
        with proxy.rpc.host("maya").rpc.pipeline() as pipeline:
            assert pipeline.add(7).result() == 7
        assert raw.received[0].method == "maya/add"


def test_large_values_over_curve_and_a_refused_key(stranger_key):
    with curve_server(Service()) as srv:
        with broker.connect(srv.endpoint, timeout=5) as proxy:
            with proxy.rpc.pipeline() as pipeline:
                big = pipeline.echo(BIG)
                small = pipeline.add(1, 2)
            assert big.result() == BIG and small.result() == 3
        with broker.connect(srv.endpoint, timeout=5, auth=stranger_key) as proxy:
            with proxy.rpc.pipeline() as pipeline:
                refused = pipeline.add(1, 2)
            with pytest.raises(broker.Unauthorized, match="keys differ"):
                refused.result()


def test_window_must_be_positive(proxy):
    with pytest.raises(ValueError, match="window"):
        proxy.rpc.pipeline(window=0)
