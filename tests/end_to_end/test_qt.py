"""The Qt dispatcher in a real PySide6 application, driven by a UI in this process.

The host (tests/helpers/qt_host_process.py) is a ``QApplication`` with
``QT_QPA_PLATFORM=offscreen`` running its event loop in its own process; it
serves tests/helpers/main_thread_host.py's service, whose every method asserts that
it runs on the main thread, and records any zmq socket operation made on the
main thread. No QApplication is ever made in the test process itself: it
would outlive the test and make detect() pick Qt for every later test.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from typing import Any, Iterator, Set, Tuple

import pytest

import broker
from tests.conftest import HELPERS, ROOT, wait_until
from tests.helpers.script_process import ScriptProcess, ScriptProcesses

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("PySide6") is None,
    reason="PySide6 is not installed (pip install '.[test]' installs it)",
)

QT_HOST = HELPERS / "qt_host_process.py"


@pytest.fixture
def qt_host(fast_ui: Any) -> Iterator[Tuple[ScriptProcess, Any, str]]:
    """A Qt host announcing to the in-test UI: (process, proxy, host id)."""
    with ScriptProcesses() as start:
        process = start(QT_HOST, fast_ui.endpoint, env={"QT_QPA_PLATFORM": "offscreen"})
        process.read_line(timeout=30)  # endpoint
        host_id = process.read_line()
        assert process.read_line() == "QtDispatcher"  # what detect() picked
        yield process, fast_ui.wait_for_host("qt", timeout=10), host_id


def test_every_call_runs_on_the_main_thread_which_never_touches_a_socket(
    qt_host: Tuple[ScriptProcess, Any, str],
) -> None:
    _, qt, _ = qt_host
    assert [qt.add(index, 1) for index in range(300)] == list(range(1, 301))
    assert qt.calls() == 300
    # Calls from the UI's threads at once: each waits its turn on the main thread.
    results = []

    def client() -> None:
        with broker.connect(qt.rpc.endpoint, timeout=10) as direct:
            results.extend(direct.add(index, 0) for index in range(20))

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(20)
    assert sorted(results) == sorted(list(range(20)) * 3)
    assert qt.calls() == 360
    assert qt.socket_ops() == []


def test_an_exception_on_the_main_thread_is_a_remote_error(
    qt_host: Tuple[ScriptProcess, Any, str],
) -> None:
    _, qt, _ = qt_host
    with pytest.raises(broker.RemoteError) as info:
        qt.boom("no such node")
    assert info.value.exception == "builtins.ValueError"
    assert "no such node" in str(info.value) and "in boom" in info.value.remote_traceback
    assert qt.add(1, 1) == 2  # the host goes on


def test_a_reentrant_call_from_the_main_thread_runs_at_once(
    qt_host: Tuple[ScriptProcess, Any, str],
) -> None:
    _, qt, _ = qt_host
    assert qt.rpc.with_timeout(5).reenter("again") == ["again", "MainThread"]


def test_a_call_that_never_returns_times_out_and_the_host_stays_busy_not_lost(
    fast_ui: Any, qt_host: Tuple[ScriptProcess, Any, str]
) -> None:
    _, qt, host_id = qt_host
    with pytest.raises(broker.CallTimeout):
        qt.rpc.with_timeout(0.3).hang()
    assert qt.call("rpc.ping")["state"] == "busy"  # answered by the I/O thread
    # The main thread is held for good; heartbeats keep coming, saying busy.
    seen: Set[float] = set()

    def busy_heartbeats() -> bool:
        (info,) = [host for host in fast_ui.hosts() if host["id"] == host_id]
        assert info["state"] == "busy", info
        seen.add(info["last_seen"])
        return len(seen) >= 5

    wait_until(busy_heartbeats, timeout=10, message="five busy heartbeats")
    with pytest.raises(broker.CallTimeout):
        qt.rpc.with_timeout(0.2).add(1, 2)  # queued behind the stuck call


def test_quitting_the_application_departs_and_exits_cleanly(
    fast_ui: Any, qt_host: Tuple[ScriptProcess, Any, str]
) -> None:
    process, qt, host_id = qt_host
    assert qt.quit() is True
    assert process.exit_status() == 0, process.stop()
    wait_until(lambda: all(host["id"] != host_id for host in fast_ui.hosts()), message="departure")


QT_UNIT = r"""
import os, sys, threading
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6 import QtCore
from broker.errors import Closed
from host_adapter import QtDispatcher

app = QtCore.QCoreApplication([])
dispatcher = QtDispatcher()
main = threading.current_thread()
assert dispatcher(lambda: threading.current_thread()) is main  # at once, no event loop
outcomes = []

def call(func):
    try:
        outcomes.append(("result", dispatcher(func)))
    except BaseException as exc:
        outcomes.append(("error", type(exc).__name__, str(exc)))

# Posted before the event loop runs: waits in Qt's queue, then runs on the main thread.
early = threading.Thread(target=call, args=(lambda: threading.current_thread() is main,))
early.start()
while early.is_alive():
    app.processEvents()
    early.join(0.01)
# A call that raises.
failing = threading.Thread(target=call, args=(lambda: {}["missing"],))
failing.start()
while failing.is_alive():
    app.processEvents()
    failing.join(0.01)
# Closed while a call waits: the call fails at once, later calls too.
waiting = threading.Thread(target=call, args=(lambda: "never",))
waiting.start()
while not dispatcher._jobs:
    waiting.join(0.01)
dispatcher.close()
waiting.join(10)
late = threading.Thread(target=call, args=(lambda: "after close",))
late.start()
late.join(10)
print(outcomes)
"""


def test_qt_dispatcher_without_a_running_event_loop() -> None:
    done = subprocess.run(
        [sys.executable, "-c", QT_UNIT], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        [
            ("result", True),
            ("error", "KeyError", "'missing'"),
            ("error", "Closed", "the Qt application stopped before this call ran"),
            ("error", "Closed", "this Qt dispatcher was closed (the application quit?)"),
        ]
    )
