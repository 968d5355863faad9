"""``python -m broker``: commands, output and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Optional, Tuple

import pytest

import broker
import host_adapter
from broker.relay.cli import _build_parser, main, parse_value
from broker.transport.endpoints import UI_ENDPOINT_ENV
from tests.conftest import ROOT, ipc_endpoint
from tests.helpers.plainserver import PlainServer, free_tcp_endpoint


class Service:
    def add(self, a, b):
        """Add two numbers."""
        return a + b

    def greet(self, name, punctuation="!"):
        return f"hello {name}{punctuation}"

    def fail(self):
        raise RuntimeError("nope")

    def blob(self):
        return {"text": b"abc", "binary": b"\xff\x00"}


@pytest.fixture
def host(tmp_path):
    with host_adapter.serve(Service(), name="maya", ui=ipc_endpoint(tmp_path)) as adapter:
        yield adapter


@pytest.mark.parametrize(
    "text, value",
    [
        ("5", 5),
        ('"5"', "5"),
        ("[1, 2]", [1, 2]),
        ("null", None),
        ("None", None),
        ("(1, 2)", (1, 2)),
        ("b'raw'", b"raw"),
        ("plain words", "plain words"),
        ("{}", {}),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_call_prints_json(host, capsys):
    assert main(["call", host.endpoint, "add", "5", "10"]) == 0
    assert json.loads(capsys.readouterr().out) == 15


def test_call_with_keywords(host, capsys):
    assert main(["call", host.endpoint, "greet", "Ada", "-k", "punctuation=?"]) == 0
    assert json.loads(capsys.readouterr().out) == "hello Ada?"


def test_call_bytes_are_printable(host, capsys):
    assert main(["call", host.endpoint, "blob"]) == 0
    assert json.loads(capsys.readouterr().out) == {"text": "abc", "binary": {"base64": "/wA="}}


def test_remote_error_is_one_line_and_exit_1(host, capsys):
    assert main(["call", host.endpoint, "fail"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: nope" in err


def test_timeout_is_exit_1(capsys):
    with PlainServer("silent") as server:  # listens, never answers
        assert main(["call", server.endpoint, "add", "1", "2", "--timeout", "0.2"]) == 1
    assert "CallTimeout" in capsys.readouterr().err


def run_cli(*args: str, env: Optional[dict] = None) -> Tuple[subprocess.CompletedProcess, float]:
    """``python -m broker ARGS`` in a subprocess, and how long it took."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "broker", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    "command",
    [
        ["call", "{ep}", "add", "1", "2"],
        ["ping", "{ep}"],
        ["describe", "{ep}"],
        ["hosts", "--ui", "{ep}"],
    ],
)
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_nothing_listening_is_said_at_once(command, transport, tmp_path):
    endpoint = free_tcp_endpoint() if transport == "tcp" else ipc_endpoint(tmp_path, "nobody")
    argv = [part.format(ep=endpoint) for part in command]
    done, took = run_cli(*argv, "--timeout", "30")
    assert done.returncode == 1
    assert took < 10, "waited for the timeout"
    assert done.stderr.startswith(f"error: nothing answers at {endpoint}"), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_nothing_at_the_ui_endpoint_names_a_ui_or_a_broker():
    endpoint = free_tcp_endpoint()
    done, took = run_cli("hosts", "--timeout", "30", env={UI_ENDPOINT_ENV: endpoint})
    assert done.returncode == 1 and took < 10
    assert "the UI endpoint, which a UI or the broker (python -m broker) owns" in done.stderr


def test_nothing_at_a_broker_names_the_broker():
    endpoint = free_tcp_endpoint()
    done, _ = run_cli("call", endpoint, "maya/ls", "--timeout", "30")
    assert done.returncode == 1
    assert "is a broker (python -m broker) running there?" in done.stderr, done.stderr


def test_a_server_that_is_not_zeromq_is_said_at_once():
    with PlainServer("http") as server:
        done, took = run_cli("hosts", server.endpoint, "--timeout", "30")
    assert done.returncode == 1 and took < 10
    assert done.stderr.startswith(
        f"error: something that is not ZeroMQ listens at {server.endpoint} "
        "(it answered b'HTTP/1.0 400 Bad Request"
    ), done.stderr


def test_a_slow_answer_still_gets_the_full_timeout(tmp_path):
    release = threading.Event()

    def slow():
        release.wait(10)
        return "late"

    with host_adapter.serve({"slow": slow}, name="maya", ui=ipc_endpoint(tmp_path)) as adapter:
        try:
            done, took = run_cli("call", adapter.endpoint, "slow", "--timeout", "1.5")
        finally:
            release.set()
    assert done.returncode == 1 and "CallTimeout" in done.stderr, done.stderr
    assert took >= 1.5


def test_ping_and_describe(host, capsys):
    assert main(["ping", host.endpoint]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == host.id
    assert main(["describe", host.endpoint]) == 0
    out = capsys.readouterr().out
    assert "add(a, b)  - Add two numbers." in out and "greet(name, punctuation='!')" in out


def test_hosts_table(tmp_path, capsys):
    import ui_adapter

    endpoint = ipc_endpoint(tmp_path, "ui2")
    with ui_adapter.listen(endpoint=endpoint, heartbeat_interval=0.1) as ui:
        assert main(["hosts", "--ui", endpoint]) == 0
        assert capsys.readouterr().out.strip() == "no hosts"
        with host_adapter.serve({}, name="nuke", ui=endpoint) as adapter:
            ui.wait_for_host("nuke", timeout=5)
            assert main(["hosts", "--ui", endpoint]) == 0
            lines = capsys.readouterr().out.splitlines()
            assert lines[0].split() == ["ID", "NAME", "STATE", "ENDPOINT", "PID", "SEEN"]
            assert lines[1].split()[:3] == [adapter.id, "nuke", "idle"]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("serve", "call", "describe", "ping", "hosts"))


