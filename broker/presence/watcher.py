"""A UI's watch over its hosts' connections, on a thread of its own.

A UI in direct mode calls its hosts through proxies of their own; to know
whether a host is alive while the host's Python is silent it also keeps a
:class:`~broker.transport.links.Links` connection to each, whose ZMTP
heartbeats libzmq answers without the GIL. This thread owns that socket:
it connects to each host the registry adds, disconnects the ones that
leave, and tells the registry when a connection drops or comes back
(:meth:`~broker.presence.registry.HostRegistry.link`). It never sends a
message on those connections.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict

import zmq

from ..transport.inbox import Inbox
from ..transport.links import Links
from ..transport.sockets import SocketFactory
from .registry import HostRegistry

__all__ = ["LinkWatcher"]

log = logging.getLogger(__name__)

_CONNECT, _DISCONNECT, _STOP = b"connect", b"disconnect", b"stop"


class LinkWatcher:
    """Watches the connection of every host in ``registry``.

    Arguments:
        sockets: makes the watching socket (the UI's context and security).
        registry: told of every connection that drops or comes back.
        name: the UI's name, for the thread's name.
    """

    def __init__(self, sockets: SocketFactory, registry: HostRegistry, name: str) -> None:
        self._sockets = sockets
        self._registry = registry
        self._inbox = Inbox(sockets.context, "links")
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"broker-links[{name}]", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(5)

    def watch(self, info: Dict[str, Any]) -> None:
        """Start watching a host that announced itself (any thread)."""
        key = info.get("curve_public_key") or ""
        self._inbox.post([_CONNECT, info["id"].encode(), info["endpoint"].encode(), key.encode()])

    def forget(self, host_id: str) -> None:
        """Stop watching a host that departed or was forgotten (any thread)."""
        self._inbox.post([_DISCONNECT, host_id.encode()])

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close its socket."""
        if self._thread.is_alive():
            self._inbox.post([_STOP])
            self._thread.join(timeout)

    def _run(self) -> None:
        inbox = self._inbox.bind()
        links = Links(self._sockets, self._registry.heartbeat_interval)
        self._started.set()
        poller = zmq.Poller()
        poller.register(inbox, zmq.POLLIN)
        for socket in links.sockets[1:]:  # the monitor; the socket itself carries nothing
            poller.register(socket, zmq.POLLIN)
        try:
            while True:  # until told to stop
                events = dict(poller.poll())
                if inbox in events and not self._obey(inbox, links):
                    return
                for host_id, up in links.events():
                    log.debug("link to %s %s", host_id, "up" if up else "down")
                    self._registry.link(host_id, up)
        finally:
            links.close()
            inbox.close()

    def _obey(self, inbox: zmq.Socket, links: Links) -> bool:
        """Carry out the commands posted; False when told to stop."""
        for _ in range(256):  # a batch: the monitor gets its turn
            try:
                command, *args = inbox.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            if command == _STOP:
                return False
            host_id = args[0].decode()
            if command == _DISCONNECT:
                links.disconnect(host_id)
                continue
            endpoint, key = args[1].decode(), args[2].decode() or None
            try:
                links.connect(host_id, endpoint, server_key=key)
            except ValueError as exc:
                log.warning("cannot watch %s at %s: %s", host_id, endpoint, exc)
        return True
