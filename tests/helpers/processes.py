"""Hosts and UIs that the end-to-end tests run as separate processes.

    python tests/helpers/processes.py host UI_ENDPOINT [NAME] [--no-auth] [--tcp | --endpoint=EP]
                                                        serve TestService, pump calls on
                                                        the main thread, print endpoint
    python tests/helpers/processes.py ui ENDPOINT               own a UI endpoint, print it
    python tests/helpers/processes.py broker ENDPOINT           run a broker, print its endpoint

Both stop cleanly on SIGTERM (a host departs) and die on SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Optional


class TestService:
    """What the end-to-end tests call on a host."""

    def __init__(self, adapter_ref: list) -> None:
        self._adapter = adapter_ref
        self._items: list = []

    def append(self, item):
        """Record ``item``; calls run one at a time, so the order is the call order."""
        self._items.append(item)
        return len(self._items)

    def items(self):
        """Everything appended so far, in order."""
        return list(self._items)

    def add(self, a, b):
        """Return a + b."""
        return a + b

    def echo(self, value=None, **kwargs):
        """Return the value (and keywords, if any) unchanged."""
        return {"value": value, "kwargs": kwargs} if kwargs else value

    def slow(self, seconds):
        """Hold the main thread for ``seconds``."""
        time.sleep(seconds)  # ok: simulates a long main-thread call
        return seconds

    def hold_gil(self, seconds):
        """Block for ``seconds`` in C without releasing the GIL, as a long DCC
        command does: every Python thread of this process stops meanwhile."""
        import ctypes

        ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))  # PyDLL: the GIL stays held
        return seconds

    def boom(self, message="boom"):
        """Raise ValueError(message)."""
        raise ValueError(message)

    def where(self):
        """Which thread runs calls, and this process's pid."""
        return {
            "main_thread": threading.current_thread() is threading.main_thread(),
            "pid": os.getpid(),
        }

    def call_ui(self, method, *args):
        """Call a method of the UI from the host."""
        return self._adapter[0].ui.call(method, *args)


def run_host(ui_endpoint: str, name: str = "maya", *flags: str) -> None:
    import host_adapter

    queue = host_adapter.MainThreadQueue()
    adapter_ref: list = []
    adapter = host_adapter.serve(
        TestService(adapter_ref),
        name=name,
        ui=ui_endpoint,
        dispatcher=queue,
        heartbeat_interval=0.1,
        auth="--no-auth" not in flags,
        endpoint=_endpoint_flag(flags),
    )
    adapter_ref.append(adapter)
    print(adapter.endpoint, flush=True)
    print(adapter.id, flush=True)
    try:
        while True:  # the host's "event loop": bounded only by the test killing us
            queue.wait_for_calls(timeout=0.5)
            queue.process_pending()
    finally:
        adapter.stop()


def _endpoint_flag(flags: tuple) -> Optional[str]:
    """``--tcp``: loopback TCP on a free port; ``--endpoint=EP``: EP; else the default."""
    for flag in flags:
        if flag.startswith("--endpoint="):
            return flag.split("=", 1)[1]
    return "tcp://127.0.0.1:*" if "--tcp" in flags else None


def run_ui(endpoint: str) -> None:
    import ui_adapter

    with ui_adapter.listen(
        endpoint=endpoint,
        service={"show": lambda: "shown", "hide": lambda: "hidden"},
        heartbeat_interval=0.1,
    ) as ui:
        print(ui.endpoint, flush=True)
        threading.Event().wait()  # until a signal ends the process


def run_broker(endpoint: str) -> None:
    import broker

    with broker.start_broker([endpoint], heartbeat_interval=0.1) as running:
        print(running.endpoint, flush=True)
        threading.Event().wait()  # until a signal ends the process


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    role, *args = sys.argv[1:]
    {"host": run_host, "ui": run_ui, "broker": run_broker}[role](*args)


if __name__ == "__main__":
    main()