def test_module_entry_point_help():
    done = subprocess.run(
        [sys.executable, "-m", "broker", "call", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and "NAME=VALUE" in done.stdout


# -- Ctrl-C, --version, -v, endpoints, describe through a broker, arguments ------------


def started_cli(*args: str) -> subprocess.Popen:
    """``python -m broker ARGS`` running in a subprocess (stop it with a signal)."""
    return subprocess.Popen(
        [sys.executable, "-m", "broker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def finished(process: subprocess.Popen) -> Tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    return process.returncode, out, err


def test_ctrl_c_in_a_long_call_is_one_line_and_exit_130(tmp_path):
    running, release = threading.Event(), threading.Event()

    def hold():
        running.set()
        release.wait(30)
        return "done"

    with host_adapter.serve({"hold": hold}, name="maya", ui=ipc_endpoint(tmp_path)) as adapter:
        process = started_cli("call", adapter.endpoint, "hold", "--timeout", "60")
        try:
            assert running.wait(20), "the call never started in the host"
            process.send_signal(signal.SIGINT)
            status, out, err = finished(process)
        finally:
            release.set()
    assert (status, out, err) == (130, "", "interrupted\n")


def test_ctrl_c_stops_the_broker_with_exit_130_and_says_listening_once():
    process = started_cli("serve", "--bind", "tcp://127.0.0.1:*")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("broker listening at tcp://127.0.0.1:"), line
        with broker.connect(line.split()[3], timeout=5) as proxy:
            assert proxy.call("rpc.ping")["role"] == "broker"
        process.send_signal(signal.SIGINT)
        status, out, err = finished(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert status == 130 and err.endswith("interrupted\n") and "Traceback" not in err
    assert "listening" not in out + err  # the line above, and only it


def test_version_on_every_command_line():
    from broker import __version__

    for module in ("broker", "ui_adapter", "ui_adapter.qml"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (done.returncode, done.stdout) == (0, f"python -m {module} {__version__}\n")


def test_verbose_before_or_after_the_command(tmp_path):
    parser = _build_parser()
    assert parser.parse_args(["hosts"]).verbose is False
    assert parser.parse_args(["-v", "hosts"]).verbose is True
    assert parser.parse_args(["hosts", "-v"]).verbose is True
    assert parser.parse_args(["call", "ep", "add", "--verbose"]).verbose is True
    assert parser.parse_args(["serve", "-v"]).verbose is True


def test_hosts_takes_the_endpoint_positionally_and_per_user(tmp_path, monkeypatch):
    import ui_adapter

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with ui_adapter.listen(endpoint="per-user", heartbeat_interval=0.1) as ui:
        assert ui.endpoint == f"ipc://{runtime}/zmq-host-broker/ui"
        with host_adapter.serve({}, name="nuke", ui=ui.endpoint) as adapter:
            ui.wait_for_host("nuke", timeout=5)
            for argv in (["hosts", ui.endpoint, "-v"], ["hosts", "per-user"]):
                done, _ = run_cli(*argv)
                assert done.returncode == 0, done.stderr
                assert done.stdout.splitlines()[1].split()[:2] == [adapter.id, "nuke"]
            done, _ = run_cli("ping", "per-user")
            assert json.loads(done.stdout)["pid"] == os.getpid()


def test_describe_a_host_through_a_broker_and_the_brokers_routing_hint(tmp_path):
    with broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.1) as running:
        with host_adapter.serve(
            Service(), name="maya", ui=running.endpoint, heartbeat_interval=0.1
        ) as adapter:
            assert adapter.wait_connected(10)
            by_name, _ = run_cli("describe", running.endpoint, "maya")
            by_id, _ = run_cli("describe", running.endpoint, adapter.id)
            itself, _ = run_cli("describe", running.endpoint)
    for done in (by_name, by_id):
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("maya (protocol 1)")
        assert "  add(a, b)  - Add two numbers." in done.stdout
    assert itself.stdout.splitlines()[:2] == [
        "broker (protocol 1, broker)",
        "  routing: call TARGET/METHOD; TARGET is a host id or name (see rpc.hosts)",
    ]


def test_describe_of_a_foreign_host_with_odd_types_prints():
    from tests.helpers.rawserver import RawServer

    def describe(server, envelope, request):
        methods = [{"name": "ls", "doc": 42, "signature": None}, "odd", {"name": "cd"}]
        server.reply(envelope, request.msgid, {"name": "foreign", "methods": methods})

    with RawServer(describe) as server:
        done, _ = run_cli("describe", server.endpoint, "--no-auth")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["foreign (protocol ?)", "  ls  - 42", "  odd", "  cd"]


def test_a_list_that_is_not_json_is_an_error_not_a_string(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match="not valid JSON: \\[persp, top\\]"):
        parse_value("[persp, top]")
    with pytest.raises(argparse.ArgumentTypeError, match="not valid JSON"):
        parse_value("{camera: persp}")
    done, _ = run_cli("call", ipc_endpoint(tmp_path), "frame", "[persp, top]")
    assert done.returncode == 2
    assert "not valid JSON: [persp, top]" in done.stderr and "'\"[persp, top]\"'" in done.stderr
    done, _ = run_cli("call", "--help")
    assert "is an error, not text" in done.stdout
