"""The broker at farm scale: how its cost grows with hosts and clients.

    python -m bench.scale                     # 10, 100, 1,000 and 10,000 hosts
    python -m bench.scale --hosts 10 1000     # fewer sizes

For each farm size a fresh broker process (the defaults a user gets: TCP on
127.0.0.1 with CURVE, 1 s heartbeats) is loaded with simulated hosts
(:mod:`bench.farm`) and one real host (``host_adapter.serve``); with the
farm idle the bench reads the broker's CPU, memory and descriptors, then
times calls to the real host by id and by name from a Python shell's
``broker.connect``. Then, with 10 hosts, clients (REQ-like sockets, one call
in flight each) drive calls to one host through the broker and through
``zmq.proxy`` to a pyzmq REP server, in the same run. Each figure is
printed with its ratio against its baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

import msgpack
import zmq

from .run import ROOT, Server, _env

PER_FARM_PROCESS = 2_500
CALLS = 400
CLIENT_COUNTS = (1, 4, 16, 64)
DRIVE_SECONDS = 2.0
REPLY_TIMEOUT_MS = 10_000


class Farm:
    """Simulated hosts in processes of at most :data:`PER_FARM_PROCESS`."""

    def __init__(self, broker: str, count: int, name: str = "farm") -> None:
        self.processes: List[subprocess.Popen] = []
        left, part = count, 0
        while left > 0:
            size = min(left, PER_FARM_PROCESS)
            command = [sys.executable, "-m", "bench.farm", broker, str(size)]
            command += ["--name", name, "--prefix", f"{name}{part}"]
            self.processes.append(
                subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
            )
            left, part = left - size, part + 1
        for process in self.processes:
            assert process.stdout is not None
            if not process.stdout.readline():  # {"ready": N} once all announced
                self.stop()
                raise RuntimeError("a farm process exited before its hosts were announced")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()  # it removes its ipc folder as it exits
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


# -- reading a process ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle_cpu_percent(pid: int, seconds: float = 5.0) -> float:
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # a measuring window, not a wait for an event
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - start)


# -- calls --------------------------------------------------------------------------------


def p50_us(call: Any, calls: int = CALLS) -> float:
    for _ in range(20):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def _dealer(endpoint: str, curve: bool) -> zmq.Socket:
    """A REQ-like DEALER (callers send the empty delimiter); CURVE with the
    user's key when ``curve`` (the broker's default on TCP)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    if curve:
        from broker.security.options import resolve

        resolve(True).apply_client(sock, endpoint)
    sock.connect(endpoint)
    return sock


def _answer(sock: zmq.Socket) -> None:
    """The reply to this socket's call, within a deadline."""
    if not sock.poll(REPLY_TIMEOUT_MS):
        raise RuntimeError("no reply within the deadline: the system under test is stuck")
    sock.recv_multipart()


def drive(
    endpoint: str, method: str, clients: int, curve: bool, seconds: float = DRIVE_SECONDS
) -> float:
    """Calls per second with ``clients`` sockets, one call in flight each."""
    sockets = []
    for _ in range(clients):
        sockets.append(_dealer(endpoint, curve))
    poller = zmq.Poller()
    for sock in sockets:
        poller.register(sock, zmq.POLLIN)
    request = msgpack.packb([0, 1, method, [1]])
    for sock in sockets:  # one warm call each: the handshakes are done before timing
        sock.send_multipart([b"", request])
        _answer(sock)
    for sock in sockets:
        sock.send_multipart([b"", request])
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        ready = poller.poll(REPLY_TIMEOUT_MS)
        if not ready:
            raise RuntimeError("no reply within the deadline: the system under test is stuck")
        for sock, _ in ready:
            sock.recv_multipart()
            sock.send_multipart([b"", request])
            done += 1
    for sock in sockets:
        sock.close()
    return done / seconds


# -- one farm size -------------------------------------------------------------------------


