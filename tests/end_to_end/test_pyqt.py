"""The Qt dispatcher in a real PyQt5 (or PyQt6) application, found by detect().

The same host as tests/end_to_end/test_qt.py (tests/helpers/qt_host_process.py,
offscreen, its event loop running in its own process), made with the PyQt
binding instead of PySide6: the adapter is given no dispatcher, so detect()
must recognise the PyQt application it runs in. Both are in the test extra;
one that is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import HELPERS
from tests.helpers.script_process import ScriptProcesses

QT_HOST = HELPERS / "qt_host_process.py"


@pytest.mark.parametrize("binding", ["PyQt5", "PyQt6"])
def test_a_host_in_a_pyqt_application_runs_calls_on_its_main_thread(
    fast_ui: Any, binding: str
) -> None:
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed")
    loads = subprocess.run(
        [sys.executable, "-c", f"import {binding}.QtWidgets"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if loads.returncode != 0:  # a bare machine lacks the system libraries Qt loads
        why = loads.stderr.strip().splitlines()[-1]
        pytest.skip(f"{why} (on Debian, as root: .ci/install-qt-system-packages)")
    with ScriptProcesses() as start:
        process = start(QT_HOST, fast_ui.endpoint, binding, env={"QT_QPA_PLATFORM": "offscreen"})
        endpoint = process.read_line(timeout=30)
        assert endpoint, process.stop()
        process.read_line()  # host id
        assert process.read_line() == "QtDispatcher"  # what detect() picked
        qt = fast_ui.wait_for_host("qt", timeout=10)
        # Each method asserts it runs on the main thread, so a wrong thread is a RemoteError.
        assert [qt.add(index, 1) for index in range(50)] == list(range(1, 51))
        assert qt.rpc.with_timeout(5).reenter("again") == ["again", "MainThread"]
        assert qt.socket_ops() == []  # the main thread never touched a socket
        assert qt.quit() is True
        assert process.exit_status() == 0, process.stop()
