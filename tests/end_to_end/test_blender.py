"""Optional: the Blender dispatcher inside real Blender (``bpy`` from PyPI).

Off by default (``bpy`` is a large download and needs a matching Python,
e.g. bpy 5.0 on Python 3.11). Run it with::

    pip install bpy
    python -m pytest -m blender tests/end_to_end/test_blender.py     # or BROKER_TEST_BLENDER=1

``bpy`` as a module runs in background mode with no event loop, so its timers
never fire: the host process (tests/helpers/blender_host_process.py) either serves in
batch mode (``serve_forever()``, as ``blender -b`` would) or calls the
Blender dispatcher's timer function itself, registered with the real
``bpy.app.timers``.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Iterator

import pytest

from tests.conftest import HELPERS, wait_until
from tests.helpers.script_process import ScriptProcesses

pytestmark = pytest.mark.blender

BLENDER_HOST = HELPERS / "blender_host_process.py"


@pytest.fixture(autouse=True)
def _only_when_asked(request: pytest.FixtureRequest) -> None:
    asked = "blender" in (request.config.getoption("markexpr") or "")
    if not asked and os.environ.get("BROKER_TEST_BLENDER") != "1":
        pytest.skip("optional: python -m pytest -m blender (or BROKER_TEST_BLENDER=1)")
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("bpy is not installed: pip install bpy")


@pytest.fixture
def processes() -> Iterator[Any]:
    with ScriptProcesses() as start:
        yield start


@pytest.mark.parametrize(
    ("mode", "dispatcher"), [("batch", "MainThreadQueue"), ("timer", "BlenderDispatcher")]
)
def test_create_an_object_in_real_blender_through_the_adapter(
    fast_ui: Any, processes: Any, mode: str, dispatcher: str
) -> None:
    process = processes(BLENDER_HOST, mode, fast_ui.endpoint)
    process.read_line(timeout=60)  # endpoint: bpy takes a moment to import
    host_id = process.read_line()
    assert process.read_line() == dispatcher
    blender = fast_ui.wait_for_host("blender", timeout=10)
    before = blender.objects()
    assert "Cube" in before  # Blender's default scene
    assert blender.create("Probe") == "Probe"
    assert blender.objects() == sorted([*before, "Probe"])
    assert blender.select("Probe") == ["Probe"]
    assert blender.scene_file() == ""  # never saved
    assert blender.rpc.with_timeout(5).reenter("x") == ["x", "MainThread"]
    assert blender.socket_ops() == []
    assert blender.quit() is True
    assert process.exit_status(timeout=30) == 0, process.stop()
    wait_until(lambda: all(info["id"] != host_id for info in fast_ui.hosts()), message="departure")
