"""CURVE between machines, tested on loopback TCP: encrypted, and only
machines whose public key is authorized get in."""

from __future__ import annotations

import shutil

import pytest

import broker
import host_adapter
import ui_adapter
from broker.security.curve import Curve, create_certificate


@pytest.fixture
def certificates(tmp_path):
    """Keypairs for a broker (or UI), a host, a client and an intruder; the
    first three are authorized."""
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    made = {}
    for name in ("server", "host", "client", "intruder"):
        public, secret = create_certificate(tmp_path / name, name)
        made[name] = (public, secret)
        if name != "intruder":
            shutil.copy(public, authorized)
    return made, authorized


def curve_for(certificates, name, **options):
    made, authorized = certificates
    return Curve(made[name][1], authorized=authorized, server=made["server"][0], **options)


def security_for(certificates, name):
    return broker.Security(curve=curve_for(certificates, name))


def test_secret_file_is_private(certificates):
    made, _ = certificates
    assert made["host"][1].stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="no secret key"):
        Curve(made["host"][0])  # the public file alone cannot serve


def test_through_a_broker(certificates):
    with broker.start_broker(
        ["tcp://127.0.0.1:*"], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with host_adapter.serve(
            {"add": lambda a, b: a + b},
            name="maya",
            ui=running.endpoint,
            auth=security_for(certificates, "host"),
        ) as host:
            assert host.wait_connected(5)
            assert (
                running.hosts()[0]["curve_public_key"]
                == curve_for(certificates, "host").public_key_text
            )
            with broker.connect(
                running.endpoint, timeout=5, auth=security_for(certificates, "client")
            ) as client:
                assert client.host("maya").add(2, 3) == 5
            # a keypair the broker does not know, and no CURVE at all: nothing gets through
            with broker.connect(
                running.endpoint, timeout=5, auth=security_for(certificates, "intruder")
            ) as intruder:
                with pytest.raises(broker.Unauthorized):
                    intruder.host("maya").add(2, 3)
            with broker.connect(running.endpoint, timeout=5) as plain:
                with pytest.raises(broker.Unauthorized):
                    plain.call("rpc.ping")
            # the host itself refuses clients it does not know
            with broker.connect(
                host.endpoint,
                timeout=5,
                auth=security_for(certificates, "intruder"),
                server_key=host.info()["curve_public_key"],
            ) as p:
                with pytest.raises(broker.Unauthorized):
                    p.add(1, 1)


def test_direct_mode_both_ways(certificates):
    with ui_adapter.listen(
        {"show": lambda: "shown"},
        endpoint="tcp://127.0.0.1:*",
        heartbeat_interval=0.1,
        auth=security_for(certificates, "server"),
    ) as ui:
        with host_adapter.serve(
            {"add": lambda a, b: a + b},
            name="nuke",
            ui=ui.endpoint,
            auth=security_for(certificates, "host"),
        ) as host:
            assert ui.wait_for_host("nuke", timeout=5).add(4, 5) == 9
            assert host.ui.show() == "shown"


def test_host_without_curve_is_refused_by_a_curve_broker(certificates):
    with broker.start_broker(
        ["tcp://127.0.0.1:*"], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with host_adapter.serve({}, name="maya", ui=running.endpoint) as host:
            assert not host.wait_connected(0.5)
            assert running.hosts() == []


def test_a_ui_attached_to_a_curve_broker(certificates):
    with broker.start_broker(
        ["tcp://127.0.0.1:*"], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with (
            host_adapter.serve(
                {"add": lambda a, b: a + b},
                name="maya",
                ui=running.endpoint,
                auth=security_for(certificates, "host"),
            ) as host,
            ui_adapter.attach(
                {"show": lambda: "attached"},
                broker=running.endpoint,
                heartbeat_interval=0.1,
                auth=security_for(certificates, "client"),
            ) as ui,
        ):
            assert ui.wait_attached(5)
            assert ui.wait_for_host("maya", timeout=5).add(1, 2) == 3
            assert host.ui.show() == "attached"


def test_cli_against_a_curve_broker(certificates, capsys):
    from broker.relay.cli import main

    made, authorized = certificates
    with broker.start_broker(
        ["tcp://127.0.0.1:*"], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        flags = ["--curve-cert", str(made["client"][1]), "--curve-server", str(made["server"][0])]
        assert main(["ping", running.endpoint, *flags]) == 0
        assert '"role": "broker"' in capsys.readouterr().out
        assert main(["ping", running.endpoint, "--timeout", "5"]) == 1
        assert "Unauthorized" in capsys.readouterr().err
