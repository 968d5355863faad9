"""An endpoint's link to the UI endpoint: announce, heartbeat, depart.

Used by every host adapter, and by a UI attached to a broker. One thread,
one REQ socket, never the DCC's main thread. The thread:

1. sends ``rpc.announce(info)`` and leaves it queued: if no UI is listening,
   ZeroMQ delivers it the moment one binds (reconnecting every
   ``interval`` at most), so a host needs no busy loop to find a UI that
   starts late. As a safety net the announce is re-sent on a fresh socket
   after a backoff that doubles up to ``max_backoff``;
2. once answered, sends ``rpc.heartbeat(id, state)`` every interval the UI
   asked for, with ``state`` ``idle`` or ``busy``, and at once when a call
   starts after it said ``idle`` (:meth:`Announcer.report_busy`): a call
   that holds the GIL silences this thread too, and the UI should know
   the silent host is inside a call;
3. goes back to 1 when a heartbeat is answered ``false`` (the UI restarted
   and does not know us) or not answered within an interval (the UI is gone);
4. on stop, sends ``rpc.depart(id)`` if a UI is there, and closes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, List, Mapping, Optional

import zmq

from ..errors import ProtocolError, RpcError
from ..transport.inbox import Inbox
from ..transport.monitor import HANDSHAKE_FAILED, ConnectionEvent, ConnectionWatch, Handshakes
from ..transport.probe import foreign_server
from ..transport.sockets import SocketFactory
from ..wire import messages as protocol
from ..wire.calls import Call, CallTable
from ..wire.codec import Codec
from ..wire.envelope import salvage_msgid
from ..wire.messages import Response

__all__ = ["Announcer"]

log = logging.getLogger(__name__)

_DEPART_TIMEOUT = 0.5
# How long a call waits for report_busy's heartbeat to be sent (at most once
# an interval, and only after an idle heartbeat).
_REPORT_WAIT = 0.05
# How long stop() waits for an unanswered announce (only when one is in flight).
_ANNOUNCE_GRACE = 0.25


class Announcer:
    """Keeps one host known to one UI endpoint.

    Arguments:
        sockets: makes the announcer's socket (the adapter's context,
            limits and security).
        ui_endpoint: where the UI (or broker) listens.
        info: the announce map (id, name, endpoint, pid, hostname, protocol…).
        state: returns ``"idle"`` or ``"busy"`` for each heartbeat.
        codec: the adapter's codec (limits, hooks).
        interval: seconds between heartbeats until the UI says otherwise.
        max_backoff: the longest wait before re-sending an unanswered announce.
    """

    def __init__(
        self,
        sockets: SocketFactory,
        ui_endpoint: str,
        info: Mapping[str, Any],
        state: Callable[[], str],
        codec: Codec,
        *,
        interval: float = 1.0,
        max_backoff: float = 10.0,
    ) -> None:
        self._sockets = sockets
        self.ui_endpoint = ui_endpoint
        self._info = info
        self._state = state
        self._codec = codec
        self.interval = interval
        self._max_backoff = max_backoff
        self._inbox = Inbox(sockets.context, "announcer")
        self._socket: Optional[zmq.Socket] = None
        self._watch: Optional[ConnectionWatch] = None
        self._handshakes = _HandshakeLog(ui_endpoint, info["id"])
        self._calls = CallTable(ui_endpoint)
        self._connected = threading.Event()
        self._told_idle = False  # the latest heartbeat said "idle"
        self._report_due = False  # report_busy asked for a heartbeat now
        self._reports: List[threading.Event] = []  # report_busy calls waiting for the send
        self._started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"broker-heartbeat[{info['name']}]", daemon=True
        )
        self._stopped = False

    @property
    def connected(self) -> bool:
        """Whether the UI answered our last announce or heartbeat."""
        return self._connected.is_set()

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until a UI has answered our announce; True if it has."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def report_busy(self, wait: float = _REPORT_WAIT) -> None:
        """A call is about to run: if the UI last heard "idle", tell it "busy"
        now, and wait (at most ``wait`` seconds) until that heartbeat is sent.
        Called by the server thread; costs nothing while the UI knows."""
        if not self._told_idle or not self._connected.is_set():
            return
        self._told_idle = False
        sent = threading.Event()
        self._reports.append(sent)
        self._inbox.post([b"busy"])
        sent.wait(wait)

    def stop(self, depart: bool = True, timeout: float = 2.0) -> None:
        """Depart (if a UI is there and ``depart``), stop the thread. Idempotent."""
        if self._stopped or not self._thread.is_alive():
            self._stopped = True
            return
        self._stopped = True
        self._inbox.post([b"depart" if depart else b"stop"])
        self._thread.join(timeout)

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        inbox = self._inbox.bind()
        self._started.set()
        poller = zmq.Poller()
        poller.register(inbox, zmq.POLLIN)
        method = protocol.ANNOUNCE
        pending: Optional[Call] = None  # the request in flight
        next_send = time.monotonic()
        backoff = self.interval
        try:
            while True:
                now = time.monotonic()
                if pending is None and now >= next_send:
                    pending = self._send(poller, method, backoff)
                wake = pending.deadline if pending is not None else next_send
                assert wake is not None
                events = dict(poller.poll(max(0, int((wake - time.monotonic()) * 1000))))
                if inbox in events:
                    command = inbox.recv()
                    if command == b"busy":
                        next_send = self._on_report(method, pending, next_send)
                        continue
                    if command == b"depart":
                        self._leave(method, pending, poller)
                    return
                if self._watch is not None and self._watch.socket in events:
                    self._note_handshakes()
                if pending is not None and self._socket in events:
                    answer = self._receive(pending)
                    pending = None
                    method, next_send, backoff = self._next(method, answer, backoff)
                    if self._report_due and method == protocol.HEARTBEAT:
                        next_send = time.monotonic()
                elif pending is not None and self._calls.expire():
                    pending = None
                    self._drop_socket(poller)
                    if method == protocol.HEARTBEAT:
                        log.info("UI at %s stopped answering; announcing again", self.ui_endpoint)
                        self._connected.clear()
                        method, backoff = protocol.ANNOUNCE, self.interval
                    else:
                        backoff = min(backoff * 2, self._max_backoff)
                    next_send = time.monotonic()
        finally:
            self._release_reports()
            self._drop_socket(poller)
            inbox.close()

    def _on_report(self, method: str, pending: Optional[Call], next_send: float) -> float:
        """report_busy asked for a heartbeat now: when to send it."""
        if method != protocol.HEARTBEAT:
            self._release_reports()  # not connected: nobody to tell
            return next_send
        self._report_due = True
        return time.monotonic() if pending is None else next_send  # else once answered

    def _leave(self, method: str, pending: Optional[Call], poller: zmq.Poller) -> None:
        """Depart, if a UI knows us (or may, with an announce in flight)."""
        if pending is not None and method == protocol.ANNOUNCE:
            self._finish_announce(pending)
        if self.connected:
            self._depart(poller)

    def _next(self, method: str, answer: Any, backoff: float) -> tuple:
        """What to send next, when, and the backoff, given a reply (or its error)."""
        now = time.monotonic()
        if isinstance(answer, RpcError):
            # The UI answered but refused (wrong key, bad info): do not hammer it.
            log.warning("UI at %s refused %s: %s", self.ui_endpoint, method, answer)
            self._connected.clear()
            return protocol.ANNOUNCE, now + backoff, min(backoff * 2, self._max_backoff)
        if method == protocol.ANNOUNCE:
            heartbeat = answer.get("heartbeat") if isinstance(answer, dict) else None
            if isinstance(heartbeat, (int, float)) and heartbeat > 0:
                self.interval = float(heartbeat)
            if not self.connected:
                log.info("announced %s to %s", self._info["id"], self.ui_endpoint)
            self._connected.set()
            return protocol.HEARTBEAT, now + self.interval, self.interval
        if answer is False:
            log.info("UI at %s does not know us; announcing again", self.ui_endpoint)
            self._connected.clear()
            return protocol.ANNOUNCE, now, self.interval
        return protocol.HEARTBEAT, now + self.interval, self.interval

    def _send(self, poller: zmq.Poller, method: str, backoff: float) -> Call:
        if self._socket is None:
            socket, self._watch = self._sockets.connect_watched(
                zmq.REQ,
                self.ui_endpoint,
                HANDSHAKE_FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED,
                options={zmq.RECONNECT_IVL_MAX: max(100, int(self.interval * 1000))},
            )
            self._socket = socket
            poller.register(self._watch.socket, zmq.POLLIN)
            poller.register(socket, zmq.POLLIN)
        if method == protocol.ANNOUNCE:
            args: list = [self._info]
            wait = backoff
        elif method == protocol.HEARTBEAT:
            state = self._state()
            args = [self._info["id"], state]
            wait = self.interval
        else:
            args = [self._info["id"]]
            wait = _DEPART_TIMEOUT
        call, frames = self._calls.open_request(self._codec, method, args, timeout=wait)
        try:
            self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            # No connection left to queue on: the peer broke it before this
            # send, as a server that is not ZeroMQ does, and libzmq does not
            # reconnect after a protocol error. A blocking send would hang
            # this thread (and stop()); the call expires unanswered instead,
            # and a fresh socket tries again after the backoff.
            log.debug("%s to %s: no connection to send on", method, self.ui_endpoint)
        if method == protocol.HEARTBEAT:
            self._told_idle = args[1] == protocol.IDLE
            self._report_due = False
            self._release_reports()
        return call

    def _release_reports(self) -> None:
        """Let the calls waiting in :meth:`report_busy` go on."""
        while self._reports:
            self._reports.pop().set()

    def _receive(self, call: Call) -> Any:
        """The reply's result, or the RpcError it carries or causes."""
        assert self._socket is not None
        frames = self._socket.recv_multipart()
        try:
            response = self._codec.decode(frames)
        except ProtocolError as exc:
            self._calls.blame(salvage_msgid(frames), exc, sole=True)
        else:
            if isinstance(response, Response):
                self._calls.settle(response)
        self._calls.discard(call)
        if not call.done:
            return ProtocolError(f"unexpected reply to {call.method}")
        return call.exception() or call.result()

    def _finish_announce(self, call: Call) -> None:
        """Wait briefly for an announce in flight: a UI may have registered
        us without our knowing yet, and must then be told we depart."""
        assert self._socket is not None
        if self._socket.poll(int(_ANNOUNCE_GRACE * 1000), zmq.POLLIN):
            if not isinstance(self._receive(call), RpcError):
                self._connected.set()

    def _depart(self, poller: zmq.Poller) -> None:
        # A fresh socket: the old one may still hold an unanswered request.
        self._drop_socket(poller)
        call = self._send(poller, protocol.DEPART, self.interval)
        assert self._socket is not None
        if self._socket.poll(int(_DEPART_TIMEOUT * 1000), zmq.POLLIN):
            self._receive(call)
        self._connected.clear()

    def _note_handshakes(self) -> None:
        assert self._watch is not None
        self._handshakes.read(self._watch.events())

    def _drop_socket(self, poller: zmq.Poller) -> None:
        if self._socket is not None:
            poller.unregister(self._socket)
            if self._watch is not None:
                poller.unregister(self._watch.socket)
                self._watch.close()
                self._watch = None
            self._socket.close()
            self._socket = None


