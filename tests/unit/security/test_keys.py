"""The per-user key file: made once, found by every process, refused when unsafe."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

import broker
import host_adapter
import ui_adapter
from broker.errors import KeyFileError
from broker.security.keys import create_certificate, create_key, default_key_path, load_key
from tests.conftest import ROOT, ipc_endpoint, wait_until

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="mode bits are POSIX")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of this user's own, as the key's folder must be."""
    path = tmp_path / "keys"
    path.mkdir(mode=0o700)
    return path


@posix_only
def test_made_once_private_and_found_again(folder: Path) -> None:
    path = create_key(folder / "zmq-host-broker" / "key")
    pair = load_key(path)
    assert len(pair.secret) == len(pair.public) == 40  # Z85, as ZeroMQ takes them
    assert zmq.curve_public(pair.secret) == pair.public
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(path) == pair  # every process of the user finds the same key
    assert [p.name for p in path.parent.iterdir()] == ["key"]  # no temporary left


def test_the_default_file_is_made_on_first_use(monkeypatch, folder: Path) -> None:
    monkeypatch.delenv("BROKER_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("HOME", str(folder))
    if sys.platform.startswith("linux"):
        assert default_key_path() == folder / "zmq-host-broker" / "key"
    pair = load_key()
    assert pair.path == str(default_key_path()) and load_key() == pair


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_key_file_that_is_named_must_exist(monkeypatch, folder: Path, how: str) -> None:
    # A mistyped BROKER_KEY_FILE must not quietly make a new key.
    missing = folder / "mistyped"
    monkeypatch.setenv("BROKER_KEY_FILE", str(missing))
    with pytest.raises(KeyFileError, match="no key file at .*python -m broker key --new"):
        load_key(missing) if how == "argument" else load_key()
    assert not missing.exists()


def test_making_a_key_never_replaces_one(folder: Path) -> None:
    path = create_key(folder / "key")
    before = path.read_text()
    with pytest.raises(KeyFileError, match="exists already"):
        create_key(path)
    assert path.read_text() == before


@posix_only
def test_a_key_others_can_read_is_refused(folder: Path) -> None:
    path = create_key(folder / "key")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


@posix_only
def test_a_key_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    path = create_key(shared / "key")
    shared.chmod(0o777)
    with pytest.raises(KeyFileError, match="can be written by other users.*chmod go-w"):
        load_key(path)


@posix_only
def test_a_link_is_not_followed(folder: Path) -> None:
    real = create_key(folder / "real")
    link = folder / "link"
    link.symlink_to(real)
    with pytest.raises(KeyFileError, match="cannot open"):
        load_key(link)


@posix_only
def test_a_fifo_is_refused_without_waiting_for_a_writer(folder: Path) -> None:
    fifo = folder / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(fifo)


def test_a_large_file_is_not_a_key(folder: Path) -> None:
    path = folder / "big"
    path.write_bytes(b"0" * 20_000_000)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="20000000 bytes: not a key file"):
        load_key(path)


@pytest.mark.parametrize("text", ["not hex\n", "00ff\n", "ab" * 40 + "\n", ""])
def test_a_file_without_a_key_is_refused(folder: Path, text: str) -> None:
    path = folder / "key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="does not hold a key"):
        load_key(path)


@posix_only
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_a_folder_this_user_cannot_read_is_one_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    create_key(locked / "key")
    locked.chmod(0)
    try:
        with pytest.raises(KeyFileError, match="cannot open the key file"):
            load_key(locked / "key")
    finally:
        locked.chmod(0o700)


def test_a_path_under_a_regular_file_is_one_clear_error(folder: Path) -> None:
    plain = folder / "plain"
    plain.write_text("x")
    with pytest.raises(KeyFileError, match="cannot open the key file"):
        load_key(plain / "key")
    with pytest.raises(KeyFileError, match="cannot make a key file"):
        create_key(plain / "key")


def test_a_zmq_auth_certificate_is_a_key_file_too(folder: Path) -> None:
    public, secret = create_certificate(folder, "node")
    pair = load_key(secret)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert pair.public.decode() in public.read_text()


