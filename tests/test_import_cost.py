"""What `import host_adapter` and `import broker` load: a DCC pays for every
module imported at start-up (DESIGN §9 budgets the time; this pins the cause)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Loaded only when used: event loops, Qt, introspection, paths, hashes, sockets.
DEFERRED = ["asyncio", "inspect", "PySide6", "PySide2", "PyQt5", "PyQt6", "pathlib", "hashlib"]


def modules_after(statement: str) -> list:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("statement", ["import host_adapter", "import broker"])
def test_what_a_dcc_imports_defers_heavy_modules(statement):
    loaded = modules_after(statement)
    assert [name for name in DEFERRED if name in loaded] == []
    assert "broker.broker" not in loaded  # the standalone broker loads when asked for


def test_the_standalone_broker_still_loads_on_first_use():
    loaded = modules_after("import broker; broker.Broker; broker.start_broker")
    assert "broker.broker" in loaded
