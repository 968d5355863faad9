"""The examples: every file compiles; the generic Qt app really serves.

The DCC start-up snippets (examples/maya, nuke, houdini, blender) need their
DCC to run; here they are only compiled.
"""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, wait_until
from tests.helpers.script_process import ScriptProcesses

EXAMPLES = sorted((ROOT / "examples").rglob("*.py"))


def test_there_is_a_snippet_per_dcc() -> None:
    names = {path.relative_to(ROOT / "examples").as_posix() for path in EXAMPLES}
    assert {
        "maya/userSetup.py",
        "nuke/menu.py",
        "houdini/pythonrc.py",
        "blender/zmq_host_broker_addon.py",
        "qt/qt_app.py",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_example_compiles(path: Path, tmp_path: Path) -> None:
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


@pytest.mark.skipif(importlib.util.find_spec("PySide6") is None, reason="needs PySide6")
def test_the_qt_app_example_serves_its_functions(fast_ui: Any) -> None:
    with ScriptProcesses() as start:
        process = start(
            ROOT / "examples" / "qt" / "qt_app.py",
            env={"QT_QPA_PLATFORM": "offscreen", "BROKER_UI_ENDPOINT": fast_ui.endpoint},
        )
        assert process.read_line(timeout=30).startswith("serving at ")
        app = fast_ui.wait_for_host("qt-app", timeout=10)
        assert app.nodes() == ["camera", "light", "ground"]
        assert app.create("tree") == ["camera", "light", "ground", "tree"]
        assert sorted(app.select(["tree", "light"])) == ["light", "tree"]
        assert app.title() == "Qt host"
        assert app.quit() is True
        assert process.exit_status() == 0, process.stop()
        wait_until(lambda: fast_ui.hosts() == [], message="the app to depart")
