"""An endpoint that serves and announces itself: what a host and an attached UI both are.

A :class:`Node` puts together what such an endpoint needs, once: the
security settings and the codec, a private zmq context, a
:class:`~broker.serve.server.Server` for its service, and an
:class:`~broker.presence.announcer.Announcer` that keeps it known to a UI
endpoint or a broker. ``host_adapter.HostAdapter`` is a node with a
main-thread dispatcher; ``ui_adapter.AttachedUi`` is a node with role
``"ui"``, announced to a broker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from ..security.options import AuthLike, resolve
from ..serve import Dispatcher, Server
from ..serve.service import ServiceLike, as_service
from ..transport.context import shared_context
from ..wire.codec import Codec
from ..wire.messages import HOST, PROTOCOL_VERSION, HostInfo, Role
from .announcer import Announcer

if TYPE_CHECKING:
    from ..client.channel import Liveness
    from ..client.proxy import Proxy

__all__ = ["Node"]

log = logging.getLogger(__name__)

# stop() waits this long for the replies of calls that already ran to go out.
_REPLY_WAIT = 0.5


class Node:
    """A service served at ``endpoint`` and announced to ``announce_to``.

    Arguments:
        service: an object, a module, a dict of name -> callable, or a list
            of functions (see :func:`~broker.serve.service.as_service`).
        name: the name announced (``"maya"``); UIs and the broker find it by it.
        id: the unique id announced (``"maya-1f2e3d4c"``).
        role: ``"host"``, or ``"ui"`` for a UI attached to a broker.
        announce_to: the UI endpoint or broker, already resolved.
        endpoint: where to bind.
        dispatcher: runs the calls where they must run (None: the server's thread).
        heartbeat_interval: seconds between heartbeats until the UI answers
            with its own interval.
        codec: limits and hooks; the default follows ``auth``.
        auth: ``True`` (the user's key), ``False`` (none), or a
            :class:`~broker.security.options.Security`.

    Raises:
        KeyFileError: the key file is unusable.
    """

    def __init__(
        self,
        service: ServiceLike,
        *,
        name: str,
        id: str,
        role: Role = HOST,
        announce_to: str,
        endpoint: str,
        dispatcher: Optional[Dispatcher] = None,
        heartbeat_interval: float = 1.0,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"a name must be non-empty and without '/': {name!r}")
        # Built first: a service that cannot be served fails before anything opens.
        table = as_service(service, name)
        self.name = name
        self.id = id
        self.role = role
        self.announce_to = announce_to
        self.security = resolve(auth)
        self.codec = self.security.codec(codec)
        self._private = shared_context(self.security)
        self.sockets = self.security.sockets(
            self._private.context, self.codec, self._private.start_zap
        )
        self.server = Server(
            table,
            sockets=self.sockets,
            endpoint=endpoint,
            dispatcher=dispatcher,
            codec=self.codec,
            name=name,
            id=id,
            before_call=self._report_busy,
        )
        self._heartbeat_interval = heartbeat_interval
        self._announcer: Optional[Announcer] = None
        self._proxies: List[Proxy] = []
        self._lock = threading.Lock()
        self.endpoint = ""

    def start(self) -> None:
        """Bind the service and start announcing.

        Raises:
            EndpointInUse, BindError: the endpoint cannot be bound.
        """
        try:
            self.server.start()
        except BaseException:
            self._private.close()
            raise
        self.endpoint = self.server.endpoint or ""
        self._announcer = Announcer(
            self.sockets,
            self.announce_to,
            self.info(),
            lambda: self.server.state,
            self.codec,
            interval=self._heartbeat_interval,
        )
        self._announcer.start()

    def _report_busy(self) -> None:
        # Before each call: the UI must know a host that falls silent is in a call.
        announcer = self._announcer
        if announcer is not None:
            announcer.report_busy()

    def info(self) -> HostInfo:
        """The map this node announces (``rpc.announce``)."""
        # Imported here: a DCC pays for every module imported at start-up.
        import getpass
        import socket

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no user name on some service accounts
            user = ""
        info: HostInfo = {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "endpoint": self.endpoint,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "user": user,
            "protocol": PROTOCOL_VERSION,
        }
        if self.security.public_key is not None:
            # Where the endpoint speaks CURVE, whoever connects needs the key it serves with.
            info["curve_public_key"] = self.security.public_key
        return info

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return self.server.state

    @property
    def connected(self) -> bool:
        """Whether the UI (or broker) answered our latest announce or heartbeat."""
        return self._announcer is not None and self._announcer.connected

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until the UI (or broker) knows this node; True if it does."""
        return self._announcer is not None and self._announcer.wait_connected(timeout)

    def proxy(
        self,
        endpoint: str,
        *,
        timeout: Optional[float] = 30.0,
        liveness: Optional[Liveness] = None,
        target: Optional[str] = None,
        server_key: Optional[Any] = None,
        before_call: Optional[Callable[[], None]] = None,
    ) -> Proxy:
        """A proxy that shares this node's context, codec and security;
        closed when the node stops. ``liveness`` and ``before_call`` are
        those of :class:`~broker.client.proxy.Proxy`."""
        # Imported here: a host that never calls its UI never loads the client.
        from ..client.proxy import Proxy

        proxy = Proxy(
            endpoint,
            timeout=timeout,
            context=self.sockets.context,
            codec=self.codec,
            auth=self.security,
            liveness=liveness,
            target=target,
            server_key=server_key,
            before_call=before_call,
        )
        with self._lock:
            self._proxies.append(proxy)
        return proxy

    def stop(self) -> None:
        """Depart, stop serving, close the proxies, end the context.

        Replies of calls that already ran still go out (up to half a second).
        """
        if self._announcer is not None:
            self._announcer.stop(depart=True)
        self._let_replies_out()
        self.server.stop()
        with self._lock:
            proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            proxy.close()
        self._private.close(threads_alive=self.server.threads_alive)

    def _let_replies_out(self) -> None:
        """Give the server a moment to send the replies of calls that already
        ran (e.g. one that asked us to stop) before it stops: a call thread
        whose reply finds the server gone is stuck."""
        deadline = time.monotonic() + _REPLY_WAIT
        while self.server.state == "busy" and time.monotonic() < deadline:
            time.sleep(0.002)  # ok: a bounded wait at shutdown, for replies in flight
