"""What happened to a socket's connections: ZeroMQ's socket monitor, read without blocking.

ZeroMQ reports each connection's life (connected, handshake done or
refused, dropped) on a monitor socket, from its own I/O thread. A
:class:`ConnectionWatch` reads those reports when its owner looks; it never
blocks and never starts a thread. Its owner must be the thread that owns
the watched socket.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple

import zmq

__all__ = [
    "ConnectionWatch",
    "ConnectionEvent",
    "ConnectionGuard",
    "Handshakes",
    "HANDSHAKE_FAILED",
    "why_refused",
    "RefusalLog",
]

#: Any of the ways a security handshake can fail.
HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


class ConnectionEvent(NamedTuple):
    """One report: what happened (a ``zmq.EVENT_*``), the event's value, and
    the endpoint the connection belongs to."""

    event: int
    value: int
    endpoint: str


class ConnectionWatch:
    """The reports of ``socket``'s connections, for the events in ``events``.

    Arguments:
        socket: the watched socket.
        events: a mask of ``zmq.EVENT_*``.
    """

    def __init__(self, socket: zmq.Socket, events: int) -> None:
        self._socket = socket
        self._owned = socket.get_monitor_socket(events)
        # Read through a plain socket: an asyncio socket's receive is a future.
        self._monitor: zmq.Socket = zmq.Socket.shadow(self._owned.underlying)

    @property
    def socket(self) -> zmq.Socket:
        """The monitor socket itself, to poll alongside others."""
        return self._monitor

    def events(self) -> List[ConnectionEvent]:
        """The reports that arrived since the last look, oldest first."""
        monitor = self._monitor
        # EVENTS rather than poll(): no poller made on every look (this runs per call).
        if not int(monitor.get(_EVENTS)) & _POLLIN:
            return []
        from zmq.utils.monitor import parse_monitor_message

        found = []
        while int(monitor.get(_EVENTS)) & _POLLIN:
            message = parse_monitor_message(monitor.recv_multipart())
            endpoint: Any = message["endpoint"]
            if isinstance(endpoint, bytes):
                endpoint = endpoint.decode("utf-8", "replace")
            found.append(ConnectionEvent(message["event"], message["value"], str(endpoint)))
        return found

    def close(self) -> None:
        """Stop watching; the watched socket stays open."""
        self._socket.disable_monitor()
        self._owned.close()


def why_refused(event: ConnectionEvent) -> str:
    """What a failed security handshake means, for people (the keys differ,
    authentication off on one side, not this protocol)."""
    if event.event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return (
            "it refused our key: the keys differ (it runs as another user, or with "
            "another key file)"
        )
    if event.value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "one side has authentication off (auth=False, --no-auth) and the other not"
    if event.value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return (
            "it does not hold the key we expect: the keys differ (another user's UI or "
            "broker, or another key file)"
        )
    if event.event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return (
            "the handshake failed: the keys differ (another user's process, or another "
            "key file), or one side has authentication off (auth=False, --no-auth)"
        )
    code = f"{event.value:#x}"
    return f"the security handshake failed (ZeroMQ protocol error {code}): not this protocol?"


class Handshakes:
    """A client's view of its handshakes with one endpoint: refused or not.

    A failure the endpoint explains (a protocol error, a refused key) is a
    refusal at once. A bare hang-up during the handshake is what a client
    with the wrong server key sees, but also what a restarting server
    causes once: it is a refusal when it happens twice with no success
    between (ZeroMQ reconnects within ``RECONNECT_IVL``, so that is soon).
    """

    def __init__(self) -> None:
        self.refused = ""  #: why the endpoint refuses us; empty while it does not
        self.established = False  #: a handshake succeeded and the connection holds
        self._hang_ups = 0

    def note(self, event: ConnectionEvent) -> bool:
        """Take one report into account; True when it dropped an established
        connection (a reply in flight on it can never come)."""
        if event.event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.refused, self.established, self._hang_ups = "", True, 0
        elif event.event == zmq.EVENT_DISCONNECTED:
            dropped, self.established = self.established, False
            return dropped
        elif event.event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            self._hang_ups += 1
            if self._hang_ups >= 2:
                self.refused = why_refused(event)
        elif event.event & HANDSHAKE_FAILED:
            self.refused = why_refused(event)
        return False


class ConnectionGuard:
    """A client socket's connection, as calls waiting on it see it.

    :meth:`check` raises once the endpoint refused the security handshake
    (the call can never get in) or an established connection dropped since
    :meth:`forget_drops` (its reply can never come).
    """

    #: The events a guard's watch must report.
    EVENTS = zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILED

    def __init__(self, watch: ConnectionWatch, endpoint: str) -> None:
        self.watch = watch
        self.endpoint = endpoint
        self._handshakes = Handshakes()

    def forget_drops(self) -> None:
        """Forget the drops so far (ZeroMQ has reconnected since, or will);
        a refusal lasts until a handshake succeeds."""
        for event in self.watch.events():
            self._handshakes.note(event)

    def check(self, method: str) -> None:
        """Raise if the connection was refused, or dropped since the last
        :meth:`forget_drops`.

        Raises:
            Unauthorized: the endpoint refused the security handshake.
            Disconnected: the connection dropped (the call may or may not have run).
        """
        from ..errors import Disconnected, Unauthorized

        handshakes = self._handshakes
        for event in self.watch.events():
            if handshakes.note(event) and not handshakes.refused:
                raise Disconnected(
                    f"{method} at {self.endpoint}: the connection dropped while waiting "
                    "for the reply (the call may or may not have run)"
                )
        if handshakes.refused:
            raise Unauthorized(f"{method} at {self.endpoint}: {handshakes.refused}")

    def close(self) -> None:
        """Stop watching."""
        self.watch.close()


class RefusalLog:
    """Watches a server socket and logs, at WARNING, the clients it refused
    at the handshake: at most once a minute for each reason, so that a
    flood does not flood the log.

    A refused key is said by the ZAP handler (with the key); a bare failure
    is a client that hung up during the handshake, not a refusal. Both ends
    of a mismatched handshake race to judge it: when the client judges
    first and hangs up, this end sees only the hang-up, so a refusal is
    logged here most of the time, and always said on the client's side.

    Arguments:
        socket: the server socket (its owner's thread reads the reports).
        logger: where to log.
        endpoint: the server's endpoint, named in each line.
    """

    _EVERY = 60.0

    def __init__(self, socket: zmq.Socket, logger: Any, endpoint: str) -> None:
        self._watch = ConnectionWatch(socket, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        self._logger = logger
        self._endpoint = endpoint
        self._last: dict = {}

    @property
    def socket(self) -> zmq.Socket:
        """The monitor socket, to poll alongside the server's."""
        return self._watch.socket

    def read(self) -> None:
        """Log the refusals reported since the last look."""
        import time

        for event in self._watch.events():
            reason = _why_client_failed(event)
            now = time.monotonic()
            if now - self._last.get(reason, -self._EVERY) >= self._EVERY:
                self._last[reason] = now
                self._logger.warning("%s refused a connection: %s", self._endpoint, reason)

    def close(self) -> None:
        """Stop watching; the server socket stays open."""
        self._watch.close()


def _why_client_failed(event: ConnectionEvent) -> str:
    """A failed handshake, as the server sees it."""
    if event.value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "the client has authentication off (auth=False, --no-auth), this endpoint not"
    if event.value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return (
            "what the client sent does not decrypt: it does not hold this endpoint's "
            "key (another user's process, or another key file), or the bytes were "
            "altered on the way"
        )
    return f"not this protocol, or the keys differ (ZeroMQ protocol error {event.value:#x})"
