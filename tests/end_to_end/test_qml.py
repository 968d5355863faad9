"""pyblish-qml's real window, offscreen, publishing a host in another process over ZeroMQ.

The host (tests/helpers/qml_host_process.py) drives the window as a DCC
menu would: ``show`` (which starts ``ui_adapter.qml`` through
``host_adapter.pyblish.qml.show``), then ``publish``. The pairs pyblish
processes in the host must be those of ``pyblish.util`` in this process.

Needs pyblish-qml and PyQt5 (``pip install ".[qml]"``) and the system
libraries PyQt5 loads (on Debian, as root: ``.ci/install-qt-system-packages``);
skipped, saying so, where pyblish-qml cannot start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("pyblish")

import pyblish.api  # noqa: E402
import pyblish.lib  # noqa: E402
import pyblish.util  # noqa: E402

from tests.conftest import HELPERS, ROOT, ipc_endpoint  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV  # noqa: E402
from tests.helpers.script_process import ScriptProcess, ScriptProcesses  # noqa: E402

HOST_SCRIPT = HELPERS / "qml_host_process.py"
UI_SCRIPT = HELPERS / "qml_ui_process.py"
HOW_TO_RUN = (
    'pip install ".[qml]" and, on Debian as root, .ci/install-qt-system-packages; '
    "then python -m pytest tests/end_to_end/test_qml.py"
)
# The window's heartbeat: a killed host is lost after three of them.
HEARTBEAT = 0.2
QUIT_WITHIN = 5.0

Row = List[Any]


def run_window(env: Dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui_adapter.qml", *arguments],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def qt_environment(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Offscreen Qt, and a skip where pyblish-qml cannot start."""
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    runtime.chmod(0o700)
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime)}
    check = run_window(env, "--check")
    if check.returncode != 0:
        reason = check.stderr.strip().splitlines()[0] if check.stderr.strip() else "no reason"
        pytest.skip(f"{reason} (to run it: {HOW_TO_RUN})")
    return env


@pytest.fixture(autouse=True)
def clean_pyblish() -> Iterator[None]:
    with pyblish_plugins.isolated():
        yield


@pytest.fixture
def start() -> Iterator[Callable[..., ScriptProcess]]:
    with ScriptProcesses() as start_script:
        yield start_script


class MenuHost:
    """The host process, its menu on stdin and its events on stdout."""

    def __init__(self, process: ScriptProcess) -> None:
        self.process = process
        self.events: List[Dict[str, Any]] = []

    def next_event(self, event: str, name: Optional[str] = None, timeout: float = 20.0) -> Any:
        """Read events until one of kind ``event`` (and ``name``) comes; return it."""
        deadline = time.monotonic() + timeout
        for _ in range(10_000):  # bounded by the deadline long before
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self.process.read_line(timeout=remaining)
            except AssertionError:  # it printed nothing more in time, or exited
                break
            if not line.startswith("{"):
                continue  # a log line
            message = json.loads(line)
            self.events.append(message)
            if message["event"] == event and name in (None, message.get("name")):
                return message
        seen = [(e["event"], e.get("name")) for e in self.events]
        raise AssertionError(f"no {event} {name or ''} within {timeout} s; seen {seen}")

    def rows(self) -> List[Row]:
        return [e["row"] for e in self.events if e["event"] == "processed"]


def where_hosts_announce(mode: str, tmp_path: Path, start: Callable[..., ScriptProcess]) -> str:
    """The UI endpoint (direct) or a standalone broker's endpoint (broker)."""
    endpoint = ipc_endpoint(tmp_path, mode)
    if mode == "broker":
        broker = start(HELPERS / "processes.py", "broker", endpoint)
        return broker.read_line()
    return endpoint


def in_process(scenario: str, staging: Path, untick: Optional[str]) -> List[Row]:
    """``pyblish.util`` here: publish, or collect, untick one instance, publish the rest."""
    staging.mkdir()
    os.environ[STAGING_ENV] = str(staging)
    try:
        pyblish_plugins.install(scenario)
        if untick is None:
            context = pyblish.util.publish()
        else:
            context = pyblish.util.collect()
            for instance in context:
                if instance.name == untick:
                    instance.data["publish"] = False
            rest = [
                plugin
                for plugin in pyblish.api.discover()
                if not pyblish.lib.inrange(plugin.order, pyblish.api.CollectorOrder)
            ]
            pyblish.util.publish(context, plugins=rest)
    finally:
        del os.environ[STAGING_ENV]
    return [list(row) for row in pyblish_plugins.result_rows(context.data["results"])]


def start_host(
    start: Callable[..., ScriptProcess],
    env: Dict[str, str],
    endpoint: str,
    scenario: str,
    staging: Path,
    ui_output: Path,
    *ui_arguments: str,
) -> Tuple[MenuHost, Dict[str, Any]]:
    staging.mkdir()
    process = start(
        HOST_SCRIPT,
        endpoint,
        scenario,
        str(ui_output),
        *ui_arguments,
        env={**env, STAGING_ENV: str(staging)},
        stdin=True,
    )
    host = MenuHost(process)
    return host, host.next_event("ready")


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


