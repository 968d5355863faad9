"""A UI and a host in two processes, talking. Run: python examples/demo.py

The UI (this process) listens on a free loopback port, starts a host in a
second process pointed at it, waits for the host to announce itself, calls
it, and shows what errors, timeouts and a killed host look like.

    python examples/demo.py              # the whole story
    python examples/demo.py --ui tcp://127.0.0.1:9090   # listen on 9090 instead
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import broker  # noqa: E402
import host_adapter  # noqa: E402
import ui_adapter  # noqa: E402


class SceneService:
    """A toy DCC scene, as a host would expose it."""

    def __init__(self) -> None:
        self.nodes = ["persp", "top", "front", "side"]
        self.adapter = None

    def ls(self):
        """List the nodes in the scene."""
        return list(self.nodes)

    def create(self, name, kind="transform"):
        """Create a node and return its name."""
        self.nodes.append(name)
        return {"name": name, "type": kind}

    def add(self, a, b):
        """Return a + b."""
        return a + b

    def cache(self, seconds):
        """Pretend to cache a simulation for ``seconds``."""
        time.sleep(seconds)
        return "cached"

    def delete(self, name):
        """Delete a node; raises if it does not exist."""
        self.nodes.remove(name)

    def show_ui(self):
        """Ask the UI to show its window (the host calling the UI)."""
        return self.adapter.ui.show()


def run_host(ui_endpoint: str) -> None:
    service = SceneService()
    queue = host_adapter.MainThreadQueue()
    adapter = host_adapter.serve(
        service, name="maya", ui=ui_endpoint, dispatcher=queue, heartbeat_interval=0.2
    )
    service.adapter = adapter
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:  # the host's main loop: run calls on the main thread
            queue.wait_for_calls(timeout=0.5)
            queue.process_pending()
    finally:
        adapter.stop()


def step(text: str) -> None:
    print(f"\n--- {text}")


def run_ui(endpoint: str) -> int:
    shown = []
    with ui_adapter.listen(
        endpoint=endpoint,
        service={"show": lambda: shown.append(time.time()) or "window shown"},
        heartbeat_interval=0.2,
        on_host_added=lambda info: print(f"[ui] host arrived: {info['id']} at {info['endpoint']}"),
        on_host_lost=lambda info: print(f"[ui] host lost: {info['id']}"),
    ) as ui:
        print(f"[ui] listening at {ui.endpoint}")
        host = subprocess.Popen([sys.executable, __file__, "--host", ui.endpoint])
        try:
            maya = ui.wait_for_host("maya", timeout=15)
            step("calls by method name")
            print("maya.ls()                ->", maya.ls())
            print("maya.create('cube1')     ->", maya.create("cube1", kind="mesh"))
            print("maya.add(5, 10)          ->", maya.add(5, 10))
            print("rpc.ping                 ->", maya.call("rpc.ping"))
            step("the host calls the UI")
            print("maya.show_ui()           ->", maya.show_ui())
            step("a remote exception")
            try:
                maya.delete("no-such-node")
            except broker.RemoteError as exc:
                print(f"RemoteError: {exc.exception}: {exc.message}")
            step("a timeout, then the next call works; the host is busy, not lost")
            try:
                maya.rpc.with_timeout(0.5).cache(1.5)
            except broker.CallTimeout as exc:
                print("CallTimeout:", exc)
            print("hosts while busy         ->", [(h["name"], h["state"]) for h in ui.hosts()])
            print("maya.add(1, 2)           ->", maya.rpc.with_timeout(10).add(1, 2))
            step("from a Python shell: broker.connect(endpoint)")
            with broker.connect(maya.rpc.endpoint, timeout=5) as shell:
                print("dir(proxy) has           ->", dir(shell))
            step("the host is killed")
            host.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            while ui.hosts()[0]["state"] != "lost" and time.monotonic() - killed < 5:
                time.sleep(0.05)
            print(f"state: {ui.hosts()[0]['state']} after {time.monotonic() - killed:.2f} s")
            try:
                maya.ls()
            except broker.HostLost as exc:
                print("HostLost:", exc)
        finally:
            if host.poll() is None:
                host.terminate()
            host.wait(10)
    print("\ndemo finished")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ui", default="tcp://127.0.0.1:*", help="UI endpoint to listen on")
    parser.add_argument("--host", metavar="UI_ENDPOINT", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.host:
        run_host(options.host)
        return 0
    return run_ui(options.ui)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
