"""Run every comparison, print the table and the performance budgets, write JSON.

    python -m bench                 # 3 rounds, about two minutes on 2 cores
    python -m bench --rounds 1 --quick

Each system runs as a server process and a client process (and a broker
process in brokered mode), started afresh for every round; rounds go
through the systems in turn, so a slow moment of the machine hits every
system instead of one. The table shows the median of the rounds and the
spread (half the range, as a percentage of the median); ratios compare
medians measured in this same run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results.json"
#: An endpoint nobody binds: a direct-mode host announces there in vain, cheaply.
NOWHERE = "tcp://127.0.0.1:9"
FOREIGN_BYTES_MB = 10


# -- processes ------------------------------------------------------------------------


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Server:
    """A ``python -m bench.servers`` process; its endpoints are read from stdout."""

    def __init__(self, kind: str, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bench.servers", kind, *args],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()  # the server prints it once bound
        if not line:
            self.stop()
            raise RuntimeError(f"server {kind} exited before serving")
        self.endpoints: Dict[str, str] = json.loads(line)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def run_client(kind: str, endpoint: str, options: Dict[str, Any], timeout: float = 120) -> Any:
    """Run ``python -m bench.clients`` and return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.clients", kind, endpoint, json.dumps(options)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"client {kind} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- what runs ------------------------------------------------------------------------


class System:
    """One row of the table: how to start its servers and which client measures it."""

    def __init__(
        self,
        key: str,
        label: str,
        client: str,
        measure: Sequence[str],
        options: Optional[Dict[str, Any]] = None,
        small: Optional[str] = None,
        shares: Optional[str] = None,
    ) -> None:
        self.key = key
        self.label = label
        self.client = client
        self.measure = list(measure)
        self.options = options or {}
        #: Caller kind whose small calls are measured interleaved with the
        #: floors (bench.clients.interleaved); None: in this system's own run.
        self.small = small
        #: Another system whose servers this one calls (the same host for
        #: broker.connect and broker.aio), instead of starting its own.
        self.shares = shares

    def start(self) -> Tuple[List[Server], str]:
        raise NotImplementedError


class Single(System):
    def __init__(
        self,
        key: str,
        label: str,
        client: str,
        measure: Sequence[str],
        server: Sequence[str],
        **kw: Any,
    ) -> None:
        super().__init__(key, label, client, measure, **kw)
        self.server = list(server)

    def start(self) -> Tuple[List[Server], str]:
        server = Server(*self.server)
        return [server], server.endpoints["endpoint"]


class BehindProxy(System):
    """REQ → ``zmq.proxy`` (ROUTER/DEALER) → REP: the floor for a broker."""

    def __init__(
        self, key: str, label: str, client: str, measure: Sequence[str], backend: str, **kw: Any
    ) -> None:
        super().__init__(key, label, client, measure, **kw)
        self.backend = backend

    def start(self) -> Tuple[List[Server], str]:
        proxy = Server("raw-proxy")
        try:
            backend = Server(self.backend, proxy.endpoints["backend"])
        except BaseException:
            proxy.stop()
            raise
        return [backend, proxy], proxy.endpoints["endpoint"]


class Brokered(System):
    """This project's broker, one host announcing to it, clients calling bench/echo."""

    def __init__(
        self, key: str, label: str, client: str, measure: Sequence[str], auth: str, **kw: Any
    ) -> None:
        super().__init__(key, label, client, measure, **kw)
        self.auth = auth
        self.options = dict(self.options, target="bench", auth=auth)

    def start(self) -> Tuple[List[Server], str]:
        broker = Server("broker", self.auth)
        try:
            host = Server("host", broker.endpoints["endpoint"], self.auth)
        except BaseException:
            broker.stop()
            raise
        return [host, broker], broker.endpoints["endpoint"]


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _supports_auth_switch() -> bool:
    """Whether this checkout has the ``auth=`` switch (the auth-off variants)."""
    import inspect

    import broker

    return "auth" in inspect.signature(broker.connect).parameters


