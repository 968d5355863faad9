"""Whether anything listens at an endpoint, and whether what listens speaks ZeroMQ.

Two questions asked before (or instead of) waiting for a reply that cannot
come:

- :func:`nothing_listens`: nobody accepts connections there, for sure. An
  ipc path with no socket file, or a stale one (its owner died), is sure
  at once; a TCP port is sure when ZeroMQ's monitor reports the connection
  refused and retried with no connection within ``wait`` seconds. Anything
  else (a peer that accepts but is slow, a firewall that drops packets,
  another transport) is not sure: the caller waits its full timeout as usual.
- :func:`foreign_server`: something accepts connections there but is not
  ZeroMQ: it sends no ZMTP greeting (an HTTP or XML-RPC server on the port,
  say). libzmq greets from its own I/O thread the moment it accepts, even
  while its process's Python is busy, so a second's silence is an answer.

Neither leaves a trace in the peer's log: the probe connects, sends
nothing, and hangs up, which a ZeroMQ server counts as a client gone
before its handshake, not a refusal.
"""

from __future__ import annotations

import os
import socket as stdlib_socket
import time
from typing import Any, Optional, Tuple

from .endpoints import ipc_in_use

__all__ = ["PROBE_WAIT", "nothing_listens", "nobody_answers", "foreign_server", "usual_owner"]

#: Seconds a probe waits for a TCP peer to accept, or to greet.
PROBE_WAIT = 1.0

# A ZMTP 2+ peer's first bytes: 0xFF, 8 bytes of length, then 0x7F (ZMTP/3.0 section 4.1).
_SIGNATURE_SIZE = 10


def nothing_listens(endpoint: str, wait: float = PROBE_WAIT, context: Any = None) -> bool:
    """True when nobody accepts connections at ``endpoint``, for sure.

    Arguments:
        endpoint: a ZeroMQ endpoint (``ipc://``, ``tcp://``; others are never sure).
        wait: the longest wait for a TCP connection (ipc answers at once).
        context: a zmq context to use; by default a short-lived one of its own.
    """
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://") :]
        if path.startswith("@") or not hasattr(stdlib_socket, "AF_UNIX"):
            return False  # abstract names leave no file to look at
        return not ipc_in_use(endpoint)
    if endpoint.startswith("tcp://"):
        return _tcp_refused(endpoint, wait, context)
    return False


def _tcp_refused(endpoint: str, wait: float, context: Any) -> bool:
    import zmq

    from .monitor import ConnectionWatch

    owned = context is None
    context = context or zmq.Context()
    # STREAM: raw TCP, so the probe never starts a ZMTP handshake the peer
    # could log as refused.
    probe = context.socket(zmq.STREAM)
    probe.linger = 0
    try:
        watch = ConnectionWatch(probe, zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED)
        try:
            probe.connect(endpoint)
            return _refused_within(watch, wait)
        finally:
            watch.close()
    except zmq.ZMQError:
        return False  # a malformed endpoint: the real call says what is wrong
    finally:
        probe.close()
        if owned:
            context.term()


def _refused_within(watch: Any, wait: float) -> bool:
    import zmq

    refused = False
    deadline = time.monotonic() + wait
    while True:  # bounded by the deadline
        for event in watch.events():
            if event.event == zmq.EVENT_CONNECTED:
                return False
            refused = True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return refused
        watch.socket.poll(max(1, int(remaining * 1000)))


