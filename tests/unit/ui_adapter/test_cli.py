"""``python -m ui_adapter publish``: progress, summary, exit status, finding the host."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from typing import Optional, Tuple

import pytest

pytest.importorskip("pyblish")

import broker  # noqa: E402
import host_adapter  # noqa: E402
import ui_adapter  # noqa: E402
from host_adapter.pyblish import PyblishService  # noqa: E402
from tests.conftest import ROOT, ipc_endpoint  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.plainserver import free_tcp_endpoint  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV, install  # noqa: E402
from ui_adapter.cli import main  # noqa: E402
from ui_adapter.pyblish.cli import progress_line, summary_table  # noqa: E402


@pytest.fixture(autouse=True)
def clean_pyblish(tmp_path, monkeypatch):
    monkeypatch.setenv(STAGING_ENV, str(tmp_path))
    with pyblish_plugins.isolated():
        yield


def serve(tmp_path, ui: str = "", service: Optional[PyblishService] = None):
    return host_adapter.serve(
        service or PyblishService(),
        name="maya",
        ui=ui or ipc_endpoint(tmp_path, "nobody"),
        heartbeat_interval=0.1,
    )


def test_progress_line():
    assert progress_line(0, 4, "x", width=8) == "[--------]    0/4    x"
    assert progress_line(2, 4, width=8) == "[####----]    2/4"
    assert progress_line(5, 4, width=8) == "[########]    5/5"  # estimates can be low
    assert progress_line(0, 0, width=4) == "[----]    0/1"


def test_summary_table_lines_up_and_shows_first_error_lines():
    results = [
        {
            "plugin": {"name": "CollectModels", "label": "Collect models"},
            "instance": None,
            "error": None,
            "duration": 1.25,
        },
        {
            "plugin": {"name": "ValidateNames", "label": None},
            "instance": {"name": "sphere"},
            "error": {"message": "bad name\nmore detail"},
            "duration": 12.0,
        },
    ]
    table = summary_table(results).splitlines()
    assert table[0].split() == ["#", "plug-in", "instance", "result", "ms", "message"]
    assert set(table[1]) <= {"-", " "}
    assert table[2].split() == ["1", "Collect", "models", "-", "ok", "1.2"]
    assert table[3].split() == ["2", "ValidateNames", "sphere", "FAILED", "12.0", "bad", "name"]
    assert (
        len({line.index("ok") if "ok" in line else line.index("FAILED") for line in table[2:]}) == 1
    )


def test_publish_a_host_at_its_endpoint(tmp_path):
    install("basic")
    out = io.StringIO()
    with serve(tmp_path) as adapter:
        status = main(["publish", "--endpoint", adapter.endpoint], out=out)
    text = out.getvalue()
    assert status == 0, text
    lines = text.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 13 and progress[-1].startswith("[########################]")
    assert "13 pairs: 13 ok, 0 failed" in lines
    assert any(line.split()[:3] == ["13", "IntegrateRemoveRig", "-"] for line in lines)
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == [
        "cube_GEO.txt",
        "rig_RIG.txt",
        "sphere_GEO.txt",
    ]


@pytest.mark.parametrize("options, calls", [([], 1), (["--batch", "1"], 14), (["--batch", "5"], 3)])
def test_batches_set_the_round_trips(tmp_path, options, calls):
    install("basic")
    service = PyblishService()
    with serve(tmp_path, service=service) as adapter:
        # A budget no test machine reaches: only --batch decides.
        argv = ["publish", "--endpoint", adapter.endpoint, "--budget", "60", *options]
        assert main(argv, out=io.StringIO()) == 0
    assert service.stats()["requests"]["next"] == calls


def test_failed_publish_exits_1_and_says_why(tmp_path):
    install("failing")
    out = io.StringIO()
    with serve(tmp_path) as adapter:
        status = main(["publish", "--endpoint", adapter.endpoint, "--batch", "3"], out=out)
    text = out.getvalue()
    assert status == 1
    assert "1 failed; stopped early: failed validation" in text
    assert "Validate names · sphere: 'sphere' must end in _GEO or _RIG" in text
    assert "pyblish_plugins.py:" in text
    assert not list(tmp_path.glob("*.txt"))


def test_repair_then_publish_the_repaired_context(tmp_path):
    install("failing")
    out = io.StringIO()
    with serve(tmp_path) as adapter:
        status = main(["publish", "--endpoint", adapter.endpoint, "--repair"], out=out)
    text = out.getvalue()
    assert status == 0, text
    first, repairing = text.split("\nrepairing\n")
    assert "stopped early: failed validation" in first
    assert "  Validate names · sphere: ok\n" in repairing
    assert "10 pairs: 10 ok, 0 failed" in repairing  # no collectors the second time
    assert len(list(tmp_path.glob("*.txt"))) == 3


def test_waits_at_the_ui_endpoint_for_the_host(tmp_path):
    install("basic")
    endpoint = ipc_endpoint(tmp_path, "ui")
    out = io.StringIO()
    with serve(tmp_path, ui=endpoint):  # announces before anyone listens
        status = main(["publish", "--host", "maya", "--ui", endpoint, "--wait", "10"], out=out)
    assert status == 0, out.getvalue()
    assert out.getvalue().startswith(f"waiting for 'maya' at {endpoint}...")


def test_publishes_through_a_broker_that_owns_the_ui_endpoint(tmp_path):
    install("basic")
    out = io.StringIO()
    # tcp, not ipc: a second bind of an ipc path takes it over instead of failing.
    with broker.Broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.1).start() as running:
        endpoint = running.endpoint
        with serve(tmp_path, ui=endpoint) as adapter:
            assert adapter.wait_connected(10)
            status = main(["publish", "--host", "maya", "--ui", endpoint], out=out)
    assert status == 0, out.getvalue()
    assert out.getvalue().startswith(f"publishing {adapter.id} through the broker at {endpoint}")
    assert "13 pairs: 13 ok, 0 failed" in out.getvalue()


def test_an_endpoint_owned_by_another_ui_is_reported(capsys):
    with ui_adapter.listen(endpoint="tcp://127.0.0.1:*") as ui:
        status = main(["publish", "--host", "maya", "--ui", ui.endpoint], out=io.StringIO())
    assert status == 2
    assert "owned by another UI" in capsys.readouterr().err


def test_no_host_exits_2(tmp_path, capsys):
    out = io.StringIO()
    status = main(
        ["publish", "--host", "houdini", "--ui", ipc_endpoint(tmp_path), "--wait", "0.2"],
        out=out,
    )
    assert status == 2
    assert "HostNotFound" in capsys.readouterr().err


def test_usage_errors():
    with pytest.raises(SystemExit) as info:
        main(["publish"], out=io.StringIO())
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["publish", "--host", "maya", "--batch", "0"], out=io.StringIO())
    out = io.StringIO()
    assert main([], out=out) == 2 and "publish" in out.getvalue()


def run_publish(*args: str) -> Tuple[subprocess.CompletedProcess, float]:
    """``python -m ui_adapter publish ARGS`` in a subprocess, and how long it took."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ui_adapter", "publish", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done, time.monotonic() - started


def test_nothing_at_the_host_endpoint_is_said_at_once():
    endpoint = free_tcp_endpoint()
    done, took = run_publish("--endpoint", endpoint, "--wait", "30")
    assert done.returncode == 2 and took < 10, done.stderr
    assert done.stderr == (
        f"error: nothing answers at {endpoint}: is the host (a DCC serving host_adapter) "
        "running there?\n"
    )


def test_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "ui_adapter", "publish", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--endpoint" in completed.stdout and "--host" in completed.stdout
