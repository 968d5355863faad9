"""The standalone broker: one endpoint for every host and every client.

The broker owns the UI endpoint (``tcp://127.0.0.1:9090`` by default). Hosts
announce and heartbeat to it exactly as to a UI; clients (UIs, shells, tray
apps, other hosts) call ``TARGET/METHOD``, and the broker forwards each call
to the host, by id or by name. Where each call goes, what waits and what
fails is :class:`~broker.relay.routing.Routing`, a state machine without
I/O; this module only moves frames.

One thread owns every socket: the frontends clients and hosts connect to
(:mod:`broker.relay.frontends`, which answer the broker's own ``rpc.*``:
``ping``, ``describe``, and the registry's ``announce``, ``heartbeat``,
``depart`` and ``hosts``) and one ROUTER connected to every host
(:class:`~broker.transport.links.Links`), which carries the calls and,
with ZMTP heartbeats that libzmq answers without the GIL, says whether each
host is alive. Only each message's head is read; arguments and results
pass byte for byte.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

import zmq

from ..errors import BindError, MessageTooLarge, ProtocolError
from ..presence.registry import HostRegistry
from ..security.options import AuthLike, resolve
from ..serve.requests import identity_handlers
from ..serve.service import as_service
from ..transport.context import PrivateContext
from ..transport.descriptors import hosts_within, raise_open_files_limit
from ..transport.endpoints import ui_endpoint
from ..transport.inbox import Inbox
from ..transport.links import Links
from ..wire.codec import Codec
from ..wire.envelope import read_head
from .frontends import Frontends
from .routing import Action, Deliver, Forward, Refuse, Routing

__all__ = ["Broker", "start_broker"]

log = logging.getLogger(__name__)


#: Loop steps that may fail in a row before the loop gives up (and the process exits).
_FAILURES_IN_A_ROW = 100
_ROUTING = "call TARGET/METHOD; TARGET is a host id or name (see rpc.hosts)"


class Broker:
    """Route calls from any number of clients to any number of hosts.

    Arguments:
        bind: endpoints to own; default the UI endpoint (``$BROKER_UI_ENDPOINT``
            or ``tcp://127.0.0.1:9090``).
        heartbeat_interval: seconds between host heartbeats (told to hosts).
        missed_heartbeats: heartbeats missed before a host is lost.
        window: service calls in flight to one host at once (it runs them
            in order); more wait in the broker's queue.
        max_hosts: hosts it holds at most; past that an announce is refused
            (``Overloaded``). Default: as many as its open-files limit allows.
        queue_limit: calls waiting for busy hosts, across all hosts; more are
            refused at once.
        queue_timeout: seconds a call may wait in the queue before the broker
            answers ``Timeout``; None waits as long as the host lives.
        codec: limits and hooks.
        auth: ``True`` (the default): only the user's own processes get in
            (CURVE with the user's key on TCP); ``False`` admits anyone (logged
            as a warning); a :class:`broker.Security` names another key file,
            or the keys of clients and hosts on other machines.
        name: reported by ``rpc.ping``.
    """

    def __init__(
        self,
        bind: Optional[Iterable[str]] = None,
        *,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        window: int = 8,
        max_hosts: Optional[int] = None,
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
            watch_links=True,
            capacity=max_hosts,
        )
        self.routing = Routing(window=window, queue_limit=queue_limit, queue_timeout=queue_timeout)
        self._binds = list(bind) if bind else [ui_endpoint()]
        self._private = PrivateContext(security)
        self._sockets = security.sockets(self._private.context, self.codec, self._private.start_zap)
        self._inbox = Inbox(self._private.context, "broker")
        self._links: Optional[Links] = None  # made in start(), owned by the I/O thread
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._started = self._stopped = False
        #: Why the loop died, if it did (then the process should exit: see the CLI).
        self.failure: Optional[BaseException] = None
        handlers = identity_handlers(
            name,
            name,
            as_service(None),
            lambda: "busy" if self.routing.busy else "idle",
            extra={"role": "broker", "routing": _ROUTING},
        )
        handlers.update(self.registry.handlers())
        self._frontends = Frontends(self._sockets, self.codec, handlers)

    @property
    def endpoints(self) -> List[str]:
        """The bound endpoints."""
        return self._frontends.endpoints

    @property
    def endpoint(self) -> str:
        """The first bound endpoint."""
        return self.endpoints[0] if self.endpoints else ""

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> Broker:
        """Bind every endpoint and start routing; returns self.

        The binds happen on the calling thread, so a failure is raised at once.

        Raises:
            EndpointInUse: another process owns one of the endpoints.
            BindError: an endpoint is not valid (a ValueError).
        """
        with self._lock:
            if self._started:
                return self
            self._started = True
        try:
            self._frontends.bind(self._binds)
        except BindError:
            self._private.close()
            raise
        inbox = self._inbox.bind()
        self.registry.capacity = _capacity(self.registry.capacity)
        self._links = Links(self._sockets, self.registry.heartbeat_interval)
        # Starting the thread is the memory barrier the sockets need to move to it.
        self._thread = threading.Thread(
            target=self._run, args=(inbox,), name="broker-io[broker]", daemon=True
        )
        self._thread.start()
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
        assert self._thread is not None
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

    # -- the I/O thread ----------------------------------------------------------

    def _run(self, inbox: zmq.Socket) -> None:
        links = self._links
        assert links is not None
        poller = zmq.Poller()
        for socket in [inbox, *links.sockets, *self._frontends.sockets]:
            poller.register(socket, zmq.POLLIN)
        for watch in self._frontends.watch_sockets:
            poller.register(watch, zmq.POLLIN)
        guard = _Guard()
        tick = self.registry.heartbeat_interval / 4
        next_tick = time.monotonic() + tick
        try:
            while True:  # until the inbox says stop
                wait_ms = max(0, int((next_tick - time.monotonic()) * 1000))
                for socket, _ in poller.poll(wait_ms):
                    if socket is inbox:
                        return
                    guard(self._on_readable, socket, links)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick
                    guard(self._on_tick)
        except Exception as exc:  # the loop itself broke: say so, and let the owner know
            self.failure = exc
            log.critical("the broker's loop failed: it no longer routes", exc_info=True)
        finally:
            links.close()
            self._frontends.close()
            inbox.close()

    def _on_readable(self, socket: zmq.Socket, links: Links) -> None:
        to_hosts, link_events = links.sockets
        if socket is to_hosts:
            for host_id, message in links.receive():
                self._on_backend(host_id, message)
        elif socket is link_events:
            self._on_links(links)
        elif not self._frontends.note_refusals(socket):
            for client, head, frames in self._frontends.receive(socket):
                self._perform(self.routing.request(client, head, frames))

    def _on_tick(self) -> None:
        self.registry.check()
        self._perform(self.routing.tick())

    @property
    def alive(self) -> bool:
        """Whether the broker is routing: started, not stopped, its loop running."""
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    # -- from hosts ------------------------------------------------------------------

    def _on_backend(self, host_id: str, message: List[Any]) -> None:
        try:
            inner = self.codec.check(message)
            head = read_head(inner[0])
        except (ProtocolError, MessageTooLarge) as exc:
            log.warning("dropped a bad reply from %s: %s", host_id, exc)
            return
        self._perform(self.routing.reply(host_id, head, inner))

    def _on_links(self, links: Links) -> None:
        """Connections to hosts made or dropped: routing and the registry hear it."""
        for host_id, up in links.events():
            self._perform(self.routing.linked(host_id, up))
            self.registry.link(host_id, up)  # a drop makes it lost: see _on_registry_event

    def _on_registry_event(self, kind: str, info: Dict[str, Any]) -> None:
        # Called by the registry, always on this broker's I/O thread.
        host_id = info["id"]
        role = "UI" if info.get("role") == "ui" else "host"
        routing, links = self.routing, self._links
        assert links is not None
        if kind == "added":
            log.info("%s %s (%s) announced at %s", role, host_id, info["name"], info["endpoint"])
            try:
                links.connect(host_id, info["endpoint"], info.get("curve_public_key"))
            except ValueError as exc:
                log.warning("cannot reach %s at %s: %s", host_id, info["endpoint"], exc)
                self._perform(routing.remove(host_id, "unreachable endpoint"))
            else:
                self._perform(routing.add(info))
        elif kind == "back":
            log.info("%s %s is back", role, host_id)
            self._perform(routing.back(host_id))
        elif kind == "silent":
            log.info("%s %s is silent: its connection answers, its Python does not", role, host_id)
            self._perform(routing.silent(host_id))
        elif kind == "lost":
            log.warning("%s %s (%s) lost", role, host_id, info["name"])
            self._perform(routing.lost(host_id, f"host {host_id} was lost"))
        elif kind in ("departed", "forgotten"):
            log.info("%s %s (%s) %s", role, host_id, info["name"], kind)
            self._perform(routing.remove(host_id, f"host {host_id} {kind}"))
            links.disconnect(host_id)

    # -- actions -----------------------------------------------------------------------------

    def _perform(self, actions: List[Action]) -> None:
        for action in actions:
            if isinstance(action, Forward):
                self._forward(action)
            elif isinstance(action, Deliver):
                self._frontends.deliver(action.client, action.frames)
            elif isinstance(action, Refuse):
                self._frontends.fail(action.client, action.msgid, action.kind, action.message)

    def _forward(self, action: Forward) -> None:
        assert self._links is not None
        try:
            self._links.send(action.host_id, action.frames)
        except zmq.ZMQError as exc:
            self._perform(self.routing.unreachable(action.host_id, action.msgid, str(exc)))


class _Guard:
    """Runs the steps of the broker's loop: a bug in one is logged and the
    loop goes on (a broker that stops routing is worse than one message
    lost), unless steps fail :data:`_FAILURES_IN_A_ROW` times in a row."""

    def __init__(self) -> None:
        self.failures = 0

    def __call__(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
            self.failures = 0
        except Exception:
            self.failures += 1
            log.exception("the broker's loop hit a bug (%d in a row)", self.failures)
            if self.failures >= _FAILURES_IN_A_ROW:
                raise


def _capacity(asked: Optional[int]) -> int:
    """Raise the open-files limit; the hosts a broker may hold: ``asked``
    (``max_hosts``), if the limit allows that many."""
    within = hosts_within(raise_open_files_limit())
    if asked is not None and asked > within:
        log.warning("max_hosts %d is over what the open-files limit allows", asked)
    capacity = within if asked is None else min(asked, within)
    log.info("broker holds up to %s hosts", f"{capacity:,}")
    return capacity


def start_broker(bind: Optional[Iterable[str]] = None, **options: Any) -> Broker:
    """Start a :class:`Broker` in a background thread; see there for the options."""
    return Broker(bind, **options).start()
