"""What a remote publish costs: 200 instances x 5 plug-ins, in-process against over the wire.

    python bench/bench_publish.py [--instances 200] [--repeat 3]

One collector creates the instances; five instance plug-ins (two
validators, two extractors, an integrator) each touch every instance:
1,000 plug-in/instance pairs plus the collector. The host runs in its own
process and runs every call on its main thread (a MainThreadQueue pumped
from its loop, as a DCC would); the UI side is this process.

Rows:

- in-process: ``pyblish.util.publish()``, no service, no transport;
- service, no transport: the same publish through PyblishService.start/next
  called in-process (what formatting results and finding changes cost);
- direct, 1 pair/call: ``ui_adapter.pyblish.publisher.Publisher`` against the host's
  own endpoint, one round trip per pair;
- direct, batched: the same with ``budget=0.05`` (up to 50 ms of pairs per
  round trip; results still arrive in order, a batch at a time);
- XML-RPC-era calls: the old UI's pattern over the same transport (msgpack,
  not XML): pairs chosen on the UI side, then ``test`` + ``process`` +
  ``context`` per pair, the whole context each time;
- broker, 1 pair/call: through a standalone broker process (``python -m
  broker serve``), when the broker exists.

Each row is the best of ``--repeat`` runs (each run: reset, collect, publish).
"overhead/pair" is the row's time per pair minus in-process time per pair;
"trips/pair" counts every service call (reset, discover, context, start…)
over the pairs processed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyblish.api  # noqa: E402
import pyblish.logic  # noqa: E402
import pyblish.util  # noqa: E402

INSTANCES_ENV = "BENCH_PUBLISH_INSTANCES"


class CollectMany(pyblish.api.ContextPlugin):
    order = pyblish.api.CollectorOrder

    def process(self, context):
        count = int(os.environ.get(INSTANCES_ENV, "200"))
        context.data["project"] = {"name": "bench", "fps": 25, "resolution": (1920, 1080)}
        for index in range(count):
            family = ("model", "rig", "animation", "camera")[index % 4]
            name = f"{family}{index:04d}"
            instance = context.create_instance(name, family=family)
            instance.data.update(
                families=[family, "review"],
                label=f"{name} ({family})",
                subset=f"{family}Main",
                frameStart=1001,
                frameEnd=1001 + index % 240,
                publish=True,
                tags={"bench", family},
                attributes={"visible": True, "scale": [1.0, 1.0, 1.0]},
            )
            instance.append(f"|{name}_GRP")


def _step(key: str) -> Callable[[Any, Any], None]:
    def process(self: Any, instance: Any) -> None:
        instance.data[key] = instance.data["frameEnd"] - instance.data["frameStart"]

    return process


def _plugin(name: str, order: float, key: str) -> type:
    return type(name, (pyblish.api.InstancePlugin,), {"order": order, "process": _step(key)})


PLUGINS = [
    CollectMany,
    _plugin("ValidateFrames", pyblish.api.ValidatorOrder, "framesChecked"),
    _plugin("ValidateNames", pyblish.api.ValidatorOrder + 0.1, "namesChecked"),
    _plugin("ExtractCache", pyblish.api.ExtractorOrder, "cacheFrames"),
    _plugin("ExtractReview", pyblish.api.ExtractorOrder + 0.1, "reviewFrames"),
    _plugin("IntegrateAsset", pyblish.api.IntegratorOrder, "integratedFrames"),
]


def install() -> None:
    pyblish.api.deregister_all_paths()
    pyblish.api.deregister_all_plugins()
    for plugin in PLUGINS:
        pyblish.api.register_plugin(plugin)


# -- the host process -------------------------------------------------------------------


def run_host(ui_endpoint: str) -> None:
    import signal

    import host_adapter
    from host_adapter.pyblish import PyblishService

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    install()
    queue = host_adapter.MainThreadQueue()
    with host_adapter.serve(
        PyblishService(), name="bench", ui=ui_endpoint, dispatcher=queue, heartbeat_interval=0.2
    ) as adapter:
        print(adapter.endpoint, flush=True)
        print(adapter.id, flush=True)
        while True:  # the DCC's loop; the benchmark kills this process when done
            queue.wait_for_calls(timeout=0.5)
            queue.process_pending(budget=None)


class Child:
    """A helper process whose first lines are its endpoints."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )

    def line(self) -> str:
        assert self.popen.stdout is not None
        text = self.popen.stdout.readline()
        if not text:
            raise RuntimeError(f"helper {self.popen.args} exited")
        return text.strip()

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


# -- the measured publishes -------------------------------------------------------------


def publish_in_process() -> Tuple[int, int]:
    context = pyblish.util.publish()
    return len(context.data["results"]), 0


def publish_with_service(service: Any) -> Tuple[int, int]:
    from ui_adapter.pyblish.publisher import Publisher

    publisher = Publisher(service)
    return sum(1 for _ in publisher.publish()), 0


def publisher_run(host: Any, **options: Any) -> Tuple[int, int]:
    from ui_adapter.pyblish.publisher import Publisher

    before = host.stats()["totalRequestCount"] + 1  # this stats call counts itself
    pairs = sum(1 for _ in Publisher(host, **options).publish())
    trips = host.stats()["totalRequestCount"] - before
    return pairs, trips


