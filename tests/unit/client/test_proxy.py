"""Proxies against a real in-process server: calls, errors, timeouts, help."""

from __future__ import annotations

import pydoc
import threading
import time

import pytest

import broker
from broker.errors import HostLost
from broker.wire.codec import Codec
from tests.conftest import curve_server


class Calculator:
    def add(self, a, b):
        """Add two numbers."""
        return a + b

    def greet(self, name, punctuation="!"):
        return f"hello {name}{punctuation}"

    def hold(self, seconds):
        """Wait up to ``seconds`` for the test to release us."""
        return RELEASE.wait(seconds)

    def fail(self, message):
        raise KeyError(message)

    def echo(self, value):
        return value


RELEASE = threading.Event()


@pytest.fixture
def endpoint():
    RELEASE.clear()
    # A TCP endpoint, so CURVE with the user's key: what a client meets by default.
    with curve_server(Calculator(), name="calc") as server:
        yield server.endpoint
        RELEASE.set()


@pytest.fixture
def proxy(endpoint):
    with broker.connect(endpoint, timeout=5) as p:
        yield p


def test_call_by_attribute_and_by_name(proxy):
    assert proxy.add(5, 10) == 15
    assert proxy.call("add", 1, 2) == 3
    assert proxy.greet("Ada", punctuation="?") == "hello Ada?"
    assert proxy.call("rpc.ping")["name"] == "calc"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1,
        2**63 - 1,
        1.5,
        "",
        "ünïcødé",
        b"\x00\xff",
        [],
        {},
        [1, [2, [3]]],
        {"nested": {"list": [None, b"raw", {"x": 1.0}]}},
        b"x" * 200_000,
    ],
)
def test_values_round_trip(proxy, value):
    assert proxy.echo(value) == value


def test_tuples_arrive_as_lists_and_sets_as_lists(proxy):
    assert proxy.echo((1, 2)) == [1, 2]
    assert sorted(proxy.echo({3, 1, 2})) == [1, 2, 3]


def test_remote_exception_shows_type_message_and_traceback(proxy):
    with pytest.raises(broker.RemoteError) as info:
        proxy.fail("missing-key")
    error = info.value
    assert type(error) is broker.RemoteError
    assert error.exception == "builtins.KeyError"
    assert "missing-key" in error.message
    assert "in fail" in error.remote_traceback
    text = str(error)
    assert "fail at tcp://127.0.0.1:" in text and "Remote traceback" in text


def test_unknown_method_and_wrong_arguments(proxy):
    with pytest.raises(broker.MethodNotFound, match="nope"):
        proxy.nope()
    with pytest.raises(broker.InvalidParams):
        proxy.add(1)
    with pytest.raises(broker.InvalidParams):
        proxy.add(1, 2, c=3)


def test_timeout_then_the_same_proxy_works(proxy):
    started = time.monotonic()
    with pytest.raises(broker.CallTimeout, match="no reply within 0.2 s"):
        proxy.rpc.with_timeout(0.2).hold(30)
    assert time.monotonic() - started < 5
    RELEASE.set()  # the held call ends; its late reply must not confuse the next call
    assert proxy.add(2, 2) == 4
    assert proxy.add(3, 3) == 6


def test_timeout_none_waits(proxy):
    threading.Timer(0.2, RELEASE.set).start()
    assert proxy.rpc.with_timeout(None).hold(30) is True


def test_nobody_listening_times_out(endpoint):
    with (
        broker.connect("tcp://127.0.0.1:1", timeout=0.2) as p,
        pytest.raises(broker.CallTimeout),
    ):
        p.add(1, 2)


def test_liveness_fails_a_waiting_call_at_once(endpoint):
    lost = threading.Event()

    def liveness():
        if lost.is_set():
            raise HostLost("gone")

    p = broker.Proxy(endpoint, timeout=30, liveness=liveness)
    threading.Timer(0.1, lost.set).start()
    started = time.monotonic()
    with pytest.raises(HostLost):
        p.hold(30)
    assert time.monotonic() - started < 2
    p.close()


