"""detect(): the dispatcher for the running host, from the modules it has loaded.

The DCC modules are the stand-ins in tests/helpers/standins (not real DCCs), imported
here the way a DCC has imported its own by the time a start-up script runs.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Iterator

import pytest

import host_adapter
from host_adapter import (
    BlenderDispatcher,
    HieroDispatcher,
    HoudiniDispatcher,
    MainThreadQueue,
    MayaDispatcher,
    NukeDispatcher,
    detect,
)
from tests.conftest import ROOT
from tests.unit.host_adapter.test_dcc import STANDIN_MODULES, STANDINS

# host -> the modules a DCC has imported at start-up
LOADED = {
    "maya": ["maya.cmds", "maya.utils"],
    "nuke": ["nuke"],
    "hiero": ["hiero.core"],
    "houdini": ["hou"],
    "blender": ["bpy"],
}
GUI = {
    "maya": MayaDispatcher,
    "nuke": NukeDispatcher,
    "hiero": HieroDispatcher,
    "houdini": HoudiniDispatcher,
    "blender": BlenderDispatcher,
}
# Modules that importing host_adapter, or detecting outside a DCC, must not load.
QT_MODULES = ("PySide6", "PySide2", "shiboken6", "shiboken2", "PyQt5", "PyQt6", "sip")
DCC_MODULES = ("maya", "nuke", "hiero", "hou", "hdefereval", "bpy")


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Stand-in DCC modules importable; unloaded again afterwards."""
    monkeypatch.syspath_prepend(str(STANDINS))
    try:
        yield monkeypatch
    finally:
        for name in STANDIN_MODULES:
            sys.modules.pop(name, None)


def load(host: str, batch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_BATCH", "1" if batch else "0")
    for name in LOADED[host]:
        importlib.import_module(name)


def close(dispatcher: object) -> None:
    closer = getattr(dispatcher, "close", None)
    if closer is not None:
        closer()


def test_nothing_to_detect_in_plain_python() -> None:
    assert not any(name.split(".")[0] in DCC_MODULES for name in sys.modules)
    assert detect() is None


@pytest.mark.parametrize("host", list(GUI))
def test_detects_each_dcc_with_its_ui(standins: pytest.MonkeyPatch, host: str) -> None:
    load(host, False, standins)
    dispatcher = detect()
    try:
        assert type(dispatcher) is GUI[host]
    finally:
        close(dispatcher)


@pytest.mark.parametrize("host", ["maya", "nuke", "houdini", "blender"])
def test_batch_mode_gets_a_queue_of_the_main_thread(
    standins: pytest.MonkeyPatch, host: str
) -> None:
    load(host, True, standins)
    dispatcher = detect()
    assert type(dispatcher) is MainThreadQueue
    assert dispatcher.main_thread is threading.main_thread()


def test_hython_is_batch_because_hdefereval_is_missing(standins: pytest.MonkeyPatch) -> None:
    load("houdini", True, standins)
    with pytest.raises(ImportError):
        importlib.import_module("hdefereval")  # as in hython
    assert type(detect()) is MainThreadQueue


def test_nukestudio_is_nuke(standins: pytest.MonkeyPatch) -> None:
    load("hiero", False, standins)
    load("nuke", False, standins)
    assert type(detect()) is NukeDispatcher


def test_a_package_merely_named_maya_is_not_maya(monkeypatch: pytest.MonkeyPatch) -> None:
    # e.g. the "maya" date library on PyPI
    monkeypatch.setitem(sys.modules, "maya", types.ModuleType("maya"))
    assert detect() is None


def test_serve_detects_and_closes_what_it_detected(standins: pytest.MonkeyPatch) -> None:
    load("blender", False, standins)
    bpy = sys.modules["bpy"]
    with host_adapter.serve({}, name="blender", ui="ipc:///nonexistent/ui") as adapter:
        assert type(adapter.dispatcher) is BlenderDispatcher
        timer = adapter.dispatcher.timer
        assert bpy.app.timers.is_registered(timer)
    assert not bpy.app.timers.is_registered(timer)  # stopped with the adapter


def test_serve_keeps_a_given_dispatcher(standins: pytest.MonkeyPatch) -> None:
    load("maya", False, standins)
    queue = MainThreadQueue()
    with host_adapter.serve({}, ui="ipc:///nonexistent/ui", dispatcher=queue) as adapter:
        assert adapter.dispatcher is queue
    assert not queue.closed  # not ours to close
    with host_adapter.serve(
        {}, ui="ipc:///nonexistent/ui", dispatcher=host_adapter.immediate
    ) as adapter:
        assert adapter.dispatcher is host_adapter.immediate  # forces the call thread


def test_import_loads_no_qt_and_no_dcc_module() -> None:
    code = (
        "import sys, json, host_adapter\n"
        "found = host_adapter.detect()\n"
        "print(json.dumps([repr(found), sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    found, modules = json.loads(out)
    assert found == "None"
    assert "host_adapter.dispatchers.qt" in modules  # imported, but it imports no Qt
    loaded = sorted({name.split(".")[0] for name in modules} & set(QT_MODULES + DCC_MODULES))
    assert loaded == []


def test_qt_binding_is_only_imported_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("PySide6", reason="PySide6 is in the test extra")
    code = (
        "import sys\n"
        "from host_adapter.dispatchers.qt import qt_core, QtDispatcher\n"
        "assert 'PySide6' not in sys.modules\n"
        "print(qt_core().__name__)\n"
        "try:\n"
        "    QtDispatcher()\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "PySide6.QtCore",
        "no Qt application yet: create the QApplication first",
    ]
