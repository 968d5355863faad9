"""The announcer with real peers at the UI endpoint: what a host says about them."""

from __future__ import annotations

import logging
import time

import host_adapter
from tests.conftest import wait_until
from tests.helpers.plainserver import PlainServer

ANNOUNCER = "broker.presence.announcer"


def foreign_warnings(caplog):
    return [
        record
        for record in caplog.records
        if record.name == ANNOUNCER
        and record.levelno == logging.WARNING
        and "not this protocol owns the UI endpoint" in record.getMessage()
    ]


def test_an_http_server_on_the_ui_endpoint_is_warned_about_once(caplog):
    caplog.set_level(logging.WARNING, logger=ANNOUNCER)
    with PlainServer("http") as server:
        with host_adapter.serve({}, name="maya", ui=server.endpoint, heartbeat_interval=0.05):
            wait_until(lambda: foreign_warnings(caplog), 10, "a warning about the HTTP server")
            # The host keeps announcing (a fresh socket after each backoff)...
            seen = server.accepted
            wait_until(lambda: server.accepted >= seen + 3, 10, "three more announces")
        # ...and says it once, not once per try.
        (warning,) = foreign_warnings(caplog)
    message = warning.getMessage()
    assert server.endpoint in message and "HTTP/1.0 400 Bad Request" in message
    assert "$BROKER_UI_ENDPOINT" in message


def test_a_ui_that_is_not_running_yet_is_not_foreign(caplog, tmp_path):
    import ui_adapter

    caplog.set_level(logging.WARNING, logger=ANNOUNCER)
    endpoint = f"ipc://{tmp_path / 'ui.sock'}"
    with host_adapter.serve({}, name="maya", ui=endpoint, heartbeat_interval=0.05) as adapter:
        with ui_adapter.listen(endpoint=endpoint, heartbeat_interval=0.05):
            assert adapter.wait_connected(10)
    assert not foreign_warnings(caplog)


def test_stop_is_prompt_when_the_peer_breaks_every_connection():
    # libzmq does not reconnect after such a peer's protocol error: a send
    # on the broken socket used to block the announcer, and stop() with it.
    with PlainServer("http") as server:
        for _ in range(5):
            adapter = host_adapter.serve(
                {}, name="maya", ui=server.endpoint, heartbeat_interval=0.02
            )
            seen = server.accepted
            wait_until(lambda seen=seen: server.accepted >= seen + 3, 10, "three announces")
            started = time.monotonic()
            adapter.stop()
            assert time.monotonic() - started < 1.5
