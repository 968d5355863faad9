"""The per-user key file, and what a wrong or missing key does end to end."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import sys

import pytest

import broker
import host_adapter
import ui_adapter
from broker.security.keys import KeyFileError, default_key_path, load_key, make_codec
from tests.conftest import ipc_endpoint

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="mode bits are POSIX")


@posix_only
def test_created_on_first_use_private_and_stable(tmp_path):
    path = tmp_path / "conf" / "zmq-host-broker" / "key"
    key = load_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(path) == key  # the second side finds the same key
    assert [p.name for p in path.parent.iterdir()] == ["key"]  # no temporary left


@posix_only
def test_a_key_others_can_read_is_refused(tmp_path):
    path = tmp_path / "key"
    load_key(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


def test_malformed_and_short_keys_are_refused(tmp_path):
    path = tmp_path / "key"
    path.write_text("not hex\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="hex key"):
        load_key(path)
    path.write_text("00ff\n")
    with pytest.raises(KeyFileError, match="at least 16"):
        load_key(path)


def test_missing_key_without_create(tmp_path):
    with pytest.raises(KeyFileError, match="no key file"):
        load_key(tmp_path / "absent", create=False)


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("BROKER_KEY_FILE", str(tmp_path / "env-key"))
    assert default_key_path() == tmp_path / "env-key"
    monkeypatch.delenv("BROKER_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_key_path() == tmp_path / "xdg" / "zmq-host-broker" / "key"


def _race(path, results):
    results.put(load_key(path).hex())


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    path = tmp_path / "race" / "key"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_race, args=(str(path), results)) for _ in range(6)]
    for worker in workers:
        worker.start()
    keys = {results.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    results.close()
    results.join_thread()
    assert keys == {path.read_text().strip()}


def test_auth_off_is_a_logged_choice(caplog):
    with caplog.at_level(logging.WARNING, logger="broker.security.keys"):
        codec = make_codec(auth=False)
    assert codec.signer is None
    assert "authentication is OFF" in caplog.text


def test_another_users_key_cannot_announce_or_call(tmp_path):
    """Two users on one workstation: keys differ, so nothing crosses over."""
    theirs = tmp_path / "other-user-key"
    endpoint = ipc_endpoint(tmp_path)
    with ui_adapter.listen(endpoint=endpoint, heartbeat_interval=0.1) as ui:
        with host_adapter.serve(
            {"one": lambda: 1}, name="maya", ui=endpoint, auth=broker.Security(key_file=str(theirs))
        ) as intruder:
            assert not intruder.wait_connected(0.5)
            assert ui.hosts() == []
            with broker.connect(
                ui.endpoint, timeout=5, auth=broker.Security(key_file=str(theirs))
            ) as proxy:
                with pytest.raises(broker.Unauthorized):
                    proxy.call("rpc.hosts")
        # and the UI keeps serving its own user
        with host_adapter.serve({"one": lambda: 1}, name="maya", ui=endpoint) as own:
            assert ui.wait_for_host("maya", timeout=5).one() == 1
            assert own.connected


def test_unsigned_client_against_signed_host_and_back(tmp_path):
    with host_adapter.serve({"one": lambda: 1}, ui=ipc_endpoint(tmp_path)) as host:
        with broker.connect(host.endpoint, timeout=5, auth=False) as proxy:
            with pytest.raises(broker.Unauthorized):
                proxy.one()
        with broker.connect(host.endpoint, timeout=5) as proxy:
            assert proxy.one() == 1


def test_no_key_material_in_the_environment_of_children():
    # The key is found through a path, never passed in the environment.
    assert all("BROKER_KEY" not in name or name == "BROKER_KEY_FILE" for name in os.environ)