class _HandshakeLog:
    """What the announcer says about its handshakes with the UI endpoint:
    why it refuses us, or that something that is not ZeroMQ owns it; each
    once until it changes."""

    def __init__(self, ui_endpoint: str, host_id: str) -> None:
        self._endpoint = ui_endpoint
        self._host_id = host_id
        self._handshakes = Handshakes()
        self._owner_checked = False  # asked what owns the endpoint since the last handshake

    def read(self, events: List[ConnectionEvent]) -> None:
        """Take the monitor's reports into account, and log what they mean."""
        handshakes = self._handshakes
        for event in events:
            said = handshakes.refused
            # A connection that ends before its handshake: a refusal, a UI
            # restarting, or something that is not ZeroMQ at all.
            cut_short = event.event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL or (
                event.event == zmq.EVENT_DISCONNECTED and not handshakes.established
            )
            handshakes.note(event)
            if event.event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._owner_checked = False
            elif cut_short and not self._owner_checked:
                self._owner_checked = True
                self._warn_if_foreign()
            reason = handshakes.refused
            if reason and reason != said:
                log.warning(
                    "the UI endpoint %s refused %s: %s", self._endpoint, self._host_id, reason
                )

    def _warn_if_foreign(self) -> None:
        """Say that something else owns the UI endpoint, if so. libzmq
        reports a peer that is not ZeroMQ (an HTTP or XML-RPC server on the
        port) only as a dropped connection, or not at all, so the endpoint
        is asked directly."""
        what = foreign_server(self._endpoint)
        if what is not None:
            log.warning(
                "something that is not this protocol owns the UI endpoint %s (%s): no UI or "
                "broker can bind there while it does; %s keeps announcing. Stop it, or move "
                "the UI endpoint (ui=, $BROKER_UI_ENDPOINT, or per-user)",
                self._endpoint,
                what,
                self._host_id,
            )
