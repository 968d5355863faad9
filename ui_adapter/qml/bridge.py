"""The one place the pyblish-qml UI uses this project's API: find a host, call it, notice it go.

Three ways to reach a host, one per command-line mode:

- :meth:`HostBridge.listen`: own the UI endpoint (``ui_adapter.listen``) and
  wait for the host to announce itself;
- :meth:`HostBridge.attach`: attach to a standalone broker
  (``ui_adapter.attach``) and call the host through it, by id;
- :meth:`HostBridge.connect`: call the host at its own endpoint
  (``broker.connect``); nobody can call the UI then.

Whichever it is, ``on_gone(reason)`` runs once when the host is lost or
departs (or, behind a broker, when the broker stops answering), on a thread
of the bridge's own: the UI adapter's event thread when it owns the UI
endpoint, else a watchdog that asks the broker for its hosts, or pings the
host, every heartbeat interval.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import broker
import ui_adapter
from broker.errors import HostNotFound, RpcError
from broker.security import AuthLike

__all__ = ["HostBridge"]

log = logging.getLogger(__name__)

#: The UI's own methods, by name, that hosts may call.
UiService = Dict[str, Callable[..., Any]]

_FIND_STEP = 0.05
# Pings that may go unanswered in a row before a peer counts as gone: as the
# registry counts missed heartbeats.
_MISSED_PINGS = 3


class HostBridge:
    """A pyblish-qml window's link to one host.

    Arguments:
        on_gone: ``on_gone(reason)``, called once when the host is lost or
            departs; ``reason`` says so in a sentence.
        timeout: seconds one call to the host may take (a plug-in runs in it).
        heartbeat_interval: seconds between heartbeats (told to hosts), and
            between the pings that watch a broker or a host's own endpoint.
        auth: the security settings (``True``, ``False`` or a
            :class:`broker.Security`), passed on unchanged.
    """

    def __init__(
        self,
        on_gone: Callable[[str], None],
        *,
        timeout: float = 600.0,
        heartbeat_interval: float = 1.0,
        auth: AuthLike = True,
    ) -> None:
        self._on_gone = on_gone
        self._timeout = timeout
        self._interval = heartbeat_interval
        self._auth = auth
        self._ui: Any = None  # a UiAdapter or an AttachedUi
        self._host: Any = None  # the proxy every call goes through
        self._watched: Any = None  # a proxy pinged to tell that the peer lives
        self.host_id: Optional[str] = None
        self.host_name: Optional[str] = None
        self.where = ""
        self._gone = threading.Event()
        self._closing = threading.Event()
        self._watchdog: Optional[threading.Thread] = None

    # -- reaching the host -------------------------------------------------------------

    def listen(self, ui_endpoint: Optional[str], service: UiService) -> str:
        """Own the UI endpoint, serving ``service``; returns the bound endpoint.

        Raises:
            EndpointInUse: another UI or a broker owns it.
        """
        self._ui = ui_adapter.listen(
            service,
            endpoint=ui_endpoint,
            on_host_lost=self._lost,
            on_host_departed=self._departed,
            heartbeat_interval=self._interval,
            timeout=self._timeout,
            auth=self._auth,
        )
        self.where = f"the UI endpoint {self._ui.endpoint}"
        return str(self._ui.endpoint)

    def attach(self, broker_endpoint: str, service: UiService) -> None:
        """Attach to the broker at ``broker_endpoint``, serving ``service`` through it."""
        # No on_host_* callbacks: the attached UI's watcher reports only hosts
        # it saw in one of its polls, so a host that came and went between two
        # would never be reported; the watchdog below asks the broker itself.
        self._ui = ui_adapter.attach(
            service,
            broker=broker_endpoint,
            heartbeat_interval=self._interval,
            timeout=self._timeout,
            auth=self._auth,
        )
        self.where = f"the broker at {broker_endpoint}"
        self._watch(broker_endpoint, self._host_at_broker, f"{self.where} stopped answering")

    def wait_for_host(self, name_or_id: str, timeout: float) -> Dict[str, Any]:
        """Wait for a live host with that id, or of that name; calls go to it from now on.

        Returns:
            The host's info map (``id``, ``name``, ``endpoint``, ``pid``…).

        Raises:
            HostNotFound: none within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / _FIND_STEP) + 2):
            try:
                hosts = self._known_hosts()
            except RpcError as exc:  # a broker not up yet: keep trying
                log.debug("rpc.hosts at %s failed: %s", self.where, exc)
                hosts = []
            for info in hosts:
                if info.get("state") != "lost" and name_or_id in (info["id"], info["name"]):
                    # By id: through a broker a name would reach any host of that name.
                    self._host = self._ui.host(info["id"])
                    self.host_id, self.host_name = str(info["id"]), str(info["name"])
                    return dict(info)
            if time.monotonic() >= deadline or self._closing.wait(_FIND_STEP):
                break
        raise HostNotFound(f"no host {name_or_id!r} reached {self.where} within {timeout:g} s")

    def _known_hosts(self) -> List[Dict[str, Any]]:
        if self._watched is None:  # the UI endpoint's own registry
            return list(self._ui.hosts())
        # Behind a broker, through the watchdog's proxy: its short timeout
        # keeps the wait within its own (the attached UI's waits for calls').
        return [h for h in self._watched.call("rpc.hosts") if h.get("role") != "ui"]

    def connect(self, endpoint: str, timeout: float) -> Dict[str, Any]:
        """Call the host at its own ``endpoint``; returns its ``rpc.ping`` answer.

        Raises:
            CallTimeout: it did not answer within ``timeout`` seconds.
        """
        with broker.connect(endpoint, timeout=timeout, auth=self._auth) as probe:
            info = probe.call("rpc.ping")
        self._host = broker.connect(endpoint, timeout=self._timeout, auth=self._auth)
        self.host_id, self.host_name = str(info.get("id")), str(info.get("name"))
        self.where = f"its endpoint {endpoint}"
        self._watch(
            endpoint, self._host_answers, f"host {self.host_id} at {endpoint} stopped answering"
        )
        return dict(info)

    # -- calling it --------------------------------------------------------------------

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on the host; its result.

        Raises:
            RpcError: as the project's proxies raise (``HostLost`` at once
                when the host is known to be gone).
        """
        if self._host is None:
            raise HostNotFound("no host yet: wait_for_host() or connect() first")
        return self._host.call(method, *args, **kwargs)

    # -- noticing it go ----------------------------------------------------------------

    def _lost(self, info: Dict[str, Any]) -> None:
        if info.get("id") == self.host_id:
            missed = _MISSED_PINGS * self._interval
            self._gone_because(f"host {self.host_id} was lost: no heartbeat for {missed:g} s")

    def _departed(self, info: Dict[str, Any]) -> None:
        if info.get("id") == self.host_id:
            self._gone_because(self._departed_reason())

    def _departed_reason(self) -> str:
        return f"host {self.host_id} departed: it stopped serving"

    def _host_answers(self) -> Optional[str]:
        self._watched.call("rpc.ping")
        return None

    def _host_at_broker(self) -> Optional[str]:
        for info in self._watched.call("rpc.hosts"):
            if info.get("id") == self.host_id and info.get("state") == "lost":
                return f"host {self.host_id} was lost: no heartbeat reached the broker"
            if info.get("id") == self.host_id:
                return None
        return self._departed_reason()

    def _gone_because(self, reason: str) -> None:
        if self._gone.is_set() or self._closing.is_set():
            return
        self._gone.set()
        log.warning("%s", reason)
        self._on_gone(reason)

    def _watch(self, endpoint: str, check: Callable[[], Optional[str]], silent: str) -> None:
        """Every interval until close(), ``check()``: a reason when the host is
        gone, None while it is there; ``silent`` is the reason when the
        endpoint stops answering."""
        self._watched = broker.connect(endpoint, timeout=self._interval, auth=self._auth)
        self._watchdog = threading.Thread(
            target=self._run_watchdog, args=(check, silent), name="qml-watchdog", daemon=True
        )
        self._watchdog.start()

    def _run_watchdog(self, check: Callable[[], Optional[str]], silent: str) -> None:
        # rpc.* calls are answered by the peer's I/O thread: a host busy in a
        # plug-in still answers.
        missed = 0
        while not self._closing.wait(self._interval):
            if self.host_id is None:
                continue  # no host yet: wait_for_host() says when none comes
            try:
                reason = check()
                missed = 0
            except RpcError as exc:
                missed += 1
                log.debug("check %d failed: %s", missed, exc)
                reason = silent if missed >= _MISSED_PINGS else None
            if reason is not None:
                self._gone_because(reason)
                return

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching, close the proxies, depart from a broker. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._watchdog is not None:
            self._watchdog.join(self._interval * 2 + 1)
        for closable in (self._watched, self._host, self._ui):
            if closable is not None:
                closable.close()