SAY_FROM_THREADS = """
import threading
from tests.helpers.qml_host_process import say

def run(n):
    for i in range(2000):
        say("signal", name=f"{n}-{i}")

threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_the_host_helper_prints_one_event_a_line_from_many_threads() -> None:
    # Two events on one line failed a publish test once (Python 3.13, under load).
    done = subprocess.run(
        [sys.executable, "-c", SAY_FROM_THREADS],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = [json.loads(line)["name"] for line in done.stdout.splitlines()]
    assert sorted(names) == sorted(f"{n}-{i}" for n in range(8) for i in range(2000))


@pytest.mark.parametrize("mode", ["direct", "broker"])
@pytest.mark.parametrize(
    "scenario, untick",
    [("failing", None), ("basic", None), ("failing", "sphere")],
    ids=["stops-at-failed-validation", "passes", "instance-unticked"],
)
def test_the_window_publishes_a_host_as_pyblish_does(
    qt_environment, start, tmp_path, request, mode, scenario, untick
):
    expected = in_process(scenario, tmp_path / "local", untick)
    endpoint = where_hosts_announce(mode, tmp_path, start)
    ui_output = tmp_path / "ui.log"
    toggle = ["--toggle", untick] if untick else []
    host, _ = start_host(
        start,
        qt_environment,
        endpoint,
        scenario,
        tmp_path / "host",
        ui_output,
        *toggle,
        "--heartbeat",
        str(HEARTBEAT),
    )

    host.process.send("show")
    shown = host.next_event("shown", timeout=30)
    assert shown["error"] is None, ui_output.read_text()
    request.addfinalizer(lambda: kill_quietly(shown["pid"]))
    host.next_event("signal", "reset")  # the window collected the host
    if untick:
        host.next_event("signal", "instanceToggled")
    host.process.send("publish")
    assert host.next_event("asked", "publish")["error"] is None
    host.next_event("signal", "published", timeout=30)

    assert host.rows() == expected, ui_output.read_text()
    written = sorted(path.name for path in (tmp_path / "host").iterdir())
    assert written == sorted(path.name for path in (tmp_path / "local").iterdir())
    if scenario == "failing" and not untick:
        assert written == []  # a failed validation stopped extraction
        assert ["ValidateNames", "sphere", False, "'sphere' must end in _GEO or _RIG"] in expected
    elif untick:
        assert written == ["cube_GEO.txt", "rig_RIG.txt"]
    else:
        assert written == ["cube_GEO.txt", "rig_RIG.txt", "sphere_GEO.txt"]


@pytest.mark.parametrize("mode", ["direct", "broker"])
@pytest.mark.parametrize("ending", ["killed", "stopped"])
def test_the_window_quits_soon_after_its_host_is_gone_and_says_why(
    qt_environment, start, tmp_path, mode, ending
):
    endpoint = where_hosts_announce(mode, tmp_path, start)
    host, ready = start_host(
        start, qt_environment, endpoint, "basic", tmp_path / "host", tmp_path / "unused.log"
    )
    where = "--broker" if mode == "broker" else "--ui"
    window = start(
        UI_SCRIPT,
        *("--host", ready["id"], where, endpoint, "--heartbeat", str(HEARTBEAT), "--show"),
        env=qt_environment,
    )
    host.next_event("signal", "reset")  # the window is up and has called the host

    gone = time.monotonic()
    if ending == "killed":
        host.process.popen.kill()
    else:
        host.process.popen.terminate()  # the host departs
    try:
        status = window.exit_status(timeout=QUIT_WITHIN + 5)
    except AssertionError:
        raise AssertionError(f"the window is still there: {window.stop()}") from None
    took = time.monotonic() - gone
    said = window.stop()
    print(f"\n{mode}, host {ending}: the window quit {took:.2f} s later")

    assert status == 1, said
    assert took < QUIT_WITHIN, said
    why = "was lost: no heartbeat" if ending == "killed" else "departed: it stopped serving"
    assert f"pyblish-qml: host {ready['id']} {why}" in said


def test_no_host_in_time_or_a_taken_endpoint_is_a_clear_error(qt_environment, start, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "ui")
    alone = run_window(qt_environment, "--host", "nuke", "--ui", endpoint, "--wait", "0.3")
    assert alone.returncode == 2, alone.stderr
    assert f"HostNotFound: no host 'nuke' reached the UI endpoint {endpoint}" in alone.stderr
    start(HELPERS / "processes.py", "broker", endpoint).read_line()
    taken = run_window(qt_environment, "--host", "maya", "--ui", endpoint, "--wait", "1")
    assert taken.returncode == 2, taken.stderr
    assert "use --broker ENDPOINT" in taken.stderr


def test_ctrl_c_while_waiting_for_the_host_is_one_line_and_exit_130(qt_environment, tmp_path):
    endpoint = ipc_endpoint(tmp_path, "ui")
    arguments = ["--host", "maya", "--ui", endpoint, "--wait", "60"]
    window = subprocess.Popen(
        [sys.executable, "-m", "ui_adapter.qml", *arguments],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **qt_environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert window.stdout is not None
        assert window.stdout.readline().startswith("waiting for 'maya'")
        window.send_signal(signal.SIGINT)
        _, err = window.communicate(timeout=20)
    finally:
        if window.poll() is None:
            window.kill()
            window.communicate(timeout=10)
    assert (window.returncode, err) == (130, "interrupted\n")
