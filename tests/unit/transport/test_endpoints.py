"""Where the UI endpoint is, and that nobody takes over one that is in use."""

from __future__ import annotations

import socket
import stat
import sys

import pytest

import broker
import ui_adapter
from broker.transport.endpoints import (
    DEFAULT_UI_ENDPOINT,
    ipc_in_use,
    per_user_endpoint,
    ui_endpoint,
)
from tests.conftest import ipc_endpoint

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="ipc:// and mode bits")


def test_explicit_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("BROKER_UI_ENDPOINT", raising=False)
    assert ui_endpoint() == DEFAULT_UI_ENDPOINT
    assert DEFAULT_UI_ENDPOINT.startswith("tcp://127.0.0.1:") and DEFAULT_UI_ENDPOINT.endswith("90")
    monkeypatch.setenv("BROKER_UI_ENDPOINT", "tcp://127.0.0.1:9191")
    assert ui_endpoint() == "tcp://127.0.0.1:9191"
    assert ui_endpoint("ipc:///x") == "ipc:///x"


@posix_only
def test_per_user_endpoint_lives_in_a_private_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("BROKER_UI_ENDPOINT", "per-user")
    endpoint = ui_endpoint()
    assert endpoint == per_user_endpoint() == f"ipc://{tmp_path}/zmq-host-broker/ui"
    folder = tmp_path / "zmq-host-broker"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with ui_adapter.listen(heartbeat_interval=0.1) as ui:
        assert ui.endpoint == endpoint


@posix_only
def test_per_user_folder_open_to_others_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "zmq-host-broker").mkdir(mode=0o755)
    (tmp_path / "zmq-host-broker").chmod(0o755)
    with pytest.raises(PermissionError, match="0700"):
        per_user_endpoint()


@posix_only
def test_a_host_whose_folder_was_taken_binds_tcp_with_curve_and_says_so(
    monkeypatch, tmp_path, caplog
):
    import host_adapter
    from broker.security.options import Security

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "zmq-host-broker").mkdir()
    (tmp_path / "zmq-host-broker").chmod(0o777)  # as if another user had made it
    with caplog.at_level("WARNING"):
        with host_adapter.serve(
            {"one": lambda: 1},
            ui=ipc_endpoint(tmp_path, "no-ui"),
            dispatcher=host_adapter.immediate,
        ) as host:
            assert host.endpoint.startswith("tcp://127.0.0.1:")
            assert Security().uses_curve(host.endpoint)
            with broker.connect(host.endpoint, timeout=5) as proxy:
                assert proxy.one() == 1
    assert "binding loopback TCP instead" in caplog.text


@posix_only
def test_a_live_ipc_endpoint_cannot_be_taken_over(tmp_path):
    endpoint = ipc_endpoint(tmp_path)
    with ui_adapter.listen(endpoint=endpoint, heartbeat_interval=0.1) as first:
        assert ipc_in_use(endpoint)
        with pytest.raises(broker.EndpointInUse):
            ui_adapter.listen(endpoint=endpoint)
        with pytest.raises(broker.EndpointInUse):
            broker.start_broker([endpoint])
        with broker.connect(endpoint, timeout=5) as proxy:
            assert proxy.call("rpc.ping")["id"] == first._server.id  # still the first


@posix_only
def test_a_stale_ipc_file_is_reused(tmp_path):
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed UI leaves behind
    endpoint = f"ipc://{path}"
    assert path.exists() and not ipc_in_use(endpoint)
    with ui_adapter.listen(endpoint=endpoint, heartbeat_interval=0.1) as ui:
        assert ui.endpoint == endpoint


def test_tcp_endpoints_are_not_probed():
    assert not ipc_in_use(DEFAULT_UI_ENDPOINT)


@pytest.mark.parametrize(
    "endpoint, loopback",
    [
        (DEFAULT_UI_ENDPOINT, True),
        ("tcp://localhost:1", True),
        ("tcp://[::1]:5", True),
        ("ipc:///tmp/x", True),
        ("inproc://x", True),
        ("tcp://0.0.0.0:*", False),
        ("tcp://10.1.2.3:*", False),
        ("tcp://*:*", False),
    ],
)
def test_is_loopback(endpoint, loopback):
    from broker.transport.endpoints import is_loopback

    assert is_loopback(endpoint) is loopback


def test_exposed_endpoint_without_curve_is_a_warning(caplog):
    import logging

    from broker.transport.endpoints import warn_if_exposed

    log = logging.getLogger("test.exposed")
    with caplog.at_level(logging.WARNING, logger="test.exposed"):
        warn_if_exposed("tcp://127.0.0.1:1", False, log)
        warn_if_exposed("tcp://0.0.0.0:1", True, log)
        assert caplog.text == ""
        warn_if_exposed("tcp://0.0.0.0:1", False, log)
    assert "authentication off" in caplog.text and "0.0.0.0" in caplog.text
