"""broker.aio: the asyncio proxy, against a real server and a scripted one.

pytest-asyncio is not needed: each test runs its coroutine with asyncio.run.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import zmq

import broker
import broker.aio
from broker.errors import HostLost
from broker.serve.server import Server
from broker.serve.service import as_service
from broker.wire.codec import Codec
from tests.conftest import curve_server, sockets
from tests.helpers.rawserver import RawServer, batches_of, echo_args, never

BIG = bytes(range(256)) * 1024


class Service:
    def add(self, a, b=0):
        """Add two numbers."""
        return a + b

    def fail(self, message):
        raise KeyError(message)

    def echo(self, value):
        return value


@pytest.fixture
def endpoint():
    context = zmq.Context()
    srv = Server(as_service(Service()), sockets=sockets(context), name="calc").start()
    yield srv.endpoint
    srv.stop()
    context.term()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_calls_by_attribute_and_by_name(endpoint):
    async def main():
        async with broker.aio.connect(endpoint, timeout=5, auth=False) as proxy:
            assert await proxy.add(5, 10) == 15
            assert await proxy.add(1, b=2) == 3
            assert await proxy.call("add", 2, 2) == 4
            assert (await proxy.call("rpc.ping"))["name"] == "calc"
            assert await proxy.echo({"list": [1, None, b"raw"]}) == {"list": [1, None, b"raw"]}
        assert proxy.closed

    run(main())


def test_many_calls_in_flight_each_gets_its_own_reply(endpoint):
    async def main():
        async with broker.aio.connect(endpoint, timeout=5, auth=False) as proxy:
            results = await asyncio.gather(*(proxy.add(i, i) for i in range(500)))
            assert results == [2 * i for i in range(500)]

    run(main())


def test_replies_out_of_order_are_matched_by_msgid():
    # The server answers only when 10 requests wait, last first: the calls
    # really are in flight together, and each still gets its own result.
    async def main(raw):
        async with broker.aio.connect(raw.endpoint, timeout=5, auth=False) as proxy:
            return await asyncio.gather(*(proxy.echo(i) for i in range(30)))

    with RawServer(batches_of(10)) as raw:
        assert run(main(raw)) == list(range(30))


def test_remote_errors(endpoint):
    async def main():
        async with broker.aio.connect(endpoint, timeout=5, auth=False) as proxy:
            with pytest.raises(broker.RemoteError) as info:
                await proxy.fail("missing-key")
            assert info.value.exception == "builtins.KeyError"
            assert "in fail" in info.value.remote_traceback
            with pytest.raises(broker.MethodNotFound):
                await proxy.nope()
            with pytest.raises(broker.InvalidParams):
                await proxy.add()
            assert await proxy.add(1) == 1  # errors do not break the proxy

    run(main())


def test_timeout_then_the_late_reply_is_dropped():
    async def main(raw):
        async with broker.aio.connect(raw.endpoint, timeout=0.2, auth=False) as proxy:
            with pytest.raises(broker.CallTimeout, match="hold at .* no reply within 0.2 s"):
                await proxy.hold()
            # "release" makes the server answer "hold" late, then "release".
            assert await proxy.rpc.with_timeout(5).release() == "released"

    with RawServer(never) as raw:
        run(main(raw))
        assert [r.method for r in raw.received] == ["hold", "release"]


def test_timeout_none_waits_and_other_calls_go_past(endpoint):
    gate = threading.Event()
    context = zmq.Context()
    srv = Server(
        as_service({"wait": lambda: gate.wait(30), "one": lambda: 1}), sockets=sockets(context)
    ).start()

    async def main():
        async with broker.aio.connect(srv.endpoint, timeout=None, auth=False) as proxy:
            waiting = asyncio.ensure_future(proxy.wait())
            for _ in range(1000):  # until the wait runs: pings go past it meanwhile
                if (await proxy.call("rpc.ping"))["state"] == "busy":
                    break
                await asyncio.sleep(0.01)  # polling interval
            else:
                raise AssertionError("the server never ran the waiting call")
            assert not waiting.done()
            gate.set()
            assert await waiting is True

    try:
        run(main())
    finally:
        gate.set()
        srv.stop()
        context.term()


def test_errors_before_sending(endpoint):
    async def main():
        small = Codec(max_message_size=1000)
        async with broker.aio.connect(endpoint, timeout=5, codec=small, auth=False) as proxy:
            with pytest.raises(broker.MessageTooLarge):
                await proxy.echo(b"x" * 2000)
            with pytest.raises(TypeError, match="cannot encode"):
                await proxy.echo(object())
            assert await proxy.echo(b"small") == b"small"

    run(main())


def test_close_fails_waiting_calls_and_later_ones():
    async def main(raw):
        proxy = broker.aio.connect(raw.endpoint, timeout=30, auth=False)
        waiting = asyncio.ensure_future(proxy.hold())
        while not raw.received:  # bounded by the 30 s wait_for in run()
            await asyncio.sleep(0.01)  # polling for the server to see it
        proxy.close()
        proxy.close()
        with pytest.raises(broker.Closed):
            await waiting
        with pytest.raises(broker.Closed):
            await proxy.add(1, 2)

    with RawServer(never) as raw:
        run(main(raw))


def test_cancelled_call_does_not_disturb_the_others():
    async def main(raw):
        async with broker.aio.connect(raw.endpoint, timeout=5, auth=False) as proxy:
            held = asyncio.ensure_future(proxy.hold())
            while not raw.received:
                await asyncio.sleep(0.01)  # polling for the server to see it
            held.cancel()
            with pytest.raises(asyncio.CancelledError):
                await held
            assert await proxy.release() == "released"

    with RawServer(never) as raw:
        run(main(raw))


def test_lost_host_fails_the_waiting_call():
    lost = threading.Event()

    def liveness():
        if lost.is_set():
            raise HostLost("gone")

    async def main(raw):
        proxy = broker.aio.AsyncProxy(raw.endpoint, timeout=30, auth=False, liveness=liveness)
        try:
            waiting = asyncio.ensure_future(proxy.hold())
            while not raw.received:
                await asyncio.sleep(0.01)  # polling for the server to see it
            lost.set()
            with pytest.raises(HostLost):
                await waiting
            with pytest.raises(HostLost):
                await proxy.add(1, 2)
        finally:
            proxy.close()

    with RawServer(never) as raw:
        run(main(raw))


def test_host_view_and_hosts_through_a_broker():
    def handler(server, envelope, request):
        if request.method == "rpc.hosts":
            server.reply(envelope, request.msgid, [{"name": "maya", "state": "idle"}])
        else:
            echo_args(server, envelope, request)

    async def main(raw):
        async with broker.aio.connect(raw.endpoint, timeout=5, auth=False) as proxy:
            assert await proxy.rpc.hosts() == [{"name": "maya", "state": "idle"}]
            maya = proxy.rpc.host("maya")
            assert await maya.add(7) == 7
            assert await maya.call("rpc.ping", 1) == 1
            with pytest.raises(ValueError):
                proxy.rpc.host("a/b")

    with RawServer(handler) as raw:
        run(main(raw))
        assert [r.method for r in raw.received] == ["rpc.hosts", "maya/add", "maya/rpc.ping"]


def test_remote_methods_named_like_the_proxy_api_and_views_that_own_nothing():
    def handler(server, envelope, request):
        if request.method.endswith("rpc.ping"):
            server.reply(envelope, request.msgid, {"name": "raw"})
        else:
            server.reply(envelope, request.msgid, request.method)

    async def main(raw):
        async with broker.aio.connect(raw.endpoint, timeout=5, auth=False) as proxy:
            for name in ("host", "hosts", "timeout", "with_timeout", "endpoint", "target"):
                assert await getattr(proxy, name)() == name
            assert await proxy.call("close") == "close"
            assert (proxy.rpc.endpoint, proxy.rpc.target, proxy.rpc.timeout) == (
                raw.endpoint,
                None,
                5,
            )
            assert (await proxy.rpc.ping())["name"] == "raw"
            assert "_channel" not in dir(proxy) and "rpc" in dir(proxy)
            maya = proxy.rpc.host("maya")
            assert (maya.rpc.target, maya.rpc.with_timeout(1).rpc.timeout) == ("maya", 1)
            async with maya:
                assert await maya.call("close") == "maya/close"
            assert maya.closed and not proxy.closed
            with pytest.raises(broker.Closed):
                await maya.ls()
            assert await proxy.rpc.host("maya").ls() == "maya/ls"
            quick = proxy.rpc.with_timeout(1)
        assert proxy.closed and quick.closed
        with pytest.raises(broker.Closed):
            await quick.ls()

    with RawServer(handler) as raw:
        run(main(raw))


def test_large_values_arrive_zero_copy_over_curve_and_a_refused_key_is_said(stranger_key):
    async def main(endpoint):
        async with broker.aio.connect(endpoint, timeout=5) as proxy:
            big, small = await asyncio.gather(proxy.echo(BIG), proxy.add(1, 2))
            assert isinstance(big, memoryview) and big == BIG and small == 3
        async with broker.aio.connect(endpoint, timeout=5, auth=stranger_key) as proxy:
            with pytest.raises(broker.Unauthorized, match="keys differ"):
                await proxy.add(1, 2)
        async with broker.aio.connect(endpoint, timeout=5, auth=False) as proxy:
            with pytest.raises(broker.Unauthorized, match="authentication off"):
                await proxy.add(1, 2)

    with curve_server(Service()) as srv:
        run(main(srv.endpoint))


def test_importing_broker_does_not_import_asyncio():
    import subprocess
    import sys

    code = "import sys, broker; print('asyncio' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "False"