def test_too_large_is_refused_before_sending(endpoint):
    small = Codec(max_message_size=1000)
    with broker.connect(endpoint, timeout=5, codec=small) as p:
        with pytest.raises(broker.MessageTooLarge):
            p.echo(b"x" * 2000)
        assert p.echo(b"small") == b"small"


def test_unencodable_argument_is_type_error(proxy):
    with pytest.raises(TypeError, match="cannot encode"):
        proxy.echo(object())
    assert proxy.add(1, 1) == 2


def test_closed_proxy(endpoint):
    p = broker.connect(endpoint, timeout=5)
    p.close()
    p.close()
    assert p.closed
    with pytest.raises(broker.Closed):
        p.add(1, 2)


def test_private_attributes_are_not_remote_calls(proxy):
    with pytest.raises(AttributeError):
        proxy._secret  # noqa: B018
    with pytest.raises(AttributeError):
        proxy.__wrapped__  # noqa: B018


def test_dir_and_help_show_remote_methods(proxy):
    names = dir(proxy)
    assert {"add", "greet", "hold", "fail", "echo"} <= set(names)
    text = pydoc.render_doc(proxy.greet, renderer=pydoc.plaintext)
    assert "greet(name, punctuation='!')" in text
    assert "Add two numbers." in pydoc.render_doc(proxy.add, renderer=pydoc.plaintext)


def test_thread_safety_many_threads_one_proxy(proxy):
    results = {}

    def worker(n):
        results[n] = [proxy.add(n, i) for i in range(50)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert results == {n: [n + i for i in range(50)] for n in range(4)}


def test_a_dropped_connection_fails_a_call_without_timeout():
    """With timeout=None, only the connection tells that no reply can come."""
    import subprocess
    import sys

    code = (
        "import sys, threading, time; sys.path.insert(0, sys.argv[1]); import host_adapter;"
        # The served function stands for a long main-thread call; nothing waits on it.
        "hold = lambda: time.sleep(60);"  # ok: simulated work, not a wait
        "a = host_adapter.serve({'hold': hold}, ui='ipc:///nonexistent/ui');"
        "print(a.endpoint, flush=True); threading.Event().wait()"
    )
    from tests.conftest import ROOT

    process = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        with broker.connect(endpoint, timeout=None) as p:
            threading.Timer(0.3, process.kill).start()
            started = time.monotonic()
            with pytest.raises(broker.HostLost, match="connection dropped"):
                p.hold()
            assert time.monotonic() - started < 5
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()


# -- views, and remote methods named like the proxy's own API ---------------------------


class Shadowing:
    """A host whose method names were the proxy's own attributes before ``proxy.rpc``."""

    def close(self):
        return "remote close"

    def call(self, what):
        return f"remote call {what}"

    def closed(self):
        return "remote closed"

    def host(self):
        return "remote host"

    def hosts(self):
        return "remote hosts"

    def timeout(self):
        return "remote timeout"

    def with_timeout(self, seconds=None):
        return "remote with_timeout" if seconds is None else f"remote with_timeout {seconds}"

    def pipeline(self):
        return "remote pipeline"

    def endpoint(self):
        return "remote endpoint"

    def target(self):
        return "remote target"

    def ls(self):
        return ["/a", "/b"]


SHADOWED = ["endpoint", "host", "hosts", "pipeline", "target", "timeout", "with_timeout"]


@pytest.fixture
def brokered():
    """A broker on loopback TCP with the host "nuke" (a Shadowing) behind it."""
    import host_adapter

    with broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.1) as running:
        with host_adapter.serve(
            Shadowing(), name="nuke", ui=running.endpoint, dispatcher=host_adapter.immediate
        ) as adapter:
            assert adapter.wait_connected(5)
            yield running.endpoint, adapter


