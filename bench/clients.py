"""The calling side of every system the bench compares, one process each.

    python -m bench.clients KIND ENDPOINT [OPTIONS_JSON]

measures what KIND supports and prints one JSON line::

    {"small": {"p50_us", "p99_us", "calls_per_s", "n"},
     "pipelined": {"calls_per_s", "n", "in_flight"},
     "bytes": {"mb_per_s", "mb", "n"},
     "context": {"calls_per_s", "n", "kb"}}

Every call is ``echo(value)``; every result is checked against what was sent
(outside the timed part where the check is expensive), so a broken system
cannot look fast. Each measurement stops at a call count or a time limit,
whichever comes first, so slow systems keep the bench short.
"""

from __future__ import annotations

import collections
import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from .context import publishing_context

MB = 1_000_000
IN_FLIGHT = 64

#: Defaults; the bench passes its own (``--quick`` makes them smaller).
OPTIONS: Dict[str, Any] = {
    "small_calls": 5000,
    "small_seconds": 2.0,
    "pipelined_calls": 30000,
    "pipelined_seconds": 2.0,
    "bytes_mb": 100,
    "bytes_echoes": 3,
    "context_calls": 200,
    "context_seconds": 2.0,
    "target": "",
    "auth": "auth",
    "measure": ["small", "pipelined", "bytes", "context"],
}


# -- measurements over any call function --------------------------------------------


def measure_small(call: Callable[[Any], Any], calls: int, seconds: float) -> Dict[str, Any]:
    """Sequential ``echo(1)``: latency percentiles and calls per second."""
    for _ in range(min(300, calls)):  # warm up connections, caches, code paths
        if call(1) != 1:
            raise AssertionError("echo(1) did not return 1")
    clock = time.perf_counter
    latencies: List[float] = []
    started = clock()
    deadline = started + seconds
    for _ in range(calls):
        before = clock()
        call(1)
        after = clock()
        latencies.append(after - before)
        if after > deadline:
            break
    elapsed = clock() - started
    latencies.sort()
    return {
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
        "calls_per_s": len(latencies) / elapsed,
        "n": len(latencies),
    }


def measure_bytes(call: Callable[[Any], Any], mb: float, echoes: int) -> Dict[str, Any]:
    """Echo ``mb`` megabytes of bytes ``echoes`` times (plus one warm-up)."""
    payload = bytes(range(256)) * int(mb * MB / 256)
    reply = call(payload)
    if len(reply) != len(payload) or bytes(reply) != payload:
        raise AssertionError("bytes echo returned different bytes")
    del reply
    started = time.perf_counter()
    for _ in range(echoes):
        reply = call(payload)
        if len(reply) != len(payload):
            raise AssertionError("bytes echo returned a different length")
        del reply
    elapsed = time.perf_counter() - started
    return {"mb_per_s": len(payload) * echoes / MB / elapsed, "mb": len(payload) / MB, "n": echoes}


def measure_context(call: Callable[[Any], Any], calls: int, seconds: float) -> Dict[str, Any]:
    """Echo a 1,000-instance publishing context (about 270 KB as msgpack)."""
    import msgpack

    context = publishing_context()
    if call(context) != context:
        raise AssertionError("context echo returned a different context")
    started = time.perf_counter()
    deadline = started + seconds
    done = 0
    while done < calls:
        call(context)
        done += 1
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    kb = len(msgpack.packb(context)) / 1000
    return {"calls_per_s": done / elapsed, "n": done, "kb": kb}


def _run(
    options: Dict[str, Any],
    call: Callable[[Any], Any],
    pipelined: Optional[Callable[[int, float], Dict[str, Any]]] = None,
    bytes_call: Optional[Callable[[Any], Any]] = None,
) -> Dict[str, Any]:
    results: Dict[str, Any] = {}
    wanted = options["measure"]
    if "small" in wanted:
        results["small"] = measure_small(call, options["small_calls"], options["small_seconds"])
    if "pipelined" in wanted and pipelined is not None:
        results["pipelined"] = pipelined(options["pipelined_calls"], options["pipelined_seconds"])
    if "bytes" in wanted:
        results["bytes"] = measure_bytes(
            bytes_call or call, options["bytes_mb"], options["bytes_echoes"]
        )
    if "context" in wanted:
        results["context"] = measure_context(
            call, options["context_calls"], options["context_seconds"]
        )
    return results


