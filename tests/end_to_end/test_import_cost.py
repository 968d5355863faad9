"""What `import host_adapter` and `import broker` load: a DCC pays for every
module imported at start-up (the bench budgets the time; this pins the cause).

Measured against ``import zmq, msgpack`` in the same interpreter: pyzmq
itself imports ``inspect`` on some Pythons, and an editable install imports
``pathlib`` before any test code runs; neither is this project's doing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Loaded only when used: event loops, Qt, introspection, paths, hashes.
DEFERRED = ["asyncio", "inspect", "PySide6", "PySide2", "PyQt5", "PyQt6", "pathlib", "hashlib"]


def modules_after(statement: str) -> list:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def added_by(statement: str) -> set:
    """Modules ``statement`` loads on top of ``import zmq, msgpack``."""
    return set(modules_after(f"import zmq, msgpack; {statement}")) - set(
        modules_after("import zmq, msgpack")
    )


@pytest.mark.parametrize("statement", ["import host_adapter", "import broker"])
def test_what_a_dcc_imports_defers_heavy_modules(statement):
    added = added_by(statement)
    assert [name for name in DEFERRED if name in added] == []
    assert "broker.relay.broker" not in added  # the standalone broker loads when asked for


def test_the_measure_sees_a_heavy_import():
    assert "asyncio" in added_by("import broker.aio")


def test_the_standalone_broker_still_loads_on_first_use():
    loaded = modules_after("import broker; broker.Broker; broker.start_broker")
    assert "broker.relay.broker" in loaded


def test_pyblish_qml_and_qt_load_only_when_its_window_is_made():
    pytest.importorskip("pyblish")
    loaded = modules_after("import ui_adapter, ui_adapter.qml, host_adapter.pyblish.qml")
    assert "ui_adapter.qml.cli" in loaded
    assert [name for name in loaded if name.split(".")[0] in ("PyQt5", "pyblish_qml")] == []
    assert "ui_adapter.qml" not in modules_after("import ui_adapter")