def _floors() -> List[System]:
    """Raw pyzmq over loopback TCP and over ipc: each row of this project is
    compared with the floor of its own transport."""
    rows: List[System] = []
    for transport, where in (("", "tcp"), ("-ipc", "ipc")):
        rows += [
            Single(
                f"raw{transport}",
                f"raw REQ/REP + msgpack, {where} (floor)",
                "raw",
                ["small", "pipelined", "context"],
                ["raw-rep", "", where],
                small="raw",
            ),
            Single(
                f"raw-bytes{transport}",
                f"raw REQ/REP bytes, zero-copy, {where}",
                "raw-bytes",
                ["bytes"],
                ["raw-bytes", where],
            ),
        ]
    rows.append(
        BehindProxy(
            "raw-proxy",
            "raw REQ → zmq.proxy → REP, tcp",
            "raw",
            ["small", "pipelined", "context"],
            "raw-rep",
            small="raw",
        )
    )
    return rows


def _direct(auths: List[str]) -> List[System]:
    """A host at its default endpoint (a private ipc path, NULL security) and
    at loopback TCP (CURVE by default), each with authentication on and off."""
    all_metrics = ["small", "pipelined", "bytes", "context"]
    rows: List[System] = []
    for where, extra, measured in (("", [], all_metrics), ("-tcp", ["tcp"], ["small", "bytes"])):
        for auth in auths:
            key = f"direct{where}-{auth}"
            label = "direct: broker.connect" + (", host on tcp" if where else "")
            label += " (default)" if auth == "auth" and not where else ""
            label += ", auth off" if auth == "noauth" else (", CURVE" if where else "")
            rows.append(
                Single(
                    key,
                    label,
                    "project",
                    measured,
                    ["host", NOWHERE, auth, *extra],
                    options={"auth": auth},
                    small="project",
                )
            )
            if not where:
                rows.append(
                    Single(
                        f"direct-aio-{auth}",
                        "direct: broker.aio" + (", auth off" if auth == "noauth" else ""),
                        "project-aio",
                        ["small", "pipelined"],
                        ["host", NOWHERE, auth],
                        options={"auth": auth},
                        shares=key,
                    )
                )
    return rows


def _brokered(auths: List[str]) -> List[System]:
    all_metrics = ["small", "pipelined", "bytes", "context"]
    rows: List[System] = []
    for auth in auths:
        off = ", auth off" if auth == "noauth" else " (default: CURVE to the broker)"
        rows += [
            Brokered(
                f"brokered-{auth}",
                f"brokered: broker.connect{off}",
                "project",
                all_metrics,
                auth,
                small="project",
            ),
            Brokered(
                f"brokered-aio-{auth}",
                "brokered: broker.aio" + (", auth off" if auth == "noauth" else ""),
                "project-aio",
                ["small", "pipelined"],
                auth,
                shares=f"brokered-{auth}",
            ),
        ]
    return rows


def systems(quick: bool) -> List[System]:
    all_metrics = ["small", "pipelined", "bytes", "context"]
    foreign = {"bytes_mb": FOREIGN_BYTES_MB if not quick else 2}
    auths = ["auth", "noauth"] if _supports_auth_switch() else ["auth"]
    rows = _floors() + _direct(auths)
    if _have("broker.relay.broker"):
        rows += _brokered(auths)
    rows.append(
        Single(
            "xmlrpc",
            "stdlib XML-RPC, keep-alive",
            "xmlrpc",
            ["small", "bytes", "context"],
            ["xmlrpc"],
            options=foreign,
        )
    )
    if _have("zerorpc"):
        rows.append(
            Single("zerorpc", "zerorpc", "zerorpc", all_metrics, ["zerorpc"], options=foreign)
        )
    return rows


def client_options(quick: bool) -> Dict[str, Any]:
    if quick:
        return {
            "small_calls": 1000,
            "small_seconds": 0.5,
            "pipelined_calls": 5000,
            "pipelined_seconds": 0.5,
            "bytes_mb": 10,
            "bytes_echoes": 1,
            "context_calls": 20,
            "context_seconds": 0.5,
        }
    return {
        "small_calls": 5000,
        "small_seconds": 1.5,
        "pipelined_calls": 50000,
        "pipelined_seconds": 1.0,
        "bytes_mb": 100,
        "bytes_echoes": 2,
        "context_calls": 100,
        "context_seconds": 1.0,
    }


