"""Pyblish in a host process, driven from this one (the UI side) over the broker's wire."""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("pyblish")

import pyblish.util  # noqa: E402

from tests.conftest import HELPERS, ROOT, Process, ipc_endpoint  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV  # noqa: E402
from ui_adapter.cli import main as cli_main  # noqa: E402
from ui_adapter.pyblish.publisher import Publisher  # noqa: E402

HOST_SCRIPT = HELPERS / "pyblish_host_process.py"
EXAMPLE_HOST = ROOT / "examples" / "pyblish" / "host.py"


class ScriptProcess(Process):
    """A Python script in its own process (conftest's Process runs only processes.py)."""

    def __init__(self, script: Path, *args: str, env: Optional[Dict[str, str]] = None) -> None:
        environment = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
        self.popen = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()


@pytest.fixture
def start_script() -> Iterator[Callable[..., ScriptProcess]]:
    """Start scripts in processes; all are killed when the test ends."""
    processes: List[ScriptProcess] = []

    def start(script: Path, *args: str, env: Optional[Dict[str, str]] = None) -> ScriptProcess:
        process = ScriptProcess(script, *args, env=env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


@pytest.fixture(autouse=True)
def clean_pyblish():
    with pyblish_plugins.isolated():
        yield


@pytest.fixture
def pyblish_host(fast_ui, start_script, tmp_path):
    """Start a host process with a scenario's plug-ins; returns (proxy, staging dir, process)."""

    def start(scenario: str) -> Tuple[Any, Path, ScriptProcess]:
        staging = tmp_path / "host"
        staging.mkdir()
        process = start_script(
            HOST_SCRIPT, fast_ui.endpoint, scenario, "maya", env={STAGING_ENV: str(staging)}
        )
        process.read_line()  # endpoint
        process.read_line()  # id
        return fast_ui.wait_for_host("maya", timeout=10), staging, process

    return start


def in_process(scenario: str, staging: Path, monkeypatch: Any) -> List[tuple]:
    staging.mkdir()
    monkeypatch.setenv(STAGING_ENV, str(staging))
    pyblish_plugins.install(scenario)
    context = pyblish.util.publish()
    return [
        (
            r["plugin"].__name__,
            r["instance"].name if r["instance"] is not None else None,
            r["success"],
            str(r["error"]) if r["error"] else None,
        )
        for r in context.data["results"]
    ]


def rows(results: List[Dict[str, Any]]) -> List[tuple]:
    return [
        (
            r["plugin"]["name"],
            r["instance"]["name"] if r["instance"] else None,
            r["success"],
            r["error"]["message"] if r["error"] else None,
        )
        for r in results
    ]


@pytest.mark.parametrize("scenario", ["basic", "failing"])
def test_remote_publish_gives_what_pyblish_util_gives_in_process(
    pyblish_host, scenario, tmp_path, monkeypatch
):
    expected = in_process(scenario, tmp_path / "local", monkeypatch)
    maya, staging, _ = pyblish_host(scenario)
    publisher = Publisher(maya)
    results = list(publisher.publish())
    assert rows(results) == expected
    written = sorted(path.name for path in staging.iterdir())
    local = sorted(path.name for path in (tmp_path / "local").iterdir())
    assert written == local
    if scenario == "basic":
        assert written == ["cube_GEO.txt", "rig_RIG.txt", "sphere_GEO.txt"]
        assert publisher.stopped is None
    else:
        # Failed validation stopped extraction, in the host as in-process.
        assert written == []
        assert publisher.stopped == "failed validation"
        assert not [r for r in results if r["plugin"]["name"].startswith(("Extract", "Integ"))]


def test_log_records_arrive_with_results_from_the_main_thread(pyblish_host):
    maya, staging, process = pyblish_host("basic")
    results = list(Publisher(maya).publish())
    extracted = [r for r in results if r["plugin"]["name"] == "ExtractFiles"]
    assert len(extracted) == 3
    for result in extracted:
        (record,) = result["records"]
        subset = {"cube": "cube_GEO", "sphere": "sphere_GEO", "rig": "rig_RIG"}
        path = staging / (subset[result["instance"]["name"]] + ".txt")
        assert record["message"] == f"wrote {path} on MainThread"
        assert record["threadName"] == "MainThread"
        assert record["name"] == "pyblish.ExtractFiles" and record["levelname"] == "INFO"
    (scene,) = [r for r in results if r["plugin"]["name"] == "ValidateScene"]
    assert [(r["levelname"], r["message"]) for r in scene["records"]] == [
        ("WARNING", "scene has 3 instances")
    ]
    assert all(r["duration"] >= 0 for r in results)


def test_repair_and_an_action_run_in_the_host(pyblish_host):
    maya, staging, _ = pyblish_host("failing")
    publisher = Publisher(maya)
    list(publisher.publish())
    (failed,) = publisher.failed
    validate = publisher.plugin(failed["plugin"]["id"])
    (select,) = [a for a in publisher.actions(validate) if a["name"] == "SelectInvalid"]
    selected = publisher.run_action(validate, select)
    assert selected["success"] and selected["records"][0]["message"] == "selected sphere"
    assert publisher.context is not None
    assert publisher.context["data"]["selected"] == ["sphere"]
    repaired = publisher.repair(validate, failed["instance"])
    assert repaired["success"], repaired["error"]
    assert repaired["records"][0]["message"] == "renamed to sphere_GEO"
    assert publisher.instance(failed["instance"]["id"])["data"]["subset"] == "sphere_GEO"
    rest = list(publisher.run(collect=False))
    assert all(r["success"] for r in rest) and publisher.stopped is None
    assert sorted(path.name for path in staging.iterdir()) == [
        "cube_GEO.txt",
        "rig_RIG.txt",
        "sphere_GEO.txt",
    ]


def test_the_command_line_publishes_a_host_process(start_script, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "ui")
    staging = tmp_path / "host"
    staging.mkdir()
    process = start_script(
        HOST_SCRIPT, endpoint, "failing", "nuke", env={STAGING_ENV: str(staging)}
    )
    process.read_line()
    out = io.StringIO()
    status = cli_main(["publish", "--host", "nuke", "--ui", endpoint, "--wait", "10"], out=out)
    text = out.getvalue()
    assert status == 1, text
    assert "stopped early: failed validation" in text
    assert "Validate names · sphere: 'sphere' must end in _GEO or _RIG" in text


def test_the_example_host_publishes_after_a_repair(start_script, tmp_path):
    root = tmp_path / "publishes"
    process = start_script(
        EXAMPLE_HOST,
        "--ui",
        ipc_endpoint(tmp_path, "nobody"),
        env={"PYBLISH_EXAMPLE_ROOT": str(root)},
    )
    endpoint = process.read_line()
    out = io.StringIO()
    status = cli_main(["publish", "--endpoint", endpoint, "--repair"], out=out)
    text = out.getvalue()
    assert status == 0, text
    # pyblish's own collectors (date, user, directory) run too: count only ours.
    assert re.search(r"\d+ pairs: \d+ ok, 1 failed; stopped early: failed validation", text)
    assert "Validate naming · sphere: 'sphere' must end in _GEO" in text
    assert "  Validate naming · sphere: ok" in text
    assert text.rstrip().endswith("9 pairs: 9 ok, 0 failed")
    published = sorted(str(path.relative_to(root)) for path in root.rglob("*.json"))
    assert published == [
        "cube_GEO/v001/cube_GEO.json",
        "hero_RIG/v001/hero_RIG.json",
        "sphere_GEO/v001/sphere_GEO.json",
    ]


def test_importing_the_adapters_imports_no_pyblish():
    code = (
        "import sys, host_adapter, ui_adapter, ui_adapter.pyblish.publisher, ui_adapter.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyblish'))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
