"""host_adapter.pyblish.qml.show: ask the UI to show itself, start one when none answers.

Real adapters, a real broker and real processes; the started "window" is a
few lines of Python that serve ``show`` (the real pyblish-qml is started in
tests/end_to_end/test_qml.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

pytest.importorskip("pyblish")

import broker  # noqa: E402
import host_adapter  # noqa: E402
import ui_adapter  # noqa: E402
from host_adapter.pyblish import qml  # noqa: E402
from tests.conftest import ROOT, ipc_endpoint  # noqa: E402

INTERVAL = 0.1
# A stand-in window: owns --ui (or attaches to --broker), serves show, says what it got.
WINDOW = """
import sys, threading, ui_adapter
argv = sys.argv[1:]
print("argv", argv, flush=True)
service = {"show": lambda settings=None: print("shown", settings, flush=True)}
if "--ui" in argv:
    ui = ui_adapter.listen(service, endpoint=argv[argv.index("--ui") + 1])
else:
    ui = ui_adapter.attach(service, broker=argv[argv.index("--broker") + 1])
threading.Event().wait(30)
"""


@pytest.fixture
def adapter(tmp_path) -> Iterator[Any]:
    with host_adapter.serve(
        {},
        name="maya",
        ui=ipc_endpoint(tmp_path, "ui"),
        dispatcher=host_adapter.immediate,
        heartbeat_interval=INTERVAL,
    ) as running:
        yield running


@pytest.fixture
def launches(monkeypatch) -> Iterator[List[qml.Launch]]:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the started processes import this checkout
    started: List[qml.Launch] = []
    yield started
    for launch in started:
        if launch.process is not None and launch.process.poll() is None:
            launch.process.kill()
            launch.process.wait(10)


def show(launches: List[qml.Launch], adapter: Any, *command: str, **options: Any) -> qml.Launch:
    launch = qml.show(adapter, command=list(command) or None, **options)
    launches.append(launch)
    return launch


def window_output(path: Path) -> List[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_window_already_there_is_asked_and_nothing_starts(adapter, launches):
    shown: List[Dict[str, Any]] = []
    with ui_adapter.listen({"show": shown.append}, endpoint=adapter.ui_endpoint):
        launch = show(launches, adapter, settings={"WindowTitle": "Publish!", "autoPublish": True})
        assert launch.wait(10), launch.error
    assert launch.process is None
    assert shown == [{"WindowTitle": "Publish!", "ContextLabel": "maya", "autoPublish": True}]


def test_nobody_there_starts_the_window_owning_the_endpoint(adapter, launches, tmp_path):
    output = tmp_path / "window.log"
    launch = show(launches, adapter, sys.executable, "-c", WINDOW, output=output)
    again = qml.show(adapter, command=[sys.executable, "-c", "raise SystemExit(9)"])
    assert again is launch  # a double click while it starts
    assert launch.wait(20), (launch.error, window_output(output))
    assert launch.process is not None
    lines = window_output(output)
    assert lines[0] == f"argv {['--host', adapter.id, '--ui', adapter.ui_endpoint]!r}"
    assert lines[1] == "shown {'WindowTitle': 'Pyblish (maya)', 'ContextLabel': 'maya'}"


def test_a_broker_without_a_window_starts_one_attached_to_it(launches, tmp_path):
    output = tmp_path / "window.log"
    with broker.start_broker([ipc_endpoint(tmp_path, "b")], heartbeat_interval=INTERVAL) as b:
        with host_adapter.serve(
            {}, name="maya", ui=b.endpoint, dispatcher=host_adapter.immediate
        ) as adapter:
            assert adapter.wait_connected(5)
            launch = show(launches, adapter, sys.executable, "-c", WINDOW, output=output)
            assert launch.wait(20), (launch.error, window_output(output))
            assert (
                window_output(output)[0]
                == f"argv {['--broker', b.endpoint, '--host', adapter.id]!r}"
            )
            assert window_output(output)[1].startswith("shown {'WindowTitle'")


def test_a_window_that_dies_at_start_says_so(adapter, launches):
    launch = show(launches, adapter, sys.executable, "-c", "raise SystemExit(3)")
    assert launch.wait(20) is False
    assert "exited with status 3 before it was shown" in str(launch.error)


def test_a_window_that_never_answers_times_out(adapter, launches):
    # The window: a process that starts and then never answers (it waits for
    # a signal; the launches fixture kills it when the test ends).
    launch = show(
        launches, adapter, sys.executable, "-c", "import signal; signal.pause()", timeout=0.5
    )
    assert launch.wait(10) is False
    assert isinstance(launch.error, TimeoutError) and launch.done


def test_another_kind_of_ui_at_the_endpoint_is_a_clear_error(adapter, launches):
    with ui_adapter.listen({"hide": lambda: None}, endpoint=adapter.ui_endpoint):
        assert adapter.wait_connected(5)
        launch = show(launches, adapter, sys.executable, "-c", "raise SystemExit(1)")
        assert launch.wait(10) is False
    assert "is not pyblish-qml" in str(launch.error) and launch.process is None


def test_the_python_that_runs_the_window(tmp_path, monkeypatch):
    python = tmp_path / "python3.11"
    python.write_text("")
    missing = tmp_path / "nowhere" / "python"
    monkeypatch.setenv(qml.PYTHON_ENV, os.pathsep.join([str(missing), str(python)]))
    assert qml.python_for_qml() == str(python)
    assert qml.python_for_qml("/opt/py/bin/python") == "/opt/py/bin/python"
    monkeypatch.delenv(qml.PYTHON_ENV)
    assert qml.python_for_qml() == sys.executable