def run_round(
    plan: List[System], options: Dict[str, Any], quick: bool, failures: Dict[str, str]
) -> Dict[str, Dict[str, Any]]:
    """Every system once: start all servers, measure the small calls of the
    floors and of this project interleaved, then each system's own run."""
    endpoints: Dict[str, str] = {}
    servers: List[Server] = []
    results: Dict[str, Dict[str, Any]] = {}
    try:
        for system in plan:
            if system.shares is None or system.shares not in endpoints:
                started, endpoints[system.key] = system.start()
                servers += started
            else:
                endpoints[system.key] = endpoints[system.shares]
        targets = [
            [system.key, system.small, endpoints[system.key], system.options]
            for system in plan
            if system.small is not None
        ]
        if targets:
            _progress("small calls, interleaved: " + ", ".join(t[0] for t in targets))
            batches = {"batches": 4, "batch": 250} if quick else {"batches": 12, "batch": 400}
            try:
                for key, measured in run_client(
                    "interleaved", "-", dict(batches, targets=targets), timeout=300
                ).items():
                    results[key] = measured
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                failures["interleaved"] = str(exc)
                _progress(f"  failed: {exc}")
        for system in plan:
            measure = [m for m in system.measure if not (m == "small" and system.small)]
            if not measure:
                continue
            _progress(system.label)
            merged = dict(options, **system.options, measure=measure)
            try:
                own = run_client(system.client, endpoints[system.key], merged)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                failures[system.key] = str(exc)
                _progress(f"  failed: {exc}")
                continue
            results[system.key] = dict(own, **results.get(system.key, {}))
    finally:
        for server in servers:
            server.stop()
    return results


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- import time and liveness ------------------------------------------------------------

_IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
IMPORTS = {"zmq, msgpack": "zmq, msgpack", "host_adapter": "host_adapter"}


def measure_imports(repeat: int) -> Dict[str, List[float]]:
    """Seconds to import, each in a fresh interpreter, alternating, ``repeat`` times.

    Bytecode is cached first (a DCC imports an installed package, compiled).
    """
    env = _env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times: Dict[str, List[float]] = {name: [] for name in IMPORTS}
    for attempt in range(repeat + 1):
        for name, modules in IMPORTS.items():
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_SNIPPET.format(modules)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            if attempt:  # the first pass only fills the bytecode cache
                times[name].append(float(done.stdout))
    return times


def _liveness(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Medians and worst cases, in seconds and in heartbeat intervals, of
    every kill and every stop of every round."""
    interval = rounds[0]["interval_s"]
    found: Dict[str, Any] = {"interval_s": interval}
    for kind in ("kills", "stops"):
        times = sorted(t for r in rounds for t in r.get(kind, []))
        if times:
            found[kind] = {
                "median_s": statistics.median(times),
                "worst_s": times[-1],
                "intervals": statistics.median(times) / interval,
                "worst_intervals": times[-1] / interval,
                "times": times,
            }
    return found


def measure_liveness() -> Dict[str, Any]:
    """Kill a host with SIGKILL; how long until the UI reports it lost."""
    return run_client("liveness", "-", {}, timeout=60)


# -- summary ------------------------------------------------------------------------------

FIELDS = [
    ("small", "p50_us", "p50 µs"),
    ("small", "p99_us", "p99 µs"),
    ("small", "calls_per_s", "calls/s"),
    ("pipelined", "calls_per_s", "pipelined/s"),
    ("bytes", "mb_per_s", "bytes MB/s"),
    ("context", "calls_per_s", "context/s"),
]


def summarize(rounds: List[Dict[str, Any]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Median and spread (half the range, % of the median) of every figure."""
    summary: Dict[str, Dict[str, Dict[str, float]]] = {}
    for metric in {metric for result in rounds for metric in result}:
        fields = {field for result in rounds for field in result.get(metric, {})}
        summary[metric] = {}
        for field in sorted(fields):
            values = [result[metric][field] for result in rounds if metric in result]
            median = statistics.median(values)
            spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
            summary[metric][field] = {"median": median, "spread_pct": spread, "values": values}
    return summary


def _median(summary: Dict[str, Any], key: str, metric: str, field: str) -> Optional[float]:
    try:
        return float(summary[key][metric][field]["median"])
    except KeyError:
        return None


def _cell(summary: Dict[str, Any], metric: str, field: str) -> str:
    try:
        entry = summary[metric][field]
    except KeyError:
        return "-"
    value = entry["median"]
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{text} ±{entry['spread_pct']:.0f}%"


def table(rows: List[Tuple[str, Dict[str, Any]]]) -> str:
    headers = ["system"] + [title for _, _, title in FIELDS]
    lines = [
        [label] + [_cell(summary, metric, field) for metric, field, _ in FIELDS]
        for label, summary in rows
    ]
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]

    def fmt(row: List[str]) -> str:
        return "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, lines)])


