"""The broker's routing rules, with broker and hosts in this process."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import broker
import host_adapter
from tests.conftest import ROOT, wait_until

INTERVAL = 0.1


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


def start(**options):
    return broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=INTERVAL, **options)


def serve(endpoint, release, name="maya"):
    adapter = host_adapter.serve(
        {"hold": lambda: release.wait(10), "one": lambda: 1}, name=name, ui=endpoint
    )
    assert adapter.wait_connected(5)
    return adapter


def call_in_thread(endpoint, method, results, timeout=10):
    def run():
        with broker.connect(endpoint, timeout=timeout) as proxy:
            try:
                results.append(proxy.call(method))
            except broker.RpcError as exc:
                results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_busy(running, host_id):
    wait_until(lambda: running.routing.busy, message="host busy at the broker")


def test_full_queue_answers_at_once(release):
    with start(queue_limit=1, window=1) as running, serve(running.endpoint, release) as host:
        results: list = []
        first = call_in_thread(running.endpoint, "maya/hold", results)
        wait_busy(running, host.id)
        second = call_in_thread(running.endpoint, "maya/one", results)
        wait_until(lambda: running.routing.queued == 1, message="one call queued")
        with broker.connect(running.endpoint, timeout=5) as proxy:
            with pytest.raises(broker.Overloaded, match="queue is full"):
                proxy.call("maya/one")
        release.set()
        for thread in (first, second):
            thread.join(10)
            assert not thread.is_alive()
        assert sorted(map(str, results)) == ["1", "True"]


def test_queued_call_times_out(release):
    with start(queue_timeout=0.2, window=1) as running, serve(running.endpoint, release) as host:
        results: list = []
        first = call_in_thread(running.endpoint, "maya/hold", results)
        wait_busy(running, host.id)
        with broker.connect(running.endpoint, timeout=5) as proxy:
            with pytest.raises(broker.CallTimeout, match="waited 0.2 s"):
                proxy.call("maya/one")
        release.set()
        first.join(10)
        assert results == [True]


def test_queued_and_inflight_calls_fail_when_the_only_host_is_lost(release):
    with start(window=1) as running:
        host = serve(running.endpoint, release)
        results: list = []
        threads = [call_in_thread(running.endpoint, "maya/hold", results)]
        wait_busy(running, host.id)
        threads.append(call_in_thread(running.endpoint, "maya/one", results))
        threads.append(call_in_thread(running.endpoint, f"{host.id}/one", results))
        wait_until(lambda: running.routing.queued == 2, message="two calls queued")
        # The host's endpoint closes under the running call: the broker's
        # connection to it drops, as when its process dies.
        host._node._announcer.stop(depart=False)
        host._node.server.stop(timeout=0.1)
        for thread in threads:
            thread.join(10)
            assert not thread.is_alive()
        assert [type(r) for r in results] == [broker.HostLost] * 3
        release.set()
        host.stop()


def test_a_host_whose_heartbeats_stop_is_silent_and_keeps_its_calls(release):
    with start() as running, serve(running.endpoint, release) as host:
        results: list = []
        held = call_in_thread(running.endpoint, f"{host.id}/hold", results)
        wait_busy(running, host.id)
        host._node._announcer.stop(depart=False)  # its Python falls silent; its socket answers
        wait_until(lambda: running.registry.state_of(host.id) == "silent", timeout=5)
        assert running.routing.queued == 0 and held.is_alive()  # nothing failed
        release.set()
        held.join(10)
        assert results == [True]


def test_departed_host_is_not_found(release):
    with start() as running:
        host = serve(running.endpoint, release)
        host.stop()
        with broker.connect(running.endpoint, timeout=5) as proxy:
            wait_until(lambda: not proxy.rpc.hosts(), message="host departed")
            with pytest.raises(broker.HostNotFound):
                proxy.rpc.host("maya").one()


def test_unknown_broker_method_and_bad_target():
    with start() as running, broker.connect(running.endpoint, timeout=5) as proxy:
        with pytest.raises(broker.MethodNotFound):
            proxy.call("rpc.nope")
        with pytest.raises(broker.HostNotFound, match="no UI is attached"):
            proxy.call("show")
        with pytest.raises(ValueError):
            proxy.rpc.host("a/b")


def test_a_msgpack_rpc_notification_gets_no_reply_from_the_broker():
    import msgpack
    import zmq

    with start(auth=False) as running:
        context = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.rcvtimeo = 5000
        try:
            dealer.connect(running.endpoint)
            dealer.send(msgpack.packb([2, "maya/add", [1, 1]]))
            dealer.send(msgpack.packb([0, 12, "rpc.hosts", []]))
            # Handled in order: had the notification been answered, its reply came first.
            assert msgpack.unpackb(dealer.recv()) == [1, 12, None, []]
        finally:
            dealer.close()
            context.term()


def test_endpoint_in_use():
    with start() as running, pytest.raises(broker.EndpointInUse):
        broker.start_broker([running.endpoint])


def test_several_binds():
    with broker.start_broker(["tcp://127.0.0.1:*", "tcp://127.0.0.1:*"]) as running:
        assert len(running.endpoints) == 2
        for endpoint in running.endpoints:
            with broker.connect(endpoint, timeout=5) as proxy:
                assert proxy.call("rpc.ping")["role"] == "broker"


def test_python_m_broker_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve", "--bind", "tcp://127.0.0.1:*"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        endpoint = line.split()[3]
        assert endpoint.startswith("tcp://127.0.0.1:"), line
        with broker.connect(endpoint, timeout=5) as proxy:
            assert proxy.call("rpc.ping")["role"] == "broker"
        process.terminate()
        assert process.wait(10) == 0
        assert "broker stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()
        process.stderr.close()


# A bytes argument this large travels as an out-of-band frame after the body.
LARGE = b"x" * 70_000


def test_a_call_with_an_out_of_band_frame_gets_its_error_for_every_client():
    # The broker once salvaged the msgid of an error from the last frame: with
    # an out-of-band frame that is the argument's bytes, the error went out
    # with msgid 0, and a pipeline or asyncio caller waited out its timeout.
    import asyncio

    import broker.aio

    with start() as running:
        with broker.connect(running.endpoint, timeout=10) as proxy:
            with pytest.raises(broker.HostNotFound):
                proxy.call("maya/echo", LARGE)
            with proxy.rpc.pipeline() as pipeline:
                pending = pipeline.call("maya/echo", LARGE)
                assert isinstance(pending.exception(), broker.HostNotFound)

        async def through_asyncio():
            async with broker.aio.connect(running.endpoint, timeout=10) as aproxy:
                with pytest.raises(broker.HostNotFound):
                    await aproxy.call("maya/echo", LARGE)

        asyncio.run(through_asyncio())


def test_a_client_with_another_users_key_is_unauthorized_whatever_it_uses(stranger_key):
    import asyncio

    import broker.aio

    with start() as running:
        with broker.connect(running.endpoint, timeout=10, auth=stranger_key) as proxy:
            with pytest.raises(broker.Unauthorized, match="keys differ"):
                proxy.call("rpc.ping")
            with proxy.rpc.pipeline() as pipeline:
                pending = pipeline.call("maya/echo", LARGE)
                assert isinstance(pending.exception(), broker.Unauthorized)

        async def through_asyncio():
            async with broker.aio.connect(
                running.endpoint, timeout=10, auth=stranger_key
            ) as aproxy:
                with pytest.raises(broker.Unauthorized):
                    await aproxy.call("rpc.ping")

        asyncio.run(through_asyncio())


def test_an_attached_ui_hears_a_host_go_silent_then_get_lost(release):
    import ui_adapter

    seen: list = []

    def note(kind):
        return lambda info: seen.append((kind, info["state"]))

    with start() as running, serve(running.endpoint, release) as host:
        with ui_adapter.attach(
            broker=running.endpoint,
            heartbeat_interval=INTERVAL,
            on_host_silent=note("silent"),
            on_host_back=note("back"),
            on_host_lost=note("lost"),
        ):
            wait_until(lambda: running.registry.state_of(host.id) == "idle", message="idle")
            announcer = host._node._announcer
            announcer.stop(depart=False)  # its Python falls silent
            wait_until(lambda: seen == [("silent", "silent")], timeout=5, message="silent")
            host._node.server.stop()  # its endpoint closes: as if it died
            wait_until(lambda: seen[-1:] == [("lost", "lost")], timeout=5, message="lost")
            assert [kind for kind, _ in seen] == ["silent", "lost"]
