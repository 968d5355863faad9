"""The serving loop shared by host adapters and UI adapters: request handling.

A :class:`Server` binds a ROUTER socket and answers every request on it: it
decodes the message, answers the protocol's ``rpc.*`` methods itself, looks
the method up in its :class:`~broker.serve.service.Service`, and runs the call
through the dispatcher (which may hop to the host's main thread). Two threads
take turns holding the sockets, so ``rpc.ping`` is answered while a long call
runs: see :mod:`broker.serve.handover`.

Calls run one at a time, in arrival order (their replies may overtake each
other around a handover: clients match replies by msgid, as msgpack-rpc
allows). Whatever a peer sends, the server answers an error or drops the
frames and goes on serving; nothing a called function raises escapes it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, List, Mapping, Optional, Tuple

import zmq

from ..transport.frames import recv_message, send_message
from ..transport.inbox import Inbox
from ..transport.monitor import RefusalLog
from ..transport.sockets import SocketFactory
from ..wire.codec import Codec
from .handover import DEFAULT_HANDOVER, QUEUED, REFUSED, Handover
from .requests import Dispatcher, Job, Requests, ReservedHandler, identity_handlers
from .service import Service

__all__ = ["Server", "Dispatcher", "ReservedHandler", "DEFAULT_HANDOVER"]

log = logging.getLogger(__name__)

_RESULT = b"R"
_STOP = b"S"
_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: IntFlag arithmetic costs per frame
_POST_TIMEOUT = 1.0
# What a server thread does next.
_LEAD, _WORK, _STAND_BY, _EXIT = "lead", "work", "stand by", "exit"


class Server:
    """Serve a :class:`~broker.serve.service.Service` on a ROUTER socket.

    Arguments:
        service: the methods to serve.
        sockets: makes the ROUTER socket (the owner's context, limits and
            security).
        endpoint: where to bind; ``tcp://127.0.0.1:*`` lets the OS pick a port.
        dispatcher: ``dispatch(func, *args, **kwargs) -> result``, called on
            a server thread with a function of no arguments; None runs calls
            on the server thread itself.
        codec: limits and hooks for every message.
        name, id: reported by ``rpc.ping`` and ``rpc.describe``.
        reserved: extra ``rpc.*`` handlers (e.g. ``rpc.announce`` on a UI
            endpoint), run by the leader: they must be quick.
        tick: called by the leader about every ``tick_interval`` seconds
            (a UI uses it to notice lost hosts).
        max_pending: calls queued or running at once; more are answered with
            an error at once rather than queued without bound.
        handover: seconds a call may keep the leader busy before the
            standby takes the sockets over (and ``rpc.ping`` answers again).
        before_call: called on the server thread before each service call.
    """

    def __init__(
        self,
        service: Service,
        *,
        sockets: SocketFactory,
        endpoint: str = "tcp://127.0.0.1:*",
        dispatcher: Optional[Dispatcher] = None,
        codec: Optional[Codec] = None,
        name: str = "",
        id: str = "",
        reserved: Optional[Mapping[str, ReservedHandler]] = None,
        tick: Optional[Callable[[], None]] = None,
        tick_interval: float = 1.0,
        max_pending: int = 10_000,
        handover: float = DEFAULT_HANDOVER,
        before_call: Optional[Callable[[], None]] = None,
    ) -> None:
        self.service = service
        self.name = name
        self.id = id
        self.codec = codec or Codec()
        self._sockets = sockets
        self._bind_endpoint = endpoint
        self._tick = tick
        self._tick_interval = tick_interval
        handlers = identity_handlers(name, id, service, lambda: self.state)
        handlers.update(reserved or {})
        self._requests = Requests(service, self.codec, handlers, dispatcher, before_call)
        self._handover = Handover(handover, max_pending)
        self._inbox = Inbox(sockets.context, "server")
        # The leader's sockets: ROUTER, inbox, and a poller over both.
        self._held: Optional[Tuple[zmq.Socket, zmq.Socket, zmq.Poller]] = None
        self._refusals: Optional[RefusalLog] = None  # refused handshakes, for the log
        self._next_tick = 0.0
        self._lock = threading.Lock()
        self._started = self._stopped = False
        self.endpoint: Optional[str] = None
        label = name or "server"
        self._threads = [
            threading.Thread(
                target=self._run, args=(leads,), name=f"broker-call-{n}[{label}]", daemon=True
            )
            for n, leads in ((1, True), (2, False))
        ]

    # -- lifetime ----------------------------------------------------------

    def start(self) -> Server:
        """Bind and start serving; returns once the endpoint is bound.

        The bind happens on the calling thread, so a failure is raised at
        once, as itself.

        Raises:
            EndpointInUse: another process owns the endpoint.
            BindError: the endpoint is not a valid zmq endpoint (a ValueError).
        """
        with self._lock:
            if self._started:
                return self
            self._started = True
        router, self.endpoint = self._sockets.bind(zmq.ROUTER, self._bind_endpoint)
        inbox = self._inbox.bind()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(inbox, zmq.POLLIN)
        self._refusals = RefusalLog(router, log, self.endpoint)
        poller.register(self._refusals.socket, zmq.POLLIN)
        # Starting the thread is the memory barrier the sockets need to move to it.
        self._held = (router, inbox, poller)
        self._next_tick = time.monotonic() + self._tick_interval
        log.debug("%s serving at %s", self.name or "server", self.endpoint)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and close the socket. Idempotent.

        Waits up to ``timeout`` for a running call to return; a call stuck on
        the main thread is abandoned (its thread is a daemon).
        """
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        self._handover.stop()
        self._inbox.post([_STOP])
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(max(0.0, deadline - time.monotonic()))
        if self.threads_alive:
            log.warning("%s: a call is still running; abandoning it", self.name or "server")

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return "busy" if self._handover.busy else "idle"

    @property
    def running(self) -> bool:
        """Whether a thread is serving the endpoint."""
        return self._held is not None

    @property
    def threads_alive(self) -> bool:
        """Whether any thread is still alive (after :meth:`stop`: a stuck call)."""
        return any(thread.is_alive() for thread in self._threads)

    # -- server threads --------------------------------------------------------

    def _run(self, leads: bool) -> None:
        role = _LEAD if leads else _STAND_BY
        try:
            while role != _EXIT:
                if role == _LEAD:
                    role = self._lead()
                elif role == _WORK:
                    role = self._work()
                else:
                    role = _LEAD if self._handover.stand_by() else _EXIT
        finally:
            self._inbox.close_sender()

    def _lead(self) -> str:
        """Serve the sockets until told to stop, or until the standby took
        them over during a call this thread ran; return what to do next."""
        assert self._held is not None
        router, inbox, poller = self._held
        tick = self._tick
        while True:
            wait_ms = None
            if tick is not None:
                wait_ms = max(0, int((self._next_tick - time.monotonic()) * 1000))
            events = dict(poller.poll(wait_ms))
            if self._refusals is not None and self._refusals.socket in events:
                self._refusals.read()
            if inbox in events and not self._relay(inbox, router):
                return self._close_sockets()
            if router in events:
                for _ in range(_DRAIN_LIMIT):
                    try:
                        frames = recv_message(router, prefix=1, flags=_NOBLOCK)
                    except zmq.Again:
                        break
                    role = self._handle(router, frames)
                    if role is not None:
                        return self._close_sockets() if role == _EXIT else role
            if tick is not None and time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + self._tick_interval
                self._run_tick()

    def _close_sockets(self) -> str:
        held, self._held = self._held, None
        if self._refusals is not None:
            self._refusals.close()
            self._refusals = None
        if held is not None:
            held[0].close()
            held[1].close()
        return _EXIT

    def _relay(self, inbox: zmq.Socket, router: zmq.Socket) -> bool:
        """Send the replies the other thread posted; False when told to stop."""
        for _ in range(_DRAIN_LIMIT):
            try:
                # [_RESULT, *envelope, *reply]: a large reply passes without a copy.
                frames = recv_message(inbox, prefix=2, flags=_NOBLOCK)
            except zmq.Again:
                break
            if frames[0] == _STOP:
                return False
            _send(router, frames[1:])
        return True

    def _run_tick(self) -> None:
        try:
            self._tick()  # type: ignore[misc]
        except Exception:
            log.exception("%s: periodic check failed", self.name or "server")

    # -- one request -------------------------------------------------------------

    def _handle(self, router: zmq.Socket, frames: List[bytes]) -> Optional[str]:
        """Answer one request; None, or what this thread does next."""
        what = self._requests.handle(frames)
        if not isinstance(what, Job):
            _send(router, what.frames)
            return None
        decision = self._handover.admit(what)
        if decision == QUEUED:
            return None
        if decision == REFUSED:
            text = f"{self._handover.pending} calls are already pending; try again later"
            error = self._requests.error(what.envelope, what.request.msgid, "Exception", text)
            _send(router, error.frames)
            return None
        return self._call_inline(router, what)

    def _call_inline(self, router: zmq.Socket, job: Job) -> Optional[str]:
        """Run one call on this thread, which holds the sockets, and reply."""
        frames = self._requests.run(job)
        if self._handover.finish_inline():
            # The standby holds the sockets now: hand it the reply, then run
            # the calls it queued meanwhile. Never touch the sockets again.
            if not self._handover.stopping:
                self._post(frames)
            return _WORK
        if self._handover.stopping:
            return _EXIT  # a late reply to a stopped server is dropped
        _send(router, frames)
        return None

    # -- after a handover --------------------------------------------------------

    def _work(self) -> str:
        """Run the calls queued while this thread ran a long one; then stand by."""
        while True:
            job = self._handover.next_job()
            if job is None:
                return _EXIT if self._handover.stopping else _STAND_BY
            frames = self._requests.run(job)
            if self._handover.stopping or not self._post(frames):
                return _EXIT

    def _post(self, frames: List[Any]) -> bool:
        """Hand a reply to the leader's inbox; False when the server is gone."""
        return self._inbox.send([_RESULT, *frames], _POST_TIMEOUT)


def _send(router: zmq.Socket, frames: List[Any]) -> None:
    if not frames:  # a notification's reply: none
        return
    try:
        send_message(router, frames, _NOBLOCK)
    except zmq.ZMQError as exc:  # the peer is gone or not reading: its loss
        log.debug("reply dropped: %s", exc)