class Budget:
    def __init__(
        self,
        figure: str,
        budget: str,
        detail: str,
        ratio: Optional[float],
        limit: float,
        at_most: bool,
    ) -> None:
        self.figure = figure
        self.budget = budget
        self.detail = detail
        self.ratio = ratio
        self.limit = limit
        self.at_most = at_most

    @property
    def met(self) -> Optional[bool]:
        if self.ratio is None:
            return None
        return self.ratio <= self.limit if self.at_most else self.ratio >= self.limit

    def as_dict(self) -> Dict[str, Any]:
        return {
            "figure": self.figure,
            "budget": self.budget,
            "detail": self.detail,
            "ratio": self.ratio,
            "limit": self.limit,
            "met": self.met,
        }


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def _values(summary: Dict[str, Any], key: str, metric: str, field: str) -> List[float]:
    try:
        return list(summary[key][metric][field]["values"])
    except KeyError:
        return []


def _paired(
    summary: Dict[str, Any], key: str, floor: str, metric: str, field: str
) -> Optional[float]:
    """The median over rounds of this round's figure over this round's floor.

    Both were measured in the same round (small calls even interleaved), so
    a slow moment of the machine counts on both sides of each ratio.
    """
    ours, base = _values(summary, key, metric, field), _values(summary, floor, metric, field)
    if ours and len(ours) == len(base) and all(base):
        return statistics.median(a / b for a, b in zip(ours, base))
    return _ratio(_median(summary, key, metric, field), _median(summary, floor, metric, field))


def _against(
    summary: Dict[str, Any],
    figure: str,
    budget: str,
    ours: str,
    floor: str,
    measure: Tuple[str, str, str],
    limit: float,
    at_most: bool,
) -> Budget:
    """The budget ``ours`` / ``floor`` for one metric (paired round by round)."""
    metric, field, unit = measure
    mine, base = _median(summary, ours, metric, field), _median(summary, floor, metric, field)
    detail = f"{_num(mine)} / {_num(base)} {unit}"
    if mine is None or base is None:
        missing = ours if mine is None else floor
        detail = f"{missing} not measured in this run"
    ratio = _paired(summary, ours, floor, metric, field)
    return Budget(figure, budget, detail, ratio, limit, at_most)


SMALL = ("small", "p50_us", "µs")
PIPELINED = ("pipelined", "calls_per_s", "calls/s")
BYTES = ("bytes", "mb_per_s", "MB/s")
CONTEXT = ("context", "calls_per_s", "calls/s")