def test_remote_methods_named_like_the_proxy_api_are_reached(brokered):
    endpoint, adapter = brokered
    with broker.connect(endpoint, timeout=5) as b:
        nuke = b.rpc.host("nuke")
        for name in SHADOWED:
            assert getattr(nuke, name)() == f"remote {name}", name
        assert nuke.with_timeout(3) == "remote with_timeout 3"
        # call, close and closed stay the proxy's; proxy.call reaches the remote ones.
        assert nuke.call("close") == "remote close"
        assert nuke.call("call", "x") == "remote call x"
        assert nuke.call("closed") == "remote closed"
        assert not nuke.closed and not b.closed
    with broker.connect(adapter.endpoint, timeout=5) as direct:
        assert direct.host() == "remote host" and direct.timeout() == "remote timeout"


def test_the_proxy_api_under_rpc_still_works(brokered):
    endpoint, adapter = brokered
    with broker.connect(endpoint, timeout=5) as b:
        assert (b.rpc.endpoint, b.rpc.target, b.rpc.timeout) == (endpoint, None, 5)
        assert [h["id"] for h in b.rpc.hosts()] == [adapter.id]
        assert b.rpc.ping()["role"] == "broker"
        nuke = b.rpc.host("nuke")
        assert (nuke.rpc.endpoint, nuke.rpc.target, nuke.rpc.timeout) == (endpoint, "nuke", 5)
        assert nuke.rpc.ping()["id"] == adapter.id  # through the view: the host's own
        names = [m["name"] for m in nuke.rpc.describe()["methods"]]
        assert names == sorted([*SHADOWED, "call", "close", "closed", "ls"])
        assert [h["id"] for h in nuke.rpc.hosts()] == [adapter.id]  # the broker's list
        slow = nuke.rpc.with_timeout(0.5)
        assert (slow.rpc.timeout, slow.rpc.target, nuke.rpc.timeout) == (0.5, "nuke", 5)
        assert slow.ls() == ["/a", "/b"]
        with nuke.rpc.pipeline(window=4) as pipeline:
            replies = [pipeline.host() for _ in range(8)]
        assert [reply.result() for reply in replies] == ["remote host"] * 8
        with pytest.raises(ValueError):
            b.rpc.host("a/b")


def test_dir_lists_remote_methods_and_the_four_proxy_names_only(brokered):
    endpoint, _ = brokered
    with broker.connect(endpoint, timeout=5) as b:
        names = dir(b.rpc.host("nuke"))
        assert names == sorted({*SHADOWED, "call", "close", "closed", "ls", "rpc"})
        assert not [name for name in names if name.startswith("_")]
        # The broker itself serves no methods of its own: just the proxy's names.
        assert dir(b) == ["call", "close", "closed", "rpc"]


def test_closing_a_view_leaves_its_parent_open(brokered):
    endpoint, _ = brokered
    with broker.connect(endpoint, timeout=5) as b:
        with b.rpc.host("nuke") as nuke:
            assert nuke.ls() == ["/a", "/b"]
        assert nuke.closed and not b.closed
        with pytest.raises(broker.Closed):
            nuke.ls()
        with pytest.raises(broker.Closed):
            nuke.rpc.ping()
        with b.rpc.with_timeout(1) as quick:
            assert quick.rpc.hosts()
        assert quick.closed and not b.closed
        assert b.rpc.host("nuke").ls() == ["/a", "/b"]  # the shared socket still works
        assert b.rpc.hosts()


def test_closing_the_parent_closes_every_view(brokered):
    endpoint, _ = brokered
    b = broker.connect(endpoint, timeout=5)
    nuke, quick = b.rpc.host("nuke"), b.rpc.with_timeout(1)
    assert nuke.ls() == ["/a", "/b"]
    b.close()
    assert nuke.closed and quick.closed
    with pytest.raises(broker.Closed):
        nuke.ls()
    with pytest.raises(broker.Closed):
        quick.rpc.hosts()
    with pytest.raises(broker.Closed):
        b.rpc.host("nuke")
