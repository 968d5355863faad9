"""What a main-thread hop adds to a call: the Qt dispatcher and the pumped queue.

    python bench/bench_dispatch.py [--calls 10000] [--rounds 5]

For each dispatcher, a host process serves ``echo(value)`` and a client here
makes ``--calls`` small calls one after another (after a warm-up, in
interleaved rounds), timing each. ``immediate`` runs the call on the
adapter's call thread, no hop: the baseline. ``queue`` hands it to the main
thread through a MainThreadQueue the host pumps (``wait_for_calls()`` +
``process_pending()``, as a batch host does). ``qt`` posts it to a real
PySide6 QApplication's event loop (offscreen). Prints p50 and p99 in
microseconds, the p50 ratio to immediate, and the hop's own p50 cost (the
difference). All three run in the same run on this machine, in a few seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

KINDS = ("immediate", "queue", "qt")


def run_host(kind: str, ui: str) -> None:
    """The host process: serve echo() with one dispatcher until killed."""
    import host_adapter

    service = {"echo": lambda value=None: value}
    if kind == "qt":
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6 import QtWidgets

        app = QtWidgets.QApplication([sys.argv[0]])
        adapter = host_adapter.serve(service, ui=ui, dispatcher=host_adapter.QtDispatcher())
        print(adapter.endpoint, flush=True)
        app.exec()
    elif kind == "queue":
        queue = host_adapter.MainThreadQueue()
        adapter = host_adapter.serve(service, ui=ui, dispatcher=queue)
        print(adapter.endpoint, flush=True)
        while True:  # a host's idle loop, until the benchmark kills us
            queue.wait_for_calls()
            queue.process_pending()
    else:
        adapter = host_adapter.serve(service, ui=ui, dispatcher=host_adapter.immediate)
        print(adapter.endpoint, flush=True)
        adapter.serve_forever()


class Host:
    """A host process of one kind and a proxy to it."""

    def __init__(self, kind: str, env: Dict[str, str], ui: str) -> None:
        import broker

        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--host", kind, "--ui", ui],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        endpoint = self.process.stdout.readline().strip()
        if not endpoint:
            self.close()
            raise SystemExit(f"the {kind} host did not start")
        self.proxy = broker.connect(endpoint, timeout=10)

    def time_calls(self, calls: int) -> List[float]:
        """Latencies of ``calls`` sequential echo(1) calls, in microseconds."""
        latencies = []
        clock = time.perf_counter_ns
        echo = self.proxy.echo
        for _ in range(calls):
            started = clock()
            echo(1)
            latencies.append((clock() - started) / 1000)
        return latencies

    def close(self) -> None:
        if getattr(self, "proxy", None) is not None:
            self.proxy.close()
        self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="timed calls per dispatcher")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls first")
    parser.add_argument("--host", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--ui", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.host:
        run_host(args.host, args.ui)
        return 0

    results: Dict[str, List[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as scratch:
        # Our own key and a UI endpoint nobody listens on: nothing of the
        # user's is touched, and announcing costs the host nothing per call.
        env = dict(os.environ, PYTHONPATH=str(ROOT), BROKER_KEY_FILE=f"{scratch}/key")
        os.environ["BROKER_KEY_FILE"] = env["BROKER_KEY_FILE"]
        ui = f"ipc://{scratch}/nobody.sock"
        hosts = []
        try:
            for kind in KINDS:
                hosts.append(Host(kind, env, ui))
            for host in hosts:
                host.time_calls(args.warmup)
            # Interleaved rounds, so a busy moment of the machine hits every kind.
            for _ in range(args.rounds):
                for host in hosts:
                    results[host.kind] += host.time_calls(args.calls // args.rounds)
        finally:
            for host in hosts:
                host.close()

    base = statistics.median(results["immediate"])
    print(
        f"main-thread hop: {args.calls} sequential echo(1) calls per dispatcher "
        f"in {args.rounds} interleaved rounds, one host process each, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'dispatcher':<11} {'p50 µs':>8} {'p99 µs':>8} {'p50 ratio':>10} {'hop p50 µs':>11}")
    for kind, latencies in results.items():
        p50 = statistics.median(latencies)
        p99 = percentile(latencies, 0.99)
        print(f"{kind:<11} {p50:>8.0f} {p99:>8.0f} {p50 / base:>9.2f}x {p50 - base:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