def budgets(
    summary: Dict[str, Any],
    imports: Dict[str, List[float]],
    liveness: Optional[Dict[str, Any]],
) -> List[Budget]:
    """The project's performance budgets (docs/performance.md), each for the
    defaults a user gets, against the floor of the same transport (a host's
    default endpoint is ipc)."""
    b = functools.partial(_against, summary)
    sync_pipe = _median(summary, "direct-auth", *PIPELINED[:2])
    aio_pipe = _median(summary, "direct-aio-auth", *PIPELINED[:2])
    pipeline = "direct-aio-auth" if (aio_pipe or 0) > (sync_pipe or 0) else "direct-auth"
    which = "broker.aio" if "aio" in pipeline else "proxy.rpc.pipeline"
    found = [
        b(
            "small call, direct, p50",
            "≤ 1.3x raw REQ/REP + msgpack, ipc",
            "direct-auth",
            "raw-ipc",
            SMALL,
            1.3,
            True,
        ),
        b(
            "small call through the broker, p50",
            "≤ 1.3x REQ → zmq.proxy → REP",
            "brokered-auth",
            "raw-proxy",
            SMALL,
            1.3,
            True,
        ),
        b(
            f"pipelined calls/s, direct ({which})",
            "≥ 0.7x DEALER → REP raw, ipc",
            pipeline,
            "raw-ipc",
            PIPELINED,
            0.7,
            False,
        ),
        b(
            "100 MB bytes echo, direct",
            "≥ 0.7x raw pyzmq bytes echo, ipc",
            "direct-auth",
            "raw-bytes-ipc",
            BYTES,
            0.7,
            False,
        ),
        b(
            "publishing context echo, direct",
            "≥ 0.9x raw msgpack loop, ipc",
            "direct-auth",
            "raw-ipc",
            CONTEXT,
            0.9,
            False,
        ),
        b(
            "publishing context echo, direct",
            "≥ 25x stdlib xmlrpc",
            "direct-auth",
            "xmlrpc",
            CONTEXT,
            25,
            False,
        ),
        b(
            "default security cost, small call, direct",
            "≤ 1.1x auth off",
            "direct-auth",
            "direct-noauth",
            SMALL,
            1.1,
            True,
        ),
        b(
            "default security cost, small call, host on tcp (CURVE)",
            "≤ 1.1x auth off",
            "direct-tcp-auth",
            "direct-tcp-noauth",
            SMALL,
            1.1,
            True,
        ),
        b(
            "default security cost, small call, brokered",
            "≤ 1.1x auth off",
            "brokered-auth",
            "brokered-noauth",
            SMALL,
            1.1,
            True,
        ),
    ]
    base = statistics.median(imports["zmq, msgpack"]) if imports.get("zmq, msgpack") else None
    ours = statistics.median(imports["host_adapter"]) if imports.get("host_adapter") else None
    found.append(
        Budget(
            "import host_adapter",
            "≤ 1.5x import zmq, msgpack",
            f"{_num(ours and ours * 1000)} ms / {_num(base and base * 1000)} ms",
            _ratio(ours, base),
            1.5,
            True,
        )
    )
    for kind, what in (("kills", "SIGKILL"), ("stops", "SIGSTOP")):
        figures = (liveness or {}).get(kind)
        if figures:
            found.append(
                Budget(
                    f"host {'death' if kind == 'kills' else 'stop'} noticed (median)",
                    "≤ 3 heartbeat intervals",
                    f"{figures['median_s'] * 1000:.0f} ms after {what} "
                    f"(worst {figures['worst_s'] * 1000:.0f}), "
                    f"interval {liveness['interval_s'] * 1000:.0f} ms",  # type: ignore[index]
                    figures["intervals"],
                    3,
                    True,
                )
            )
    return found


def _num(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def budget_table(found: List[Budget]) -> str:
    rows = [["figure", "budget", "measured", "ratio", ""]]
    for budget in found:
        ratio = "n/a" if budget.ratio is None else f"{budget.ratio:.2f}x"
        verdict = {True: "met", False: "NOT MET", None: "not available"}[budget.met]
        rows.append([budget.figure, budget.budget, budget.detail, ratio, verdict])
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    )