def xmlrpc_era_run(host: Any) -> Tuple[int, int]:
    """The XML-RPC UI's pattern: choose pairs here, then test + process + context each."""
    before = host.stats()["totalRequestCount"] + 1
    host.reset()
    plugins = host.discover()
    context = host.context()
    state: Dict[str, Any] = {"nextOrder": None, "ordersWithError": []}
    pairs = 0
    for plugin in plugins:
        state["nextOrder"] = plugin["order"]
        targets = (
            [None] if not plugin["instanceEnabled"] else [i["id"] for i in context["children"]]
        )
        for instance in targets:
            if host.test(state):  # the old UI asked before every pair
                return pairs, host.stats()["totalRequestCount"] - before
            result = host.process(plugin["id"], instance)
            context = host.context()
            pairs += 1
            if result["error"] and plugin["order"] not in state["ordersWithError"]:
                state["ordersWithError"].append(plugin["order"])
    return pairs, host.stats()["totalRequestCount"] - before


def floor_us(host: Any, calls: int = 1000) -> float:
    """Microseconds of a no-op service call (ping) through the host's main thread."""
    started = time.perf_counter()
    for _ in range(calls):
        host.ping()
    return (time.perf_counter() - started) / calls * 1e6


def best_of(repeat: int, run: Callable[[], Tuple[int, int]]) -> Tuple[float, int, int]:
    best = float("inf")
    pairs = trips = 0
    for _ in range(repeat):
        started = time.perf_counter()
        pairs, trips = run()
        best = min(best, time.perf_counter() - started)
    return best, pairs, trips


def table(rows: List[Tuple[str, float, int, int]], baseline: float) -> str:
    header = ("mode", "pairs", "total ms", "µs/pair", "overhead/pair", "trips", "trips/pair")
    lines = [header]
    for mode, seconds, pairs, trips in rows:
        per_pair = seconds / pairs * 1e6
        lines.append(
            (
                mode,
                str(pairs),
                f"{seconds * 1e3:.1f}",
                f"{per_pair:.0f}",
                "-" if mode == "in-process" else f"{per_pair - baseline:+.0f} µs",
                str(trips) if trips else "-",
                f"{trips / pairs:.3f}" if trips else "-",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(width) if column == 0 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(line, widths))
            )
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-broker", action="store_true", help="leave the broker row out")
    parser.add_argument("--host-process", metavar="UI_ENDPOINT", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    os.environ[INSTANCES_ENV] = str(options.instances)
    if options.host_process:
        run_host(options.host_process)
        return 0

    import tempfile

    import broker
    from host_adapter.pyblish import PyblishService

    install()
    rows: List[Tuple[str, float, int, int]] = []
    rows.append(("in-process", *best_of(options.repeat, publish_in_process)))
    service = PyblishService()
    rows.append(
        ("service, no transport", *best_of(options.repeat, lambda: publish_with_service(service)))
    )

    floors: Dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        nobody = f"ipc://{scratch}/nobody.sock"
        host = Child(__file__, "--host-process", nobody)
        try:
            endpoint = host.line()
            with broker.connect(endpoint, timeout=60) as proxy:
                rows.append(
                    ("direct, 1 pair/call", *best_of(options.repeat, lambda: publisher_run(proxy)))
                )
                rows.append(
                    (
                        "direct, batched 50 ms",
                        *best_of(
                            options.repeat, lambda: publisher_run(proxy, limit=10_000, budget=0.05)
                        ),
                    )
                )
                rows.append(("XML-RPC-era calls", *best_of(1, lambda: xmlrpc_era_run(proxy))))
                floors["direct"] = min(floor_us(proxy) for _ in range(options.repeat))
        finally:
            host.stop()
        if not options.no_broker:
            rows.extend(broker_rows(options.repeat, floors))

    baseline = rows[0][1] / rows[0][2] * 1e6
    print(
        f"publish of {options.instances} instances x 5 plug-ins (+1 collector), "
        f"best of {options.repeat}; host in its own process, calls on its main thread\n"
    )
    print(table(rows, baseline))
    print(
        "\nround-trip floor, a no-op call (ping) through the host's main thread: "
        + ", ".join(f"{where} {us:.0f} µs" for where, us in floors.items())
    )
    return 0


def broker_rows(repeat: int, floors: Dict[str, float]) -> List[Tuple[str, float, int, int]]:
    try:
        from broker.relay.broker import Broker  # noqa: F401 - only to know it exists
    except ImportError:
        print("(no broker/broker.py: broker row left out)\n")
        return []
    import broker

    standalone = Child("-m", "broker", "serve", "--bind", "tcp://127.0.0.1:*", "--heartbeat", "0.2")
    host: Optional[Child] = None
    try:
        endpoint = standalone.line().split()[3].rstrip(",")  # "broker listening at EP (...)"
        host = Child(__file__, "--host-process", endpoint)
        host.line()
        host_id = host.line()
        with broker.connect(endpoint, timeout=60) as proxy:
            for _ in range(500):  # until the broker knows the host: bounded, 10 s at most
                if any(info["id"] == host_id for info in proxy.rpc.hosts()):
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError("the host never registered with the broker")
            bench = proxy.rpc.host(host_id)
            rows = [("broker, 1 pair/call", *best_of(repeat, lambda: publisher_run(bench)))]
            floors["broker"] = min(floor_us(bench) for _ in range(repeat))
            return rows
    finally:
        if host is not None:
            host.stop()
        standalone.stop()


if __name__ == "__main__":
    sys.exit(main())
