"""The standalone broker: one endpoint for every host and every client.

The broker owns the UI endpoint (``tcp://127.0.0.1:9090`` by default). Hosts
announce and heartbeat to it exactly as to a UI. Clients (UIs, shells, tray
apps, other hosts) call ``TARGET/METHOD``:

- TARGET is a host id: the call goes to that host;
- TARGET is a host name: the call goes to the least recently used idle host
  of that name;
- no TARGET (a bare ``METHOD``): the call goes to the UI attached to the
  broker (the most recently attached one, see ``ui_adapter.attach``).

A host runs one service call at a time, so the broker sends each host at
most one at a time and queues the rest, in arrival order, in a bounded
queue. ``TARGET/rpc.*`` calls are forwarded at once: hosts answer them on
their I/O thread even while busy.

The broker answers these errors itself: ``HostNotFound`` (no such target,
at once), ``HostLost`` (the host died or departed while the call was queued
or in flight; never retried elsewhere, calls may not be idempotent),
``Timeout`` (queued longer than ``queue_timeout``), and a full queue.

Arguments and results are never decoded here: the broker reads each
message's head (kind, msgid, method), rewrites it and passes the rest on
byte for byte, out-of-band frames included.

One thread owns every socket: the frontend ROUTERs clients and hosts
connect to, and one DEALER per registered host.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence

import zmq

from ..errors import BindError, MessageTooLarge, ProtocolError, Unauthorized
from ..presence.registry import HostRegistry
from ..security.options import AuthLike, resolve
from ..transport.context import PrivateContext
from ..transport.endpoints import ui_endpoint
from ..transport.frames import recv_message, send_message
from ..transport.inbox import Inbox
from ..wire import messages as protocol
from ..wire.codec import Codec
from ..wire.envelope import Head, read_head, refusal, rewrite_head, salvage_msgid, split_envelope
from ..wire.messages import Request

__all__ = ["Broker", "start_broker"]

log = logging.getLogger(__name__)

_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: IntFlag arithmetic costs per frame


class _Call:
    """A client's request, queued or in flight to a backend."""

    __slots__ = ("frontend", "envelope", "head", "frames", "target", "method", "seq", "arrived")

    def __init__(
        self,
        frontend: zmq.Socket,
        envelope: List[bytes],
        head: Head,
        frames: List[Any],
        target: str,
        method: str,
        seq: int,
    ) -> None:
        self.frontend = frontend
        self.envelope = envelope
        self.head = head
        self.frames = frames  # [body, *oob], unsealed
        self.target = target
        self.method = method
        self.seq = seq
        self.arrived = time.monotonic()


class _Backend:
    """One registered host (or attached UI) and the DEALER that reaches it."""

    __slots__ = ("info", "socket", "inflight", "queue", "busy", "lost", "last_used", "attached")

    def __init__(self, info: Dict[str, Any], socket: zmq.Socket, attached: int) -> None:
        self.info = info
        self.socket = socket
        self.inflight: Dict[int, _Call] = {}
        self.queue: Deque[_Call] = collections.deque()  # calls for this host's id
        self.busy = False  # a service call is in flight
        self.lost = False
        self.last_used = 0.0
        self.attached = attached  # order of arrival, for "the latest UI"

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def is_ui(self) -> bool:
        return self.info.get("role") == "ui"