def measure_size(hosts: int) -> Dict[str, Any]:
    import broker

    server = Server("broker")
    endpoint = server.endpoints["endpoint"]
    farm: Optional[Farm] = None
    host: Optional[Server] = None
    try:
        host = Server("host", endpoint)
        farm = Farm(endpoint, hosts - 1) if hosts > 1 else None
        pid = server.popen.pid
        row: Dict[str, Any] = {"hosts": hosts}
        row["idle_cpu_percent"] = idle_cpu_percent(pid)
        row["rss_mb"] = rss_mb(pid)
        row["fds"] = descriptors(pid)
        with broker.connect(endpoint, timeout=30) as shell:
            listed = sum(1 for _ in shell.rpc.hosts())
            row["listed"] = listed
            by_id = shell.rpc.host(host.endpoints["id"])
            by_name = shell.rpc.host("bench")
            row["by_id_p50_us"] = p50_us(lambda: by_id.echo(1))
            row["by_name_p50_us"] = p50_us(lambda: by_name.echo(1))
            row["lost_after_kill_s"] = _lost_after_kill(shell, host)
        return row
    finally:
        if farm is not None:
            farm.stop()
        if host is not None:
            host.stop()
        server.stop()


def _lost_after_kill(shell: Any, host: Server) -> float:
    """Seconds from SIGKILL of the real host, a call in flight, to that call's HostLost."""
    from broker.errors import HostLost

    view = shell.rpc.host(host.endpoints["id"]).rpc.with_timeout(30)
    failed: Dict[str, float] = {}

    def call() -> None:
        try:
            view.sleep(20)
        except HostLost:
            failed["at"] = time.monotonic()

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)  # the call is in flight (a chosen moment, not a wait for an event)
    hit = time.monotonic()
    host.popen.send_signal(signal.SIGKILL)
    caller.join(30)
    return failed["at"] - hit if "at" in failed else float("nan")


# -- throughput to one host ------------------------------------------------------------------


def measure_throughput() -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    proxy = Server("raw-proxy")
    rep = Server("raw-rep", proxy.endpoints["backend"])
    try:
        front = proxy.endpoints["endpoint"]
        result["proxy_p50_us"] = _raw_p50(front, "echo", curve=False)
        result["proxy"] = {n: drive(front, "echo", n, curve=False) for n in CLIENT_COUNTS}
    finally:
        rep.stop()
        proxy.stop()
    server = Server("broker")
    endpoint = server.endpoints["endpoint"]
    host = Server("host", endpoint)
    farm = Farm(endpoint, 9)
    try:
        method = f"{host.endpoints['id']}/echo"
        result["broker_p50_us"] = _raw_p50(endpoint, method, curve=True)
        result["broker"] = {n: drive(endpoint, method, n, curve=True) for n in CLIENT_COUNTS}
    finally:
        farm.stop()
        host.stop()
        server.stop()
    return result


def _raw_p50(endpoint: str, method: str, curve: bool) -> float:
    sock = _dealer(endpoint, curve)
    request = msgpack.packb([0, 1, method, [1]])

    def call() -> None:
        sock.send_multipart([b"", request])
        _answer(sock)

    try:
        return p50_us(call, 2000)
    finally:
        sock.close()


# -- report ------------------------------------------------------------------------------------


def report(sizes: List[Dict[str, Any]], throughput: Dict[str, Any]) -> str:
    lines = ["hosts   idle CPU   RSS MB   fds     by id p50   by name p50   lost after kill"]
    base = sizes[0]
    for row in sizes:
        by_id, by_name = row["by_id_p50_us"], row["by_name_p50_us"]
        lines.append(
            f"{row['hosts']:>6,}  {row['idle_cpu_percent']:6.1f} %  {row['rss_mb']:7.0f}  "
            f"{row['fds']:>6,}  {by_id:6.0f} µs {by_id / base['by_id_p50_us']:4.2f}x"
            f"  {by_name:6.0f} µs {by_name / base['by_name_p50_us']:4.2f}x"
            f"  {row['lost_after_kill_s'] * 1000:6.0f} ms"
        )
    lines.append("")
    lines.append("clients   broker calls/s   zmq.proxy calls/s   ratio")
    for n in CLIENT_COUNTS:
        ours, theirs = throughput["broker"][n], throughput["proxy"][n]
        lines.append(f"{n:>7}   {ours:14,.0f}   {theirs:17,.0f}   {ours / theirs:5.2f}x")
    ours, theirs = throughput["broker_p50_us"], throughput["proxy_p50_us"]
    lines.append(
        f"small call p50: broker {ours:.0f} µs, zmq.proxy {theirs:.0f} µs: {ours / theirs:.2f}x"
    )
    return "\n".join(lines)