def foreign_server(endpoint: str, wait: float = PROBE_WAIT, silence: bool = True) -> Optional[str]:
    """What answers at ``endpoint`` when it is not ZeroMQ; None when it is
    (or when nothing answers, or the endpoint is not tcp or ipc).

    ``silence`` False counts a peer that accepts and sends nothing as
    unknown (None): a stopped ZeroMQ process is silent too.

    Returns:
        A phrase for a log line, e.g. ``"it answered b'HTTP/1.0 400 Bad
        Request...'"`` or ``"it accepted the connection but sent nothing
        within 1 s"``.
    """
    address = _address(endpoint)
    if address is None:
        return None
    family, where = address
    peer = stdlib_socket.socket(family, stdlib_socket.SOCK_STREAM)
    try:
        peer.settimeout(wait)
        try:
            peer.connect(where)
        except OSError:
            return None  # nobody there: not foreign, just absent
        received = _read_greeting(peer, wait)
    finally:
        peer.close()
    if received is None:
        return f"it accepted the connection but sent nothing within {wait:g} s" if silence else None
    if len(received) >= _SIGNATURE_SIZE and received[0] == 0xFF and received[9] & 0x01:
        return None
    if not received:
        return "it accepted the connection and closed it without a ZeroMQ greeting"
    shown = received[:32]
    more = "..." if len(received) > len(shown) else ""
    return f"it answered {shown!r}{more}, which is not ZeroMQ"


def _read_greeting(peer: stdlib_socket.socket, wait: float) -> Optional[bytes]:
    """Up to a signature's worth of bytes; None if nothing came within ``wait``."""
    received = b""
    deadline = time.monotonic() + wait
    while len(received) < _SIGNATURE_SIZE:  # bounded by the deadline
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        peer.settimeout(remaining)
        try:
            chunk = peer.recv(64)
        except stdlib_socket.timeout:
            break
        except OSError:
            return received  # reset: as good as closed
        if not chunk:
            return received
        received += chunk
    return received or None


def _address(endpoint: str) -> Optional[Tuple[int, Any]]:
    """The socket family and address of a tcp or ipc endpoint, if it has one."""
    if endpoint.startswith("ipc://") and hasattr(stdlib_socket, "AF_UNIX"):
        path = endpoint[len("ipc://") :]
        if path.startswith("@"):
            return stdlib_socket.AF_UNIX, "\0" + path[1:]
        return (stdlib_socket.AF_UNIX, path) if os.path.exists(path) else None
    if not endpoint.startswith("tcp://"):
        return None
    host, sep, port = endpoint[len("tcp://") :].rpartition(":")
    if not sep or not port.isdigit() or ";" in host or host == "*":
        return None
    host = host.strip("[]")
    family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
    return family, (host, int(port))


def usual_owner(endpoint: str) -> str:
    """Who usually listens at ``endpoint``, as the end of an error message
    that begins "nothing answers at ENDPOINT, ..."."""
    from .endpoints import DEFAULT_UI_ENDPOINT, ui_endpoint

    if endpoint in (DEFAULT_UI_ENDPOINT, ui_endpoint(), _per_user()):
        return "the UI endpoint, which a UI or the broker (python -m broker) owns: is one running?"
    if (
        endpoint.startswith("ipc://")
        and endpoint.endswith(".sock")
        and "zmq-host-broker" in endpoint
    ):
        return "a host's endpoint: is that host (a DCC serving host_adapter) still running?"
    return "where a host, a UI or a broker would listen: is it running?"


def _per_user() -> Optional[str]:
    from .endpoints import per_user_endpoint

    try:
        return per_user_endpoint()
    except OSError:  # the runtime folder is someone else's: it cannot be this endpoint
        return None


def nobody_answers(endpoint: str, owner: Optional[str] = None) -> Optional[str]:
    """Why a command need not wait for ``endpoint``: nothing listens there
    (within a second), or what listens answered something that is not
    ZeroMQ (an HTTP server, say); None when something may answer.

    ``owner`` names who should listen there (``"the host"``), when the
    command knows better than the endpoint's form tells.
    """
    if not nothing_listens(endpoint):
        foreign = foreign_server(endpoint, silence=False)
        if foreign is None:
            return None
        who = owner or "a host, a UI or a broker"
        return f"something that is not ZeroMQ listens at {endpoint} ({foreign}), not {who}"
    if owner is None:
        return f"nothing answers at {endpoint}, {usual_owner(endpoint)}"
    return f"nothing answers at {endpoint}: is {owner} running there?"