# -- main -----------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--json",
        default=str(DEFAULT_JSON),
        help=f"where to write results (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--only", nargs="*", metavar="KEY", help="run only these systems (keys as in the JSON)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        metavar="HOSTS",
        default=None,
        help="farm sizes for the scale section (default 10 100 1000 10000; "
        "--quick: 10 1000; --scale with no sizes: leave it out)",
    )
    options = parser.parse_args(argv)
    started = time.monotonic()
    plan = systems(options.quick)
    if options.only:
        plan = [system for system in plan if system.key in options.only]
    rounds: Dict[str, List[Dict[str, Any]]] = {system.key: [] for system in plan}
    failures: Dict[str, str] = {}
    liveness_rounds: List[Dict[str, Any]] = []
    copts = client_options(options.quick)
    for n in range(options.rounds):
        _progress(f"round {n + 1}/{options.rounds}")
        for key, measured in run_round(plan, copts, options.quick, failures).items():
            rounds[key].append(measured)
        _progress("host death")
        try:
            liveness_rounds.append(measure_liveness())
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            failures["liveness"] = str(exc)
    print("import times", file=sys.stderr, flush=True)
    imports = measure_imports(5 if options.quick else 15)
    summary = {key: summarize(results) for key, results in rounds.items() if results}
    liveness = _liveness(liveness_rounds) if liveness_rounds else None
    found = budgets(summary, imports, liveness)
    scale = _scale(options, failures)
    from .scale import report as scale_report
    from .scale import scale_budgets

    if scale is not None:
        found += scale_budgets(scale["sizes"], scale["throughput"])
    elapsed = time.monotonic() - started
    rows = [(system.label, summary.get(system.key, {})) for system in plan]
    print(
        f"\nMedians of {options.rounds} round(s), ±spread (half the range); "
        f"one run of {elapsed:.0f} s"
    )
    print(
        f"{platform.python_implementation()} {platform.python_version()}, pyzmq {_version('zmq')}, "
        f"libzmq {_libzmq()}, msgpack {_version('msgpack')}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}"
    )
    print()
    print(table(rows))
    if not any(s.key.startswith("brokered-") for s in plan):
        print("brokered rows: not available (broker.relay.broker is missing in this checkout)")
    print()
    imp = {name: statistics.median(values) * 1000 for name, values in imports.items() if values}
    print(
        f"import (fresh interpreter, median of {len(next(iter(imports.values())))}): "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in imp.items())
    )
    if scale is not None:
        print("\nAt farm scale (python -m bench.scale; one real host among simulated ones):")
        print(scale_report(scale["sizes"], scale["throughput"]))
        print()
    for kind, what in (("kills", "SIGKILL"), ("stops", "SIGSTOP")):
        figures = (liveness or {}).get(kind)
        if figures:
            print(
                f"host {what} noticed ({len(figures['times'])} at random moments): median "
                f"{figures['median_s'] * 1000:.0f} ms, worst {figures['worst_s'] * 1000:.0f} ms "
                f"(heartbeat {liveness['interval_s'] * 1000:.0f} ms: "  # type: ignore[index]
                f"{figures['intervals']:.2f} and {figures['worst_intervals']:.2f} intervals)"
            )
    print()
    print(
        "Budgets: median over the rounds of each round's ratio to its floor "
        "(measured medians shown)"
    )
    print(budget_table(found))
    for key, error in failures.items():
        print(f"\nFAILED {key}: {error}")
    report = {
        "meta": {
            "python": platform.python_version(),
            "pyzmq": _version("zmq"),
            "libzmq": _libzmq(),
            "msgpack": _version("msgpack"),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "rounds": options.rounds,
            "quick": options.quick,
            "elapsed_s": elapsed,
            "client_options": copts,
        },
        "systems": {
            system.key: {
                "label": system.label,
                "rounds": rounds[system.key],
                "summary": summary.get(system.key),
            }
            for system in plan
        },
        "imports_s": imports,
        "liveness": liveness,
        "scale": scale,
        "budgets": [budget.as_dict() for budget in found],
        "failures": failures,
    }
    Path(options.json).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {options.json}")
    return 1 if failures else 0


def _scale(options: argparse.Namespace, failures: Dict[str, str]) -> Optional[Dict[str, Any]]:
    """The farm-scale section, unless ``--scale`` was given no sizes."""
    from .scale import measure

    sizes = options.scale
    if sizes is None:
        sizes = [10, 1_000] if options.quick else [10, 100, 1_000, 10_000]
    if not sizes:
        return None
    _progress("farm scale")
    try:
        return measure(sizes)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        failures["scale"] = str(exc)
        return None


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except (ImportError, AttributeError):
        return "?"


def _libzmq() -> str:
    import zmq

    return str(zmq.zmq_version())
