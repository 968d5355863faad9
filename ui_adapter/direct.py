"""What a UI embeds: own the UI endpoint, track hosts, call them."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Dict, List, Optional

from broker.client.proxy import DEFAULT_TIMEOUT, Proxy
from broker.errors import Closed, HostLost
from broker.presence.registry import HostRegistry
from broker.security.curve import Curve
from broker.security.keys import make_codec
from broker.serve.server import Dispatcher, Server
from broker.serve.service import ServiceLike, as_service
from broker.transport.context import PrivateContext
from broker.transport.endpoints import ui_endpoint
from broker.wire import messages as protocol
from broker.wire.codec import Codec

__all__ = ["UiAdapter", "listen"]

log = logging.getLogger(__name__)

#: ``callback(info)``; runs on the adapter's event thread, so it may call hosts.
HostCallback = Callable[[Dict[str, Any]], None]


class UiAdapter:
    """A running UI endpoint. Made by :func:`listen`; see there for arguments.

    Threads: the server's I/O thread (answers hosts' announce, heartbeat,
    depart and the UI's own methods), its call thread, and an event thread
    that runs the ``on_host_*`` callbacks so that they may take their time.
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        service: ServiceLike = None,
        *,
        name: str = "ui",
        dispatcher: Optional[Dispatcher] = None,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        on_host_added: Optional[HostCallback] = None,
        on_host_lost: Optional[HostCallback] = None,
        on_host_departed: Optional[HostCallback] = None,
        codec: Optional[Codec] = None,
        auth: bool = True,
        key_file: Optional[str] = None,
        curve: Optional[Curve] = None,
    ) -> None:
        self._callbacks = {
            "added": on_host_added,
            "lost": on_host_lost,
            "departed": on_host_departed,
        }
        self._events: queue.Queue[Optional[tuple]] = queue.Queue()
        self.registry = HostRegistry(
            heartbeat_interval=heartbeat_interval,
            missed_heartbeats=missed_heartbeats,
            on_event=self._queue_event,
        )
        self._timeout = timeout
        self._codec = make_codec(codec, auth=auth, key_file=key_file)
        self._private = PrivateContext(curve)
        self._context = self._private.context
        self._server = Server(
            as_service(service, name),
            context=self._context,
            endpoint=ui_endpoint(endpoint),
            dispatcher=dispatcher,
            codec=self._codec,
            name=name,
            id=name,
            reserved={
                protocol.ANNOUNCE: self.registry.announce,
                protocol.HEARTBEAT: self.registry.heartbeat,
                protocol.DEPART: self.registry.depart,
                protocol.HOSTS: self.registry.hosts,
            },
            tick=self.registry.check,
            tick_interval=heartbeat_interval / 4,
            curve=curve,
        )
        self._curve = curve
        self._event_thread = threading.Thread(
            target=self._run_events, name=f"broker-events[{name}]", daemon=True
        )
        self._proxies: Dict[str, Proxy] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.endpoint = ""

    def start(self) -> UiAdapter:
        self._private.start_authenticator()
        try:
            self._server.start()
        except BaseException:
            self._private.close()
            raise
        self.endpoint = self._server.endpoint or ""
        self._event_thread.start()
        log.info("UI listening at %s", self.endpoint)
        return self

    # -- hosts -------------------------------------------------------------------

    def hosts(self) -> List[Dict[str, Any]]:
        """Every known host: id, name, endpoint, pid, hostname, protocol,
        state (``idle``/``busy``/``lost``) and last_seen (unix time)."""
        return self.registry.hosts()

    def host(self, id_or_name: str, timeout: Optional[float] = None) -> Proxy:
        """A proxy for the host with that id, or for a live host of that name.

        Calls through it fail with :class:`HostLost` as soon as the host is
        lost or departs, instead of waiting for their timeout. The proxy is
        kept and reused; :meth:`close` closes it.

        Arguments:
            timeout: default call timeout; the UI's default when None.

        Raises:
            HostNotFound: no such host.
        """
        info = self.registry.find(id_or_name)
        host_id = info["id"]
        with self._lock:
            if self._closed:
                raise Closed("this UI adapter was closed")
            proxy = self._proxies.get(host_id)
            if proxy is None or proxy.closed or proxy.endpoint != info["endpoint"]:
                proxy = Proxy(
                    info["endpoint"],
                    timeout=self._timeout,
                    context=self._context,
                    codec=self._codec,
                    liveness=lambda: self._check_alive(host_id),
                    curve=self._curve,
                    server_key=info.get("curve_public_key"),
                )
                self._proxies[host_id] = proxy
        return proxy if timeout is None else proxy.with_timeout(timeout)

    def wait_for_host(self, name: Optional[str] = None, timeout: Optional[float] = 10.0) -> Proxy:
        """Wait until a host (named ``name``, if given) announces; return its proxy.

        Raises:
            HostNotFound: none arrived within ``timeout`` seconds.
        """
        info = self.registry.wait_for(name, timeout)
        return self.host(info["id"])

    def _check_alive(self, host_id: str) -> None:
        state = self.registry.state_of(host_id)
        if state == "lost":
            raise HostLost(f"host {host_id} stopped heartbeating")
        if state is None:
            raise HostLost(f"host {host_id} departed")

    # -- events ------------------------------------------------------------------

    def _queue_event(self, kind: str, info: Dict[str, Any]) -> None:
        log.info("host %s %s (%s)", info.get("id"), kind, info.get("endpoint"))
        if self._callbacks.get(kind) is not None:
            self._events.put((kind, info))

    def _run_events(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            kind, info = event
            callback = self._callbacks[kind]
            try:
                callback(info)  # type: ignore[misc]
            except Exception:
                log.exception("on_host_%s callback failed", kind)

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Stop listening, close every proxy handed out. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            proxies = list(self._proxies.values())
            self._proxies.clear()
        self._server.stop()
        self._events.put(None)
        if self._event_thread.is_alive():
            self._event_thread.join(2.0)
        for proxy in proxies:
            proxy.close()
        self._private.close(threads_alive=self._server.threads_alive)
        log.info("UI at %s closed", self.endpoint)

    stop = close

    def __enter__(self) -> UiAdapter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<UiAdapter {self.endpoint or 'unbound'} hosts={len(self.hosts())}>"


def listen(
    endpoint: Optional[str] = None,
    service: ServiceLike = None,
    *,
    name: str = "ui",
    dispatcher: Optional[Dispatcher] = None,
    heartbeat_interval: float = 1.0,
    missed_heartbeats: int = 3,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    on_host_added: Optional[HostCallback] = None,
    on_host_lost: Optional[HostCallback] = None,
    on_host_departed: Optional[HostCallback] = None,
    codec: Optional[Codec] = None,
    auth: bool = True,
    key_file: Optional[str] = None,
    curve: Optional[Curve] = None,
) -> UiAdapter:
    """Own the UI endpoint: let hosts announce themselves, and call them.

    Returns a running :class:`UiAdapter`; close it with ``ui.close()`` or use
    it as a context manager.

    Arguments:
        endpoint: where to listen; default ``$BROKER_UI_ENDPOINT`` or
            ``tcp://127.0.0.1:9090``. ``tcp://127.0.0.1:*`` picks a free port
            (read it back from ``ui.endpoint``).
        service: the UI's own methods that hosts may call (``show``,
            ``hide``…): an object, a module, a dict or a list of functions.
        name: the UI's name in ``rpc.ping``.
        dispatcher: runs the UI's methods on its main (Qt) thread; None runs
            them on the adapter's call thread.
        heartbeat_interval: seconds between host heartbeats (told to hosts).
        missed_heartbeats: heartbeats missed before a host is ``lost``.
        timeout: default timeout of calls to hosts, seconds.
        on_host_added, on_host_lost, on_host_departed: ``callback(info)``,
            run on the adapter's event thread.
        codec: limits, signing and hooks; overrides ``auth`` and ``key_file``.
        auth: sign and check every message with the user's key (default);
            False accepts unsigned messages from anyone (logged as a warning).
        key_file: the key file; default ``$BROKER_KEY_FILE`` or the user's.
        curve: encrypt with CURVE for hosts on other machines (see
            :mod:`broker.security.curve`); hosts must hold a key in ``curve.authorized``.

    Raises:
        EndpointInUse: another process (another UI, a broker) owns the endpoint.
    """
    adapter = UiAdapter(
        endpoint,
        service,
        name=name,
        dispatcher=dispatcher,
        heartbeat_interval=heartbeat_interval,
        missed_heartbeats=missed_heartbeats,
        timeout=timeout,
        on_host_added=on_host_added,
        on_host_lost=on_host_lost,
        on_host_departed=on_host_departed,
        codec=codec,
        auth=auth,
        key_file=key_file,
        curve=curve,
    )
    return adapter.start()
