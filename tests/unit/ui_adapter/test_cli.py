"""``python -m ui_adapter publish``: progress, summary, exit status, finding the host."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Optional, Tuple

import pytest

pytest.importorskip("pyblish")

import broker  # noqa: E402
import host_adapter  # noqa: E402
import ui_adapter  # noqa: E402
from host_adapter.pyblish import PyblishService  # noqa: E402
from tests.conftest import ROOT, ipc_endpoint, wait_until  # noqa: E402
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


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_publish_a_host_at_its_endpoint(tmp_path):
    install("basic")
    out, err = io.StringIO(), Terminal()
    with serve(tmp_path) as adapter:
        status = main(["publish", "--endpoint", adapter.endpoint], out=out, err=err)
    text = out.getvalue()
    assert status == 0, text
    lines = text.splitlines()
    # The bar is redrawn on stderr, a terminal here; none of it in the results.
    assert not [line for line in lines if line.startswith("[")]
    drawn = err.getvalue().split("\r")
    assert len(drawn) == 14 and drawn[-1].startswith("[########################]   13/13")
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


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path):
    install("basic")
    with serve(tmp_path) as adapter:
        done, _ = run_publish("--endpoint", adapter.endpoint)  # stderr: a pipe
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "13 pairs: 13 ok, 0 failed" in done.stdout and "[#" not in done.stdout


def test_json_prints_one_summary_for_scripts(tmp_path):
    install("failing")
    with serve(tmp_path) as adapter:
        done, _ = run_publish("--endpoint", adapter.endpoint, "--json", "--repair")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    summary = json.loads(done.stdout)  # one document, nothing else on stdout
    assert summary["status"] == 0 and summary["error"] is None
    assert summary["counts"] == {"pairs": 10, "succeeded": 10, "failed": 0}
    first = summary["runs"][0]
    assert first["stopped"] == "failed validation" and first["counts"]["failed"] == 1
    (error,) = first["errors"]
    assert error["plugin"] == "Validate names" and error["instance"] == "sphere"
    assert "must end in _GEO or _RIG" in error["message"] and error["line_number"] > 0
    assert summary["repairs"] == [
        {"plugin": "Validate names", "instance": "sphere", "success": True, "error": None}
    ]
    assert [r["success"] for r in summary["results"]] == [True] * 10


def test_json_says_why_a_publish_could_not_run():
    done, _ = run_publish("--endpoint", free_tcp_endpoint(), "--json")
    assert done.returncode == 2
    summary = json.loads(done.stdout)
    assert summary["status"] == 2 and summary["error"].startswith("nothing answers at")
    assert summary["results"] == [] and summary["runs"] == []


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
    err = io.StringIO()
    with serve(tmp_path, ui=endpoint):  # announces before anyone listens
        argv = ["publish", "--host", "maya", "--ui", endpoint, "--wait", "10"]
        status = main(argv, out=out, err=err)
    assert status == 0, out.getvalue()
    assert err.getvalue() == f"waiting for 'maya' at {endpoint}...\n"


def test_publishes_through_a_broker_that_owns_the_ui_endpoint(tmp_path):
    install("basic")
    out, err = io.StringIO(), io.StringIO()
    # tcp, not ipc: a second bind of an ipc path takes it over instead of failing.
    with broker.Broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.1).start() as running:
        endpoint = running.endpoint
        with serve(tmp_path, ui=endpoint) as adapter:
            assert adapter.wait_connected(10)
            status = main(["publish", "--host", "maya", "--ui", endpoint], out=out, err=err)
    assert status == 0, out.getvalue()
    assert err.getvalue() == f"publishing {adapter.id} through the broker at {endpoint}\n"
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


def test_ctrl_c_cancels_the_publish_in_the_host_and_exits_130(tmp_path):
    import pyblish.api

    running, release = threading.Event(), threading.Event()

    class HoldValidation(pyblish.api.ContextPlugin):
        order = pyblish.api.ValidatorOrder + 0.4  # after the validators, before extraction

        def process(self, context):
            running.set()
            release.wait(30)

    install("basic")
    pyblish.api.register_plugin(HoldValidation)
    service = PyblishService()
    with serve(tmp_path, service=service) as adapter:
        process = subprocess.Popen(
            [sys.executable, "-m", "ui_adapter", "publish", "--endpoint", adapter.endpoint],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert running.wait(30), "the publish never reached the holding plug-in"
            calls = service.stats()["requests"]["next"]
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)
        assert (process.returncode, err) == (130, "interrupted\n")
        assert "pairs" not in out  # no summary of a publish that did not end
        # The host runs the cancel once the plug-in it was in returns.
        wait_until(lambda: service.stats()["requests"].get("cancel") == 1, 10, "the cancel")
        assert service.stats()["requests"]["next"] == calls  # nothing ran after it
    assert not list(tmp_path.glob("*.txt")), "the extractors ran"


def test_publish_takes_the_same_options_as_the_brokers_commands():
    from broker.relay.cli import _build_parser as broker_parser
    from ui_adapter.cli import _build_parser as ui_parser

    def options(parser, command):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return {flag for action in sub.choices[command]._actions for flag in action.option_strings}

    shared = options(broker_parser(), "call")
    publish = options(ui_parser(), "publish")
    security = {"--no-auth", "--key-file", "--curve-cert", "--authorized", "--curve-authorized"}
    assert security | {"--server-key", "--curve-server", "-v", "--verbose"} <= shared & publish


def test_verbose_after_publish_and_the_per_user_endpoint(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(runtime)}
    done = subprocess.run(
        [sys.executable, "-m", "ui_adapter", "publish", "--endpoint", "per-user", "-v"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert f"error: nothing answers at ipc://{runtime}/zmq-host-broker/ui" in done.stderr


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
