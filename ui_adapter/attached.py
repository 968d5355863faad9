"""A UI behind a standalone broker: ``ui_adapter.attach()``.

The broker owns the UI endpoint; the UI serves its own methods on a port the
OS picks and announces itself to the broker with ``"role": "ui"``, exactly as
a host does (both are a :class:`broker.presence.Node`). A host's call to a
UI method (``adapter.ui.show()``) reaches the broker, which forwards it to
the **most recently attached** live UI: with two UIs attached, the newer one
answers, and when it closes or is lost the older one answers again. A
specific UI can be reached as ``UI_ID/METHOD``.

Host lists and callbacks come from the broker's ``rpc.hosts``, read every
heartbeat interval by a watcher thread.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any, Dict, List, Optional

from broker.client import DEFAULT_TIMEOUT, Proxy
from broker.errors import Closed, HostNotFound, RpcError
from broker.presence.node import Node
from broker.security import AuthLike
from broker.serve import Dispatcher, ServiceLike, check_service
from broker.transport.endpoints import host_endpoint, ui_endpoint
from broker.wire import Codec, HostRecord
from broker.wire.messages import UI

from .direct import HostCallback

__all__ = ["AttachedUi", "attach"]

log = logging.getLogger(__name__)

_POLL_STEP = 0.05


class AttachedUi:
    """A UI attached to a broker. Usually made by :func:`attach`; the same
    interface as :class:`~ui_adapter.UiAdapter` (``hosts``, ``host``,
    ``wait_for_host``, ``close``).

    Arguments are those of :class:`~ui_adapter.UiAdapter`, except
    ``broker``, the broker's endpoint (default ``$BROKER_UI_ENDPOINT`` or
    ``tcp://127.0.0.1:9090``), in place of ``endpoint``; the UI's own
    methods are served on a port the OS picks.
    """

    def __init__(
        self,
        service: ServiceLike = None,
        *,
        broker: Optional[str] = None,
        name: str = "ui",
        dispatcher: Optional[Dispatcher] = None,
        heartbeat_interval: float = 1.0,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        on_host_added: Optional[HostCallback] = None,
        on_host_silent: Optional[HostCallback] = None,
        on_host_lost: Optional[HostCallback] = None,
        on_host_back: Optional[HostCallback] = None,
        on_host_departed: Optional[HostCallback] = None,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
    ) -> None:
        check_service(service, "attach")
        self.broker_endpoint = ui_endpoint(broker)
        self.name = name
        self.id = f"{name}-{secrets.token_hex(4)}"
        self._timeout = timeout
        self._interval = heartbeat_interval
        self._callbacks = {
            "added": on_host_added,
            "silent": on_host_silent,
            "lost": on_host_lost,
            "back": on_host_back,
            "departed": on_host_departed,
        }
        self._node = Node(
            service,
            name=name,
            id=self.id,
            role=UI,
            announce_to=self.broker_endpoint,
            endpoint=host_endpoint(self.id),
            dispatcher=dispatcher,
            heartbeat_interval=heartbeat_interval,
            codec=codec,
            auth=auth,
        )
        self._proxies: Dict[str, Proxy] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._closed = False

    def start(self) -> AttachedUi:
        """Serve the UI's methods and announce it to the broker. Returns self."""
        self._node.start()
        if any(self._callbacks.values()):
            self._watcher = threading.Thread(
                target=self._watch, name=f"broker-events[{self.name}]", daemon=True
            )
            self._watcher.start()
        return self

    @property
    def endpoint(self) -> str:
        """Where the UI's own methods are served."""
        return self._node.endpoint

    @property
    def attached(self) -> bool:
        """Whether the broker answered our latest announce or heartbeat."""
        return self._node.connected

    def wait_attached(self, timeout: Optional[float] = None) -> bool:
        """Block until the broker knows this UI; True if it does."""
        return self._node.wait_connected(timeout)

    # -- hosts ---------------------------------------------------------------------

    def hosts(self) -> List[HostRecord]:
        """The hosts the broker knows (attached UIs left out)."""
        hosts: List[HostRecord] = self._broker_proxy().rpc.hosts()
        return [host for host in hosts if host.get("role") != UI]

    def host(self, id_or_name: str, timeout: Optional[float] = None) -> Proxy:
        """A proxy whose calls the broker routes to ``id_or_name``.

        The broker answers ``HostNotFound`` and ``HostLost`` itself, at once.
        Each target gets its own socket, so calls to different hosts from
        different threads do not wait for each other.
        """
        with self._lock:
            if self._closed:
                raise Closed("this UI was closed")
            proxy = self._proxies.get(id_or_name)
            if proxy is None or proxy.closed:
                proxy = self._node.proxy(
                    self.broker_endpoint, timeout=self._timeout, target=id_or_name
                )
                self._proxies[id_or_name] = proxy
        return proxy if timeout is None else proxy.rpc.with_timeout(timeout)

    def wait_for_host(self, name: Optional[str] = None, timeout: Optional[float] = 10.0) -> Proxy:
        """Wait until the broker knows a live host (named ``name``); return its proxy.

        Raises:
            HostNotFound: none within ``timeout`` seconds.
        """
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            try:
                for info in self.hosts():
                    if info["state"] != "lost" and name in (None, info["name"]):
                        return self.host(info["id"])
            except RpcError as exc:  # the broker is not up yet: keep waiting
                log.debug("rpc.hosts failed: %s", exc)
            if time.monotonic() >= deadline:
                what = f"named {name!r} " if name else ""
                raise HostNotFound(f"no host {what}is known to the broker after {timeout:g} s")
            if self._closing.wait(_POLL_STEP):
                raise Closed("this UI was closed")

    def _broker_proxy(self) -> Proxy:
        with self._lock:
            if self._closed:
                raise Closed("this UI was closed")
            proxy = self._proxies.get("")
            if proxy is None:
                timeout = self._timeout if self._timeout is not None else 10.0
                proxy = self._proxies[""] = self._node.proxy(self.broker_endpoint, timeout=timeout)
            return proxy

    def _watch(self) -> None:
        known: Dict[str, Dict[str, Any]] = {}
        proxy = self._node.proxy(self.broker_endpoint, timeout=self._interval * 3)
        while not self._closing.wait(self._interval):
            try:
                current: Dict[str, Any] = {
                    host["id"]: host for host in proxy.rpc.hosts() if host.get("role") != UI
                }
            except RpcError:
                continue
            for host_id, info in current.items():
                before = known.get(host_id)
                kind = "added" if before is None else _change(before["state"], info["state"])
                if kind is not None:
                    self._notify(kind, info)
            for host_id in known.keys() - current.keys():
                self._notify("departed", {**known[host_id], "state": "departed"})
            known = current

    def _notify(self, kind: str, info: Dict[str, Any]) -> None:
        callback = self._callbacks.get(kind)
        if callback is None:
            return
        try:
            callback(info)
        except Exception:
            log.exception("on_host_%s callback failed", kind)

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Depart from the broker and stop serving. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(self._interval * 4 + 1)
        self._node.stop()  # closes the proxies too

    stop = close

    def __enter__(self) -> AttachedUi:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AttachedUi {self.id} at {self.endpoint} broker={self.broker_endpoint}>"


def _change(before: str, now: str) -> Optional[str]:
    """The callback a host's change of state, between two looks, calls for."""
    if now == before:
        return None
    if now in ("silent", "lost"):
        return now
    return "back" if before in ("silent", "lost") else None


def attach(service: ServiceLike = None, **options: Any) -> AttachedUi:
    """Attach a UI to a running broker instead of owning the UI endpoint.

    ``options`` are those of :class:`AttachedUi`: those of
    :func:`ui_adapter.listen`, with ``broker=`` (the broker's endpoint,
    default ``$BROKER_UI_ENDPOINT`` or 9090) in place of ``endpoint``.
    Hosts' calls to UI methods reach the most recently attached UI.
    """
    return AttachedUi(service, **options).start()
