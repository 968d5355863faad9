"""CURVE between machines, each with a keypair of its own, tested on loopback
TCP: only machines whose public key is authorized get in, and every side
says so (an Unauthorized error, a warning in the server's log)."""

from __future__ import annotations

import shutil

import pytest

import broker
import host_adapter
import ui_adapter
from broker.security.keys import create_certificate, load_key
from broker.security.options import Security
from tests.conftest import wait_until

TCP = "tcp://127.0.0.1:*"


@pytest.fixture
def certificates(tmp_path):
    """Keypairs for a broker (or UI), a host, a client and an intruder, each
    in a folder of its own; the first three are in the authorized folder."""
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    made = {}
    for name in ("server", "host", "client", "intruder"):
        made[name] = create_certificate(tmp_path / name, name)
        if name != "intruder":
            shutil.copy(made[name][0], authorized)
    return made, authorized


def security_for(certificates, name):
    """The settings of one machine: its own key, the others it admits, the server's key."""
    made, authorized = certificates
    return Security(key_file=made[name][1], authorized=authorized, server_key=made["server"][0])


def public(certificates, name):
    return load_key(certificates[0][name][1]).public.decode("ascii")


def test_a_certificate_is_private_and_its_public_half_serves_nobody(certificates):
    made, _ = certificates
    assert made["host"][1].stat().st_mode & 0o777 == 0o600
    made["host"][0].chmod(0o600)
    with pytest.raises(broker.KeyFileError, match="only a public key"):
        load_key(made["host"][0])  # the public file alone cannot serve


def test_through_a_broker(certificates):
    with broker.start_broker(
        [TCP], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with host_adapter.serve(
            {"add": lambda a, b: a + b},
            name="maya",
            ui=running.endpoint,
            endpoint=TCP,
            auth=security_for(certificates, "host"),
        ) as host:
            assert host.wait_connected(5)
            assert running.hosts()[0]["curve_public_key"] == public(certificates, "host")
            with broker.connect(
                running.endpoint, timeout=5, auth=security_for(certificates, "client")
            ) as client:
                assert client.rpc.host("maya").add(2, 3) == 5
            # a keypair nobody authorized, and this user's own key: nothing gets through
            with broker.connect(
                running.endpoint, timeout=5, auth=security_for(certificates, "intruder")
            ) as intruder:
                with pytest.raises(broker.Unauthorized):
                    intruder.rpc.host("maya").add(2, 3)
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
        endpoint=TCP,
        heartbeat_interval=0.1,
        auth=security_for(certificates, "server"),
    ) as ui:
        with host_adapter.serve(
            {"add": lambda a, b: a + b},
            name="nuke",
            ui=ui.endpoint,
            endpoint=TCP,
            auth=security_for(certificates, "host"),
        ) as host:
            assert ui.wait_for_host("nuke", timeout=5).add(4, 5) == 9
            assert host.ui.show() == "shown"


def test_a_host_with_another_key_is_refused_and_both_sides_say_so(certificates, caplog):
    with broker.start_broker(
        [TCP], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with caplog.at_level("WARNING"):
            # This user's own key, which expects the broker to hold it too.
            with host_adapter.serve({}, name="maya", ui=running.endpoint) as host:
                assert not host.wait_connected(0.5)
                assert running.hosts() == []

                def said(logger, text):
                    return any(
                        r.name.startswith(logger) and text in r.getMessage() for r in caplog.records
                    )

                wait_until(
                    lambda: said("broker.presence", "refused " + host.id),
                    message="the host's warning that the broker refused it",
                )
                wait_until(
                    lambda: said("broker.relay", "does not hold this endpoint's key"),
                    message="the broker's warning that it refused a client",
                )


def test_a_ui_attached_to_a_curve_broker(certificates):
    with broker.start_broker(
        [TCP], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        with (
            host_adapter.serve(
                {"add": lambda a, b: a + b},
                name="maya",
                ui=running.endpoint,
                endpoint=TCP,
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

    made, _ = certificates
    with broker.start_broker(
        [TCP], heartbeat_interval=0.1, auth=security_for(certificates, "server")
    ) as running:
        flags = ["--key-file", str(made["client"][1]), "--server-key", str(made["server"][0])]
        assert main(["ping", running.endpoint, *flags]) == 0
        assert '"role": "broker"' in capsys.readouterr().out
        assert main(["ping", running.endpoint, "--timeout", "5"]) == 1
        assert "Unauthorized" in capsys.readouterr().err