def scale_budgets(sizes: List[Dict[str, Any]], throughput: Dict[str, Any]) -> List[Any]:
    """The farm-scale budgets (issue 11), as :class:`bench.run.Budget` rows."""
    from .run import Budget

    base, found = sizes[0], []
    for row in sizes[1:]:
        if row["hosts"] < 1_000:
            continue
        n = f"{row['hosts']:,}"
        found += [
            Budget(
                f"call by id, {n} hosts",
                f"≤ 1.2x with {base['hosts']}",
                f"{row['by_id_p50_us']:.0f} µs vs {base['by_id_p50_us']:.0f}",
                row["by_id_p50_us"] / base["by_id_p50_us"],
                1.2,
                True,
            ),
            Budget(
                f"call by name, {n} hosts",
                f"≤ 1.3x with {base['hosts']}",
                f"{row['by_name_p50_us']:.0f} µs vs {base['by_name_p50_us']:.0f}",
                row["by_name_p50_us"] / base["by_name_p50_us"],
                1.3,
                True,
            ),
        ]
        if row["hosts"] == 1_000:
            found.append(
                Budget(
                    "broker idle CPU, 1,000 hosts",
                    "≤ 5 % of a core",
                    f"{row['idle_cpu_percent']:.1f} %",
                    row["idle_cpu_percent"] / 100,
                    0.05,
                    True,
                )
            )
            found.append(
                Budget(
                    "SIGKILLed host's call fails, 1,000 hosts",
                    "HostLost ≤ 3 intervals",
                    f"{row['lost_after_kill_s'] * 1000:.0f} ms (interval 1 s)",
                    row["lost_after_kill_s"],
                    3.0,
                    True,
                )
            )
    ours, theirs = throughput["broker"][16], throughput["proxy"][16]
    found.append(
        Budget(
            "calls/s to one host, 16 clients",
            "≥ 0.5x REQ → zmq.proxy → REP",
            f"{ours:,.0f} vs {theirs:,.0f}",
            ours / theirs,
            0.5,
            False,
        )
    )
    ours, theirs = throughput["broker_p50_us"], throughput["proxy_p50_us"]
    found.append(
        Budget(
            "brokered small call p50",
            "≤ 1.3x REQ → zmq.proxy → REP",
            f"{ours:.0f} µs vs {theirs:.0f}",
            ours / theirs,
            1.3,
            True,
        )
    )
    return found


def measure(hosts: Sequence[int]) -> Dict[str, Any]:
    """Every farm size, then the throughput to one host."""
    from .farm import raise_open_files_limit

    raise_open_files_limit()  # children inherit it
    sizes = []
    for count in hosts:
        print(f"... {count:,} hosts", file=sys.stderr, flush=True)
        sizes.append(measure_size(count))
    print("... throughput to one host", file=sys.stderr, flush=True)
    return {"sizes": sizes, "throughput": measure_throughput()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 100, 1_000, 10_000])
    parser.add_argument("--json", help="write the figures here too")
    options = parser.parse_args(argv)
    from .run import budget_table

    figures = measure(options.hosts)
    print(report(figures["sizes"], figures["throughput"]))
    print()
    print(budget_table(scale_budgets(figures["sizes"], figures["throughput"])))
    if options.json:
        with open(options.json, "w") as out:
            json.dump(figures, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
