"""A UI behind a standalone broker: ``ui_adapter.attach()``.

The broker owns the UI endpoint; the UI serves its own methods on a port the
OS picks and announces itself to the broker with ``"role": "ui"``, exactly as
a host does. A host's call to a UI method (``adapter.ui.show()``) reaches the
broker, which forwards it to the **most recently attached** live UI: with
two UIs attached, the newer one answers, and when it closes or is lost the
older one answers again. A specific UI can be reached as ``UI_ID/METHOD``.

Host lists and callbacks come from the broker's ``rpc.hosts``, read every
heartbeat interval by a watcher thread.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Any, Dict, List, Optional

from broker.client.proxy import DEFAULT_TIMEOUT, Proxy
from broker.errors import Closed, HostNotFound, RpcError
from broker.presence.announcer import Announcer
from broker.security.curve import Curve
from broker.security.keys import make_codec
from broker.serve.server import Dispatcher, Server
from broker.serve.service import ServiceLike, as_service
from broker.transport.context import PrivateContext
from broker.transport.endpoints import ui_endpoint
from broker.wire import messages as protocol
from broker.wire.codec import Codec

from .direct import HostCallback

__all__ = ["AttachedUi", "attach"]

log = logging.getLogger(__name__)

_POLL_STEP = 0.05


class AttachedUi:
    """A UI attached to a broker. Made by :func:`attach`; same interface as
    :class:`~ui_adapter.UiAdapter` (``hosts``, ``host``, ``wait_for_host``,
    ``close``)."""

    def __init__(
        self,
        broker: Optional[str] = None,
        service: ServiceLike = None,
        *,
        name: str = "ui",
        dispatcher: Optional[Dispatcher] = None,
        heartbeat_interval: float = 1.0,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        on_host_added: Optional[HostCallback] = None,
        on_host_lost: Optional[HostCallback] = None,
        on_host_departed: Optional[HostCallback] = None,
        codec: Optional[Codec] = None,
        auth: bool = True,
        key_file: Optional[str] = None,
        curve: Optional[Curve] = None,
    ) -> None:
        self.broker_endpoint = ui_endpoint(broker)
        self.name = name
        self.id = f"{name}-{secrets.token_hex(4)}"
        self._timeout = timeout
        self._interval = heartbeat_interval
        self._codec = make_codec(codec, auth=auth, key_file=key_file)
        self._callbacks = {
            "added": on_host_added,
            "lost": on_host_lost,
            "departed": on_host_departed,
        }
        self._private = PrivateContext(curve)
        self._context = self._private.context
        self._server = Server(
            as_service(service, name),
            context=self._context,
            dispatcher=dispatcher,
            codec=self._codec,
            name=name,
            id=self.id,
            curve=curve,
        )
        self._curve = curve
        self._announcer: Optional[Announcer] = None
        self._proxies: Dict[str, Proxy] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._closed = False
        self.endpoint = ""

    def start(self) -> AttachedUi:
        self._private.start_authenticator()
        try:
            self._server.start()
        except BaseException:
            self._private.close()
            raise
        self.endpoint = self._server.endpoint or ""
        info = {
            "id": self.id,
            "name": self.name,
            "role": "ui",
            "endpoint": self.endpoint,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "protocol": protocol.PROTOCOL_VERSION,
            **({"curve_public_key": self._curve.public_key_text} if self._curve else {}),
        }
        self._announcer = Announcer(
            self._context,
            self.broker_endpoint,
            info,
            lambda: self._server.state,
            self._codec,
            interval=self._interval,
            curve=self._curve,
        )
        self._announcer.start()
        if any(self._callbacks.values()):
            self._watcher = threading.Thread(
                target=self._watch, name=f"broker-events[{self.name}]", daemon=True
            )
            self._watcher.start()
        return self

    @property
    def attached(self) -> bool:
        """Whether the broker answered our latest announce or heartbeat."""
        return self._announcer is not None and self._announcer.connected

    def wait_attached(self, timeout: Optional[float] = None) -> bool:
        """Block until the broker knows this UI; True if it does."""
        return self._announcer is not None and self._announcer.wait_connected(timeout)

    # -- hosts ---------------------------------------------------------------------

    def hosts(self) -> List[Dict[str, Any]]:
        """The hosts the broker knows (attached UIs left out)."""
        return [h for h in self._broker_proxy().hosts() if h.get("role") != "ui"]

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
                proxy = Proxy(
                    self.broker_endpoint,
                    timeout=self._timeout,
                    context=self._context,
                    codec=self._codec,
                    curve=self._curve,
                    target=id_or_name,
                )
                self._proxies[id_or_name] = proxy
        return proxy if timeout is None else proxy.with_timeout(timeout)

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
                proxy = self._proxies[""] = Proxy(
                    self.broker_endpoint,
                    timeout=self._timeout if self._timeout is not None else 10.0,
                    context=self._context,
                    codec=self._codec,
                    curve=self._curve,
                )
            return proxy

    def _watch(self) -> None:
        known: Dict[str, Dict[str, Any]] = {}
        with Proxy(
            self.broker_endpoint,
            timeout=self._interval * 3,
            context=self._context,
            codec=self._codec,
            curve=self._curve,
        ) as proxy:
            while not self._closing.wait(self._interval):
                try:
                    current = {h["id"]: h for h in proxy.hosts() if h.get("role") != "ui"}
                except RpcError:
                    continue
                for host_id, info in current.items():
                    before = known.get(host_id)
                    if before is None:
                        self._notify("added", info)
                    elif info["state"] == "lost" and before["state"] != "lost":
                        self._notify("lost", info)
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
            proxies = list(self._proxies.values())
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(self._interval * 4 + 1)
        if self._announcer is not None:
            self._announcer.stop(depart=True)
        self._server.stop()
        for proxy in proxies:
            proxy.close()
        self._private.close(threads_alive=self._server.threads_alive)

    stop = close

    def __enter__(self) -> AttachedUi:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AttachedUi {self.id} at {self.endpoint} broker={self.broker_endpoint}>"


def attach(
    broker: Optional[str] = None,
    service: ServiceLike = None,
    *,
    name: str = "ui",
    dispatcher: Optional[Dispatcher] = None,
    heartbeat_interval: float = 1.0,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    on_host_added: Optional[HostCallback] = None,
    on_host_lost: Optional[HostCallback] = None,
    on_host_departed: Optional[HostCallback] = None,
    codec: Optional[Codec] = None,
    auth: bool = True,
    key_file: Optional[str] = None,
    curve: Optional[Curve] = None,
) -> AttachedUi:
    """Attach a UI to a running broker instead of owning the UI endpoint.

    Arguments are those of :func:`ui_adapter.listen`, except ``broker``: the
    broker's endpoint (default ``$BROKER_UI_ENDPOINT`` or 9090). Hosts'
    calls to UI methods reach the most recently attached UI.
    """
    return AttachedUi(
        broker,
        service,
        name=name,
        dispatcher=dispatcher,
        heartbeat_interval=heartbeat_interval,
        timeout=timeout,
        on_host_added=on_host_added,
        on_host_lost=on_host_lost,
        on_host_departed=on_host_departed,
        codec=codec,
        auth=auth,
        key_file=key_file,
        curve=curve,
    ).start()
