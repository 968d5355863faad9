"""What a UI embeds in direct mode: own the UI endpoint, track hosts, call them."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Dict, List, Optional

from broker.client import DEFAULT_TIMEOUT, Proxy
from broker.errors import Closed, HostLost
from broker.presence.registry import HostRegistry
from broker.presence.watcher import LinkWatcher
from broker.security import AuthLike, resolve
from broker.serve import Dispatcher, Server, ServiceLike, as_service, check_service
from broker.transport import ui_endpoint
from broker.transport.context import shared_context
from broker.wire import Codec, HostRecord

__all__ = ["UiAdapter", "listen", "HostCallback"]

log = logging.getLogger(__name__)

#: ``callback(info)``; runs on the adapter's event thread, so it may call hosts.
HostCallback = Callable[[Dict[str, Any]], None]


class UiAdapter:
    """A running UI endpoint. Usually made by :func:`listen`.

    Threads: the server's two call threads (they answer hosts' announce,
    heartbeat, depart and the UI's own methods), a watcher that keeps a
    ZMTP-heartbeated connection to each host (so that a host whose call
    holds the GIL is ``silent``, not lost), and an event thread that runs
    the ``on_host_*`` callbacks so that they may take their time.

    Arguments:
        service: the UI's own methods that hosts may call (``show``,
            ``hide``…): an object, a module, a dict or a list of functions.
        endpoint: where to listen; default ``$BROKER_UI_ENDPOINT`` or
            ``tcp://127.0.0.1:9090``. ``tcp://127.0.0.1:*`` picks a free port
            (read it back from ``ui.endpoint``).
        name: the UI's name in ``rpc.ping``.
        dispatcher: runs the UI's methods on its main (Qt) thread; None runs
            them on the adapter's call thread.
        heartbeat_interval: seconds between host heartbeats (told to hosts).
        missed_heartbeats: heartbeats missed before a host is ``lost``.
        timeout: default timeout of calls to hosts, seconds.
        on_host_added, on_host_silent, on_host_lost, on_host_back,
        on_host_departed: ``callback(info)``, run on the adapter's event
            thread. ``silent``: the host's connection answers but its Python
            has said nothing for ``missed_heartbeats`` intervals (a call
            holding the GIL); ``lost``: its connection is gone (killed,
            stopped, unreachable); ``back``: it speaks again.
        codec: limits and hooks.
        auth: ``True`` (the default): only the user's own processes get in
            (CURVE with the user's key on TCP; see :mod:`broker.security.options`);
            ``False`` admits anyone (logged as a warning); a
            :class:`broker.Security` names another key file, or keys of hosts
            on other machines.

    Raises:
        TypeError: ``service`` is a str (an endpoint where the service goes).
        KeyFileError: the key file is unusable.
    """

    def __init__(
        self,
        service: ServiceLike = None,
        *,
        endpoint: Optional[str] = None,
        name: str = "ui",
        dispatcher: Optional[Dispatcher] = None,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        on_host_added: Optional[HostCallback] = None,
        on_host_silent: Optional[HostCallback] = None,
        on_host_lost: Optional[HostCallback] = None,
        on_host_back: Optional[HostCallback] = None,
        on_host_departed: Optional[HostCallback] = None,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
    ) -> None:
        table = as_service(check_service(service, "listen"), name)  # fails before any socket
        self._events = HostEvents(
            name,
            added=on_host_added,
            silent=on_host_silent,
            lost=on_host_lost,
            back=on_host_back,
            departed=on_host_departed,
        )
        self.registry = HostRegistry(
            heartbeat_interval=heartbeat_interval,
            missed_heartbeats=missed_heartbeats,
            on_event=self._queue_event,
            watch_links=True,
        )
        self._timeout = timeout
        self._security = resolve(auth)
        self._codec = self._security.codec(codec)
        private = self._private = shared_context(self._security)
        sockets = self._security.sockets(private.context, self._codec, private.start_zap)
        self._watcher = LinkWatcher(sockets, self.registry, name)
        self._server = Server(
            table,
            sockets=sockets,
            endpoint=ui_endpoint(endpoint),
            dispatcher=dispatcher,
            codec=self._codec,
            name=name,
            id=name,
            reserved=self.registry.handlers(),
            tick=self.registry.check,
            tick_interval=heartbeat_interval / 4,
        )
        self._proxies: Dict[str, Proxy] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.endpoint = ""

    def start(self) -> UiAdapter:
        """Bind the UI endpoint and start answering hosts. Returns self.

        Raises:
            EndpointInUse: another process (another UI, a broker) owns the endpoint.
            BindError: the endpoint is not valid.
        """
        self._watcher.start()
        try:
            self._server.start()
        except BaseException:
            self._watcher.stop()
            self._private.close()
            raise
        self.endpoint = self._server.endpoint or ""
        self._events.start()
        log.info("UI listening at %s", self.endpoint)
        return self

    # -- hosts -------------------------------------------------------------------

    def hosts(self) -> List[HostRecord]:
        """Every known host: id, name, endpoint, pid, hostname, protocol,
        state (``idle``/``busy``/``silent``/``lost``) and last_seen (unix time)."""
        return self.registry.hosts()  # type: ignore[return-value]

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
            if proxy is None or proxy.closed or proxy.rpc.endpoint != info["endpoint"]:
                proxy = Proxy(
                    info["endpoint"],
                    timeout=self._timeout,
                    context=self._private.context,
                    codec=self._codec,
                    auth=self._security,
                    liveness=lambda: self._check_alive(host_id),
                    server_key=info.get("curve_public_key"),
                )
                self._proxies[host_id] = proxy
        return proxy if timeout is None else proxy.rpc.with_timeout(timeout)

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
        if kind == "added":
            self._watcher.watch(info)
        elif kind in ("departed", "forgotten"):
            self._watcher.forget(info["id"])
        self._events.put(kind, info)

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
        self._watcher.stop()
        self._events.stop()
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


class HostEvents:
    """The ``on_host_*`` callbacks of a UI, run in order on a thread of their
    own (so that they may call hosts, or take their time).

    Arguments:
        name: the UI's name, for the thread's.
        callbacks: ``kind=callback(info)`` for the registry's event kinds.
    """

    def __init__(self, name: str, **callbacks: Optional[HostCallback]) -> None:
        self._callbacks = {kind: cb for kind, cb in callbacks.items() if cb is not None}
        self._queue: queue.Queue[Optional[tuple]] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name=f"broker-events[{name}]", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def put(self, kind: str, info: Dict[str, Any]) -> None:
        """Queue the callback for ``kind``, if there is one (any thread)."""
        if kind in self._callbacks:
            self._queue.put((kind, info))

    def stop(self, timeout: float = 2.0) -> None:
        """Run the callbacks already queued, then stop (at most ``timeout`` s)."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:  # until stop() queues None
            event = self._queue.get()
            if event is None:
                return
            kind, info = event
            try:
                self._callbacks[kind](info)
            except Exception:
                log.exception("on_host_%s callback failed", kind)


def listen(service: ServiceLike = None, **options: Any) -> UiAdapter:
    """Own the UI endpoint: let hosts announce themselves, and call them.

    Returns a running :class:`UiAdapter`; close it with ``ui.close()`` or
    use it as a context manager. ``options`` are those of :class:`UiAdapter`
    (``endpoint``, ``name``, ``dispatcher``, ``heartbeat_interval``,
    ``missed_heartbeats``, ``timeout``, ``on_host_added``, ``on_host_silent``,
    ``on_host_lost``, ``on_host_back``, ``on_host_departed``, ``codec``, ``auth``)::

        with ui_adapter.listen({"show": window.show}, endpoint="tcp://127.0.0.1:*") as ui:
            maya = ui.wait_for_host("maya")

    Raises:
        EndpointInUse: another process (another UI, a broker) owns the endpoint.
        BindError: the endpoint is not valid (a ValueError).
        TypeError: ``service`` is a str, or an option :class:`UiAdapter` does not take.
    """
    return UiAdapter(service, **options).start()