# -- raw pyzmq ------------------------------------------------------------------------------


def raw(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """REQ + msgpack envelope: the floor. DEALER with 64 in flight for pipelining."""
    import msgpack
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    socket.connect(endpoint)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    msgids = iter(range(1, 2**31))

    def call(value: Any) -> Any:
        socket.send(packb([0, next(msgids), "echo", [value]]))
        return unpackb(socket.recv())[3]

    def pipelined(calls: int, seconds: float) -> Dict[str, Any]:
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(endpoint)
        for i in range(100):  # warm up
            dealer.send_multipart([b"", packb([0, i, "echo", [i]])])
            dealer.recv_multipart()
        started = time.perf_counter()
        deadline = started + seconds
        sent = received = 0
        stopping = False
        while sent < min(IN_FLIGHT, calls):
            dealer.send_multipart([b"", packb([0, sent, "echo", [sent]])])
            sent += 1
        while received < sent:
            reply = unpackb(dealer.recv_multipart()[1])
            if reply[3] != reply[1]:
                raise AssertionError("pipelined echo mismatch")
            received += 1
            if not received % 256 and time.perf_counter() > deadline:
                stopping = True
            if sent < calls and not stopping:
                dealer.send_multipart([b"", packb([0, sent, "echo", [sent]])])
                sent += 1
        elapsed = time.perf_counter() - started
        dealer.close()
        return {"calls_per_s": received / elapsed, "n": received, "in_flight": IN_FLIGHT}

    try:
        return _run(options, call, pipelined)
    finally:
        socket.close()
        context.term()


def raw_bytes(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """REQ sending one raw frame, zero-copy both ways: the floor for large bytes."""
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    socket.connect(endpoint)

    def call(value: Any) -> Any:
        socket.send(value, copy=False)
        return socket.recv(copy=False).buffer

    try:
        return {"bytes": measure_bytes(call, options["bytes_mb"], options["bytes_echoes"])}
    finally:
        socket.close()
        context.term()


# -- this project --------------------------------------------------------------------------


def _connect_kwargs(options: Dict[str, Any]) -> Dict[str, Any]:
    return {"auth": False} if options["auth"] == "noauth" else {}


def project(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """``broker.connect``: sync calls, and ``proxy.rpc.pipeline()`` for pipelining."""
    import broker

    # The connected proxy owns the socket; a host view of it owns nothing.
    owner = proxy = broker.connect(endpoint, timeout=60, **_connect_kwargs(options))
    if options["target"]:
        proxy = _wait_for_target(owner, options["target"])

    def pipelined(calls: int, seconds: float) -> Dict[str, Any]:
        with proxy.rpc.pipeline(window=IN_FLIGHT) as warm:
            for i in range(100):
                warm.echo(i)
        started = time.perf_counter()
        deadline = started + seconds
        done = 0
        with proxy.rpc.pipeline(window=IN_FLIGHT) as pipeline:
            pending: collections.deque = collections.deque()
            while done < calls:
                pending.append((done, pipeline.echo(done)))
                done += 1
                if len(pending) > IN_FLIGHT:
                    sent, reply = pending.popleft()
                    if reply.result() != sent:
                        raise AssertionError("pipelined echo mismatch")
                if not done % 256 and time.perf_counter() > deadline:
                    break
            for sent, reply in pending:
                if reply.result() != sent:
                    raise AssertionError("pipelined echo mismatch")
        elapsed = time.perf_counter() - started
        return {"calls_per_s": done / elapsed, "n": done, "in_flight": IN_FLIGHT}

    echo = proxy.echo
    try:
        return _run(options, echo, pipelined)
    finally:
        owner.close()


def project_aio(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """``broker.aio.connect``: awaited calls, and 64 coroutines calling at once."""
    import asyncio

    import broker.aio

    async def measure() -> Dict[str, Any]:
        owner = proxy = broker.aio.connect(endpoint, timeout=60, **_connect_kwargs(options))
        if options["target"]:
            proxy = owner.rpc.host(options["target"])
        try:
            results: Dict[str, Any] = {}
            for _ in range(300):
                await proxy.echo(1)
            clock = time.perf_counter
            latencies: List[float] = []
            started = clock()
            deadline = started + options["small_seconds"]
            for _ in range(options["small_calls"]):
                before = clock()
                await proxy.echo(1)
                after = clock()
                latencies.append(after - before)
                if after > deadline:
                    break
            elapsed = clock() - started
            latencies.sort()
            results["small"] = {
                "p50_us": latencies[len(latencies) // 2] * 1e6,
                "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
                "calls_per_s": len(latencies) / elapsed,
                "n": len(latencies),
            }
            calls = options["pipelined_calls"]
            stop_at = time.perf_counter() + options["pipelined_seconds"]
            counter = iter(range(calls))
            done = [0]
            stopping = [False]

            async def worker() -> None:
                for n in counter:
                    if await proxy.echo(n) != n:
                        raise AssertionError("pipelined echo mismatch")
                    done[0] += 1
                    if not n % 256 and time.perf_counter() > stop_at:
                        stopping[0] = True
                    if stopping[0]:
                        return

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
            elapsed = time.perf_counter() - started
            results["pipelined"] = {
                "calls_per_s": done[0] / elapsed,
                "n": done[0],
                "in_flight": IN_FLIGHT,
            }
            return results
        finally:
            owner.close()

    return asyncio.run(measure())


def _wait_for_target(proxy: Any, target: str) -> Any:
    """Through a broker: wait (bounded) until the host has announced itself."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(host.get("name") == target for host in proxy.rpc.hosts()):
            return proxy.rpc.host(target)
        time.sleep(0.05)  # polling the broker's registry, bounded by the deadline
    raise AssertionError(f"host {target!r} never announced itself to the broker")


# -- other libraries --------------------------------------------------------------------


def xmlrpc(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """stdlib ``xmlrpc.client`` (HTTP/1.1 keep-alive). No pipelining."""
    import xmlrpc.client

    proxy = xmlrpc.client.ServerProxy(endpoint, allow_none=True, use_builtin_types=True)
    try:
        return _run(options, proxy.echo)
    finally:
        proxy("close")()


def zerorpc(endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """zerorpc (gevent): sync calls, and ``async=True`` (AsyncResult) with 64 in flight."""
    import zerorpc as _zerorpc

    client = _zerorpc.Client(timeout=60, heartbeat=None)
    client.connect(endpoint)

    def pipelined(calls: int, seconds: float) -> Dict[str, Any]:
        started = time.perf_counter()
        deadline = started + seconds
        done = 0
        pending: collections.deque = collections.deque()
        while done < calls:
            pending.append((done, client.echo(done, **{"async": True})))
            done += 1
            if len(pending) >= IN_FLIGHT:
                sent, result = pending.popleft()
                if result.get() != sent:
                    raise AssertionError("pipelined echo mismatch")
            if not done % 256 and time.perf_counter() > deadline:
                break
        for sent, result in pending:
            if result.get() != sent:
                raise AssertionError("pipelined echo mismatch")
        elapsed = time.perf_counter() - started
        return {"calls_per_s": done / elapsed, "n": done, "in_flight": IN_FLIGHT}

    try:
        return _run(options, client.echo, pipelined)
    finally:
        client.close()


# -- small calls, interleaved ------------------------------------------------------------


def _raw_caller(endpoint: str, options: Dict[str, Any]) -> Any:
    import msgpack
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    socket.connect(endpoint)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    msgids = iter(range(1, 2**31))

    def call(value: Any) -> Any:
        socket.send(packb([0, next(msgids), "echo", [value]]))
        return unpackb(socket.recv())[3]

    def close() -> None:
        socket.close()
        context.term()

    return call, close


def _project_caller(endpoint: str, options: Dict[str, Any]) -> Any:
    import broker

    owner = proxy = broker.connect(endpoint, timeout=60, **_connect_kwargs(options))
    if options.get("target"):
        proxy = _wait_for_target(owner, options["target"])
    return proxy.echo, owner.close


CALLERS = {"raw": _raw_caller, "project": _project_caller}


def interleaved(_endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Small calls to several systems from one process, in alternating batches.

    The machine's speed drifts (other processes, frequency, the hypervisor):
    measured one after another, a floor and a system can land in different
    moments and their ratio in noise. In batches taken in turn, every system
    sees the same moments. Returns ``{key: {"small": {...}}}``.
    """
    clock = time.perf_counter
    callers = {}
    try:
        for key, kind, endpoint, extra in options["targets"]:
            callers[key] = CALLERS[kind](endpoint, dict(OPTIONS, **extra))
        keys = list(callers)
        for key in keys:
            for _ in range(300):  # warm up
                if callers[key][0](1) != 1:
                    raise AssertionError(f"{key}: echo(1) did not return 1")
        samples: Dict[str, List[float]] = {key: [] for key in keys}
        batches, size = options["batches"], options["batch"]
        for batch in range(batches):
            shift = batch % len(keys)
            for key in keys[shift:] + keys[:shift]:
                call, latencies = callers[key][0], samples[key]
                for _ in range(size):
                    before = clock()
                    call(1)
                    latencies.append(clock() - before)
    finally:
        for _, close in callers.values():
            close()
    results = {}
    for key, latencies in samples.items():
        total = sum(latencies)
        latencies.sort()
        results[key] = {
            "small": {
                "p50_us": latencies[len(latencies) // 2] * 1e6,
                "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
                "calls_per_s": len(latencies) / total,
                "n": len(latencies),
                "interleaved": True,
            }
        }
    return results


# -- liveness ---------------------------------------------------------------------------


def liveness(_endpoint: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """A UI with 0.1 s heartbeats; host processes killed with SIGKILL, or
    stopped with SIGSTOP (the harder case: the process keeps its sockets
    open); how long from each signal until the UI reports that host lost.

    Each host is hit at a random moment of its heartbeat cycle (a host dies
    whenever it dies): ``kills`` times each way, a fresh host each time.
    """
    import random
    import signal
    import subprocess
    import threading

    import ui_adapter

    interval = 0.1
    lost = threading.Event()
    noticed: Dict[str, List[float]] = {"kills": [], "stops": []}
    with ui_adapter.listen(
        endpoint="tcp://127.0.0.1:*",
        heartbeat_interval=interval,
        on_host_lost=lambda info: lost.set(),
    ) as ui:
        for _ in range(options.get("kills", 3)):
            for kind, signum in (("kills", signal.SIGKILL), ("stops", signal.SIGSTOP)):
                lost.clear()
                host = subprocess.Popen(
                    [sys.executable, "-m", "bench.servers", "host", ui.endpoint],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    ui.wait_for_host("bench", timeout=20)
                    # Past the announce, into the steady heartbeat cycle; then
                    # a random phase of it.
                    time.sleep(2 * interval + random.uniform(0, interval))  # a chosen moment
                    hit = time.monotonic()
                    host.send_signal(signum)
                    if not lost.wait(10 * interval * 3):
                        raise AssertionError(f"the UI never noticed the host ({kind})")
                    noticed[kind].append(time.monotonic() - hit)
                finally:
                    host.kill()
                    host.wait(10)
    return {"interval_s": interval, **noticed}


KINDS: Dict[str, Callable[[str, Dict[str, Any]], Dict[str, Any]]] = {
    "raw": raw,
    "raw-bytes": raw_bytes,
    "project": project,
    "project-aio": project_aio,
    "xmlrpc": xmlrpc,
    "zerorpc": zerorpc,
    "liveness": liveness,
    "interleaved": interleaved,
}


def main(argv: List[str]) -> None:
    kind, endpoint, *rest = argv
    options = dict(OPTIONS, **(json.loads(rest[0]) if rest else {}))
    print(json.dumps(KINDS[kind](endpoint, options)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