def test_an_earlier_releases_key_file_keeps_working(folder: Path) -> None:
    path = folder / "key"
    path.write_text("11" * 32 + "\n")  # what the signing key file held
    path.chmod(0o600)
    assert load_key(path).secret == zmq.utils.z85.encode(bytes([0x11]) * 32)


def _race(path: str, results) -> None:  # type: ignore[no-untyped-def]
    results.put(load_key(path).public.decode())


def test_processes_starting_together_agree_on_one_key(monkeypatch, folder: Path) -> None:
    monkeypatch.delenv("BROKER_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_race, args=(None, results)) for _ in range(6)]
    for worker in workers:
        worker.start()
    keys = {results.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    results.close()
    results.join_thread()
    assert len(keys) == 1


def test_every_command_line_says_a_key_file_error_in_one_line(folder: Path) -> None:
    bad = folder / "bad"
    bad.write_text("not a key")
    bad.chmod(0o600)
    for argv in (
        ["-m", "broker", "ping", "tcp://127.0.0.1:9", "--key-file", str(bad)],
        ["-m", "broker", "serve", "--bind", "tcp://127.0.0.1:*", "--key-file", str(bad)],
        ["-m", "broker", "key", "--key-file", str(folder / "absent")],
        ["-m", "ui_adapter", "publish", "--host", "maya", "--key-file", str(bad)],
    ):
        done = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert done.returncode != 0, argv
        assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no traceback
        assert "Traceback" not in done.stderr and "key" in done.stderr


def test_python_m_broker_key_shows_the_public_key_and_makes_new_ones(folder: Path) -> None:
    new = folder / "new-key"
    exported = folder / "node.key"
    done = subprocess.run(
        [sys.executable, "-m", "broker", "key", "--new", str(new), "--export", str(exported)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    public = load_key(new).public.decode()
    assert f"public key: {public}" in done.stdout
    assert zmq.auth.load_certificate(str(exported))[0].decode() == public


def test_auth_off_is_a_logged_choice(caplog) -> None:
    with caplog.at_level("WARNING"):
        broker.Security(enabled=False).check()
    assert "authentication is OFF" in caplog.text


def test_another_key_cannot_announce_to_a_tcp_ui_or_call_it(folder: Path, caplog) -> None:
    """A process with another key (another user's, or a stray key file) gets
    nothing on a TCP endpoint; both sides say why."""
    theirs = broker.Security(key_file=create_key(folder / "theirs"))
    with ui_adapter.listen(endpoint="tcp://127.0.0.1:*", heartbeat_interval=0.1) as ui:
        with host_adapter.serve(
            {"one": lambda: 1}, name="maya", ui=ui.endpoint, auth=theirs
        ) as intruder:
            assert not intruder.wait_connected(0.5)
            # the host said why it is not announced
            wait_until(lambda: "refused maya-" in caplog.text, message="the host's warning")
            with broker.connect(ui.endpoint, timeout=5, auth=theirs) as proxy:
                with pytest.raises(broker.Unauthorized, match="keys differ"):
                    proxy.call("rpc.hosts")
            assert ui.hosts() == []
        assert "refused a connection" in caplog.text  # and so did the UI
        # and the UI keeps serving its own user
        with host_adapter.serve({"one": lambda: 1}, name="maya", ui=ui.endpoint) as own:
            assert ui.wait_for_host("maya", timeout=5).one() == 1
            assert own.wait_connected(5)  # the answer to its announce is on its way


def test_a_plain_client_and_a_host_speak_only_with_auth_off_on_both_sides(tmp_path) -> None:
    nobody = ipc_endpoint(tmp_path, "nobody")  # no UI: the host serves anyway
    with host_adapter.serve({"one": lambda: 1}, ui=nobody, endpoint="tcp://127.0.0.1:*") as host:
        with broker.connect(host.endpoint, timeout=5, auth=False) as proxy:
            with pytest.raises(broker.Unauthorized, match="authentication off"):
                proxy.one()
        with broker.connect(host.endpoint, timeout=5) as proxy:
            assert proxy.one() == 1
    with host_adapter.serve({"one": lambda: 1}, ui=nobody, auth=False) as open_host:
        with broker.connect(open_host.endpoint, timeout=5, auth=False) as proxy:
            assert proxy.one() == 1
