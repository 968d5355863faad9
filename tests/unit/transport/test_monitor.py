"""How a client judges its handshakes from ZeroMQ's reports (no sockets:
the reports are made by hand, as the monitor delivers them)."""

from __future__ import annotations

import errno

import zmq

from broker.transport.monitor import ConnectionEvent, Handshakes

ENDPOINT = "tcp://127.0.0.1:1"


def report(event: int, value: int = 0) -> ConnectionEvent:
    return ConnectionEvent(event, value, ENDPOINT)


SUCCEEDED = report(zmq.EVENT_HANDSHAKE_SUCCEEDED)
DROPPED = report(zmq.EVENT_DISCONNECTED)
HUNG_UP = report(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, errno.EPIPE)


def test_one_hang_up_is_a_restarting_server_two_in_a_row_a_refusal():
    handshakes = Handshakes()
    assert not handshakes.note(HUNG_UP) and not handshakes.refused
    handshakes.note(DROPPED)
    handshakes.note(SUCCEEDED)  # the server came back
    handshakes.note(HUNG_UP)
    assert not handshakes.refused
    handshakes.note(HUNG_UP)
    assert "keys differ" in handshakes.refused
    handshakes.note(SUCCEEDED)  # someone fixed the key: no longer refused
    assert handshakes.refused == "" and handshakes.established


def test_an_explained_failure_is_a_refusal_at_once():
    mismatch = report(
        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
    )
    handshakes = Handshakes()
    handshakes.note(mismatch)
    assert "authentication off" in handshakes.refused
    refused_key = Handshakes()
    refused_key.note(report(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400))
    assert "refused our key" in refused_key.refused


def test_only_an_established_connection_can_drop():
    handshakes = Handshakes()
    assert handshakes.note(DROPPED) is False  # never connected: the request still waits
    handshakes.note(SUCCEEDED)
    assert handshakes.note(DROPPED) is True  # a reply in flight can never come
    assert handshakes.note(DROPPED) is False and not handshakes.established