class Broker:
    """Route calls from any number of clients to any number of hosts.

    Arguments:
        bind: endpoints to own; default the UI endpoint (``$BROKER_UI_ENDPOINT``
            or ``tcp://127.0.0.1:9090``).
        heartbeat_interval: seconds between host heartbeats (told to hosts).
        missed_heartbeats: heartbeats missed before a host is lost.
        queue_limit: calls waiting for busy hosts, across all hosts; more are
            refused at once.
        queue_timeout: seconds a call may wait in the queue before the broker
            answers ``Timeout``; None waits as long as the host lives.
        codec: limits and hooks.
        auth: ``True`` (the default) signs and checks every message with the
            user's key; ``False`` accepts unsigned messages (logged as a
            warning); a :class:`broker.Security` names another key file, or
            CURVE across machines (clients and hosts must then hold a key in
            its ``authorized`` folder, and hosts announce their public key).
        name: reported by ``rpc.ping``.
    """

    def __init__(
        self,
        bind: Optional[Iterable[str]] = None,
        *,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        queue_limit: int = 10_000,
        queue_timeout: Optional[float] = 60.0,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
        name: str = "broker",
    ) -> None:
        self.name = name
        security = resolve(auth)
        self.codec = security.codec(codec)
        self.registry = HostRegistry(
            heartbeat_interval=heartbeat_interval,
            missed_heartbeats=missed_heartbeats,
            on_event=self._on_registry_event,
        )
        self._binds = list(bind) if bind else [ui_endpoint()]
        self._signed = self.codec.signer is not None
        self._queue_limit = queue_limit
        self._queue_timeout = queue_timeout
        self._private = PrivateContext(security.curve)
        self._context = self._private.context
        self._sockets = security.sockets(self._context, self.codec)
        self._inbox = Inbox(self._context, "broker")
        self._backends: Dict[str, _Backend] = {}
        self._by_socket: Dict[zmq.Socket, _Backend] = {}
        self._name_queues: Dict[str, Deque[_Call]] = {}
        self._queued = 0
        self._seq = itertools.count()
        self._msgids = itertools.count(1)
        self._attached = itertools.count()
        self._poller = zmq.Poller()
        self._ready = threading.Event()
        self._bind_error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="broker-io[broker]", daemon=True)
        self._lock = threading.Lock()
        self._started = self._stopped = False
        self.endpoints: List[str] = []
        self._handlers: Dict[str, Callable[..., Any]] = {
            protocol.PING: self._ping,
            protocol.DESCRIBE: self._describe,
            protocol.ANNOUNCE: self.registry.announce,
            protocol.HEARTBEAT: self.registry.heartbeat,
            protocol.DEPART: self.registry.depart,
            protocol.HOSTS: self.registry.hosts,
        }

    @property
    def endpoint(self) -> str:
        """The first bound endpoint."""
        return self.endpoints[0] if self.endpoints else ""

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> Broker:
        """Bind every endpoint and start routing; returns self.

        Raises:
            EndpointInUse: another process owns one of the endpoints.
            ValueError: an endpoint is not valid.
        """
        with self._lock:
            if self._started:
                return self
            self._started = True
        self._private.start_authenticator()
        self._thread.start()
        self._ready.wait()
        if self._bind_error is not None:
            self._thread.join()
            self._private.close()
            raise self._bind_error
        log.info("broker listening at %s", ", ".join(self.endpoints))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop routing; calls still queued or in flight are dropped. Idempotent."""
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        self._inbox.post([b"stop"])
        self._thread.join(timeout)
        self._private.close(threads_alive=self._thread.is_alive())
        log.info("broker stopped")

    close = stop

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def hosts(self) -> List[Dict[str, Any]]:
        """Every registered host and attached UI, with state and last_seen."""
        return self.registry.hosts()

    # -- reserved methods answered by the broker itself -----------------------------

    def _ping(self) -> Dict[str, Any]:
        busy = any(b.busy for b in self._backends.values())
        return {
            "name": self.name,
            "id": self.name,
            "pid": os.getpid(),
            "state": "busy" if busy else "idle",
            "protocol": protocol.PROTOCOL_VERSION,
            "role": "broker",
        }

    def _describe(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "id": self.name,
            "protocol": protocol.PROTOCOL_VERSION,
            "role": "broker",
            "methods": [],
            "routing": "call TARGET/METHOD; TARGET is a host id or name (see rpc.hosts)",
        }

    # -- the I/O thread ----------------------------------------------------------

    def _run(self) -> None:
        inbox = self._inbox.bind()
        frontends = []
        try:
            for endpoint in self._binds:
                frontend, bound = self._sockets.bind(zmq.ROUTER, endpoint)
                frontends.append(frontend)
                self.endpoints.append(bound)
        except BindError as exc:
            for frontend in frontends:
                frontend.close()
            inbox.close()
            self._bind_error = exc
            self._ready.set()
            return
        self._ready.set()
        poller = self._poller
        poller.register(inbox, zmq.POLLIN)
        for frontend in frontends:
            poller.register(frontend, zmq.POLLIN)
        tick = self.registry.heartbeat_interval / 4
        next_tick = time.monotonic() + tick
        head = 3 if self._signed else 1  # [mac, header, body] or [body]
        try:
            while True:
                wait_ms = max(0, int((next_tick - time.monotonic()) * 1000))
                for socket, _ in poller.poll(wait_ms):
                    if socket is inbox:
                        return
                    backend = self._by_socket.get(socket)
                    if backend is not None:
                        for frames in _drain(socket, head, 0):
                            self._on_backend(backend, frames)
                    else:
                        for frames in _drain(socket, head, 1):  # a ROUTER: routing id first
                            self._on_frontend(socket, frames)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick
                    self.registry.check()
                    self._expire_queued()
        except Exception:  # pragma: no cover - a bug here must be loud, not a silent hang
            log.exception("broker loop failed")
            raise
        finally:
            for backend in list(self._backends.values()):
                backend.socket.close()
            for frontend in frontends:
                frontend.close()
            inbox.close()

    # -- from clients --------------------------------------------------------------

    def _on_frontend(self, frontend: zmq.Socket, frames: List[bytes]) -> None:
        envelope, message = split_envelope(frames)
        try:
            inner = self.codec.unseal(message)
            head = read_head(inner[0])
        except (Unauthorized, MessageTooLarge, ProtocolError) as exc:
            msgid = salvage_msgid(message, self._signed)
            if isinstance(exc, Unauthorized):
                # A refusal holds no secret: unsigned, a client without the key can read it.
                self._send(frontend, envelope + refusal(msgid, "Unauthorized", str(exc)))
            else:
                self._answer_error(frontend, envelope, msgid, exc.wire_type, exc)
            return
        if head.kind != protocol.REQUEST:
            self._answer_error(
                frontend,
                envelope,
                head.msgid,
                "ProtocolError",
                "the broker accepts requests, not responses",
            )
            return
        method = head.method
        assert method is not None
        target, slash, inner_method = method.partition("/")
        if slash:
            call = _Call(frontend, envelope, head, inner, target, inner_method, next(self._seq))
            self._route(call)
        elif method.startswith(protocol.RESERVED_PREFIX):
            self._answer_reserved(frontend, envelope, inner)
        else:
            ui = self._latest_ui()
            if ui is None:
                self._answer_error(
                    frontend,
                    envelope,
                    head.msgid,
                    "HostNotFound",
                    f"no UI is attached to this broker to answer {method!r}",
                )
                return
            call = _Call(frontend, envelope, head, inner, ui.id, method, next(self._seq))
            self._route(call)

    def _answer_reserved(
        self, frontend: zmq.Socket, envelope: List[bytes], inner: List[Any]
    ) -> None:
        try:
            request = self.codec.decode_unsealed(inner)
        except ProtocolError as exc:
            self._answer_error(
                frontend, envelope, salvage_msgid(inner, False), "ProtocolError", exc
            )
            return
        assert isinstance(request, Request)
        handler = self._handlers.get(request.method)
        if handler is None:
            self._answer_error(
                frontend,
                envelope,
                request.msgid,
                "MethodNotFound",
                f"no method named {request.method!r} (call TARGET/METHOD)",
            )
            return
        try:
            result = handler(*request.args, **request.kwargs)
        except TypeError as exc:
            self._answer_error(frontend, envelope, request.msgid, "InvalidParams", exc)
            return
        self._send(frontend, envelope + self.codec.encode_response(request.msgid, result))

    # -- routing ---------------------------------------------------------------------

    def _route(self, call: _Call) -> None:
        backend = self._backends.get(call.target)
        if backend is not None:
            if backend.lost:
                self._fail(call, "HostLost", f"host {backend.id} is lost (no heartbeat)")
            elif call.method.startswith(protocol.RESERVED_PREFIX):
                self._forward(backend, call)  # answered by the host's I/O thread
            elif not backend.busy:
                self._forward(backend, call)
            else:
                self._enqueue(backend.queue, call)
            return
        candidates = [
            b
            for b in self._backends.values()
            if b.name == call.target and not b.lost and not b.is_ui
        ]
        if not candidates:
            self._fail(call, "HostNotFound", f"no live host with id or name {call.target!r}")
            return
        if call.method.startswith(protocol.RESERVED_PREFIX):
            self._forward(min(candidates, key=lambda b: b.last_used), call)
            return
        idle = [b for b in candidates if not b.busy]
        if idle:
            self._forward(min(idle, key=lambda b: b.last_used), call)
        else:
            self._enqueue(self._name_queues.setdefault(call.target, collections.deque()), call)

    def _enqueue(self, queue: Deque[_Call], call: _Call) -> None:
        if self._queued >= self._queue_limit:
            self._fail(
                call, "Exception", f"the broker queue is full ({self._queue_limit} calls waiting)"
            )
            return
        queue.append(call)
        self._queued += 1

    def _forward(self, backend: _Backend, call: _Call) -> None:
        msgid = next(self._msgids) & 0xFFFFFFFF
        body = rewrite_head(call.frames[0], call.head, msgid, call.method)
        frames = self.codec.seal([body, *call.frames[1:]])
        backend.inflight[msgid] = call
        if not call.method.startswith(protocol.RESERVED_PREFIX):
            backend.busy = True
            backend.last_used = time.monotonic()
        try:
            send_message(backend.socket, [b"", *frames], _NOBLOCK)
        except zmq.ZMQError as exc:
            backend.inflight.pop(msgid, None)
            backend.busy = False
            self._fail(call, "HostLost", f"cannot reach host {backend.id}: {exc}")

    def _on_backend(self, backend: _Backend, frames: List[bytes]) -> None:
        _, message = split_envelope([b"", *frames])  # a DEALER sees no routing id
        try:
            inner = self.codec.unseal(message)
            head = read_head(inner[0])
        except (ProtocolError, Unauthorized, MessageTooLarge) as exc:
            log.warning("dropped a bad reply from %s: %s", backend.id, exc)
            return
        call = backend.inflight.pop(head.msgid, None)
        if call is None or head.kind != protocol.RESPONSE:
            return  # a late reply to a call already answered HostLost
        body = rewrite_head(inner[0], head, call.head.msgid)
        self._send(call.frontend, call.envelope + self.codec.seal([body, *inner[1:]]))
        if not call.method.startswith(protocol.RESERVED_PREFIX):
            backend.busy = False
            self._dispatch_next(backend)

    def _dispatch_next(self, backend: _Backend) -> None:
        """Give a newly free backend the oldest call waiting for it by id or by name."""
        if backend.busy or backend.lost:
            return
        own = backend.queue
        shared = self._name_queues.get(backend.name) if not backend.is_ui else None
        while own and own[0].method.startswith(protocol.RESERVED_PREFIX):
            self._forward(backend, own.popleft())  # pragma: no cover - rpc.* is never queued
        if own and (not shared or own[0].seq < shared[0].seq):
            queue: Optional[Deque[_Call]] = own
        elif shared:
            queue = shared
        else:
            return
        assert queue is not None
        self._queued -= 1
        self._forward(backend, queue.popleft())

    def _expire_queued(self) -> None:
        if self._queue_timeout is None or not self._queued:
            return
        oldest = time.monotonic() - self._queue_timeout
        queues = [b.queue for b in self._backends.values()] + list(self._name_queues.values())
        for queue in queues:
            while queue and queue[0].arrived < oldest:
                self._queued -= 1
                call = queue.popleft()
                self._fail(
                    call,
                    "Timeout",
                    f"waited {self._queue_timeout:g} s for a free host {call.target!r}",
                )

    # -- hosts coming and going ------------------------------------------------------------

    def _on_registry_event(self, kind: str, info: Dict[str, Any]) -> None:
        # Called by the registry, always on this broker's I/O thread.
        host_id = info["id"]
        role = "UI" if info.get("role") == "ui" else "host"
        if kind == "added":
            log.info("%s %s (%s) announced at %s", role, host_id, info["name"], info["endpoint"])
            self._drop_backend(host_id, "re-announced at a new endpoint")
            self._add_backend(info)
        elif kind == "back":
            log.info("%s %s is back", role, host_id)
            backend = self._backends.get(host_id)
            if backend is not None:
                backend.lost = False
                self._dispatch_next(backend)
        elif kind == "lost":
            log.warning("%s %s (%s) lost: no heartbeat", role, host_id, info["name"])
            backend = self._backends.get(host_id)
            if backend is not None:
                backend.lost = True
                backend.busy = False
                self._fail_backend(backend, f"host {host_id} was lost (no heartbeat)")
        elif kind in ("departed", "forgotten"):
            log.info("%s %s (%s) %s", role, host_id, info["name"], kind)
            self._drop_backend(host_id, f"host {host_id} {kind}")

    def _add_backend(self, info: Dict[str, Any]) -> None:
        try:
            socket = self._sockets.connect(
                zmq.DEALER, info["endpoint"], server_key=info.get("curve_public_key")
            )
        except ValueError as exc:
            log.warning("cannot connect to %s at %s: %s", info["id"], info["endpoint"], exc)
            return
        backend = _Backend(info, socket, next(self._attached))
        self._backends[backend.id] = backend
        self._by_socket[socket] = backend
        self._poller.register(socket, zmq.POLLIN)
        self._dispatch_next(backend)

    def _drop_backend(self, host_id: str, why: str) -> None:
        backend = self._backends.pop(host_id, None)
        if backend is None:
            return
        self._fail_backend(backend, why)
        self._poller.unregister(backend.socket)
        del self._by_socket[backend.socket]
        backend.socket.close()

    def _fail_backend(self, backend: _Backend, why: str) -> None:
        """Answer HostLost to every call in flight to, or queued for, this backend."""
        for call in backend.inflight.values():
            self._fail(call, "HostLost", why)
        backend.inflight.clear()
        while backend.queue:
            self._queued -= 1
            self._fail(backend.queue.popleft(), "HostLost", why)
        # Calls queued by name wait for another host of that name, if one lives.
        shared = self._name_queues.get(backend.name)
        alive = any(
            b.name == backend.name and not b.lost and b is not backend
            for b in self._backends.values()
        )
        if shared and not alive:
            while shared:
                self._queued -= 1
                self._fail(shared.popleft(), "HostLost", why)

    def _latest_ui(self) -> Optional[_Backend]:
        uis = [b for b in self._backends.values() if b.is_ui and not b.lost]
        return max(uis, key=lambda b: b.attached) if uis else None

    # -- replies -----------------------------------------------------------------------------

    def _fail(self, call: _Call, kind: str, message: str) -> None:
        self._answer_error(call.frontend, call.envelope, call.head.msgid, kind, message)

    def _answer_error(
        self, frontend: zmq.Socket, envelope: List[bytes], msgid: int, kind: str, message: Any
    ) -> None:
        error = protocol.error_map(kind, str(message))
        self._send(frontend, envelope + self.codec.encode_response(msgid, error=error))

    def _send(self, frontend: zmq.Socket, frames: Sequence[Any]) -> None:
        try:
            send_message(frontend, frames, _NOBLOCK)
        except zmq.ZMQError as exc:  # the client is gone: its loss
            log.debug("reply dropped: %s", exc)


def _drain(socket: zmq.Socket, head: int, prefix: int) -> Iterator[List[Any]]:
    """The messages waiting on ``socket``, at most _DRAIN_LIMIT: envelopes and
    heads copied, out-of-band frames passed on as they came (no copy)."""
    for _ in range(_DRAIN_LIMIT):
        try:
            yield recv_message(socket, head, prefix=prefix, flags=_NOBLOCK)
        except zmq.Again:
            return


def start_broker(bind: Optional[Iterable[str]] = None, **options: Any) -> Broker:
    """Start a :class:`Broker` in background threads; see there for the options."""
    return Broker(bind, **options).start()
