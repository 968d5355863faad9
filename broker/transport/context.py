"""The private zmq context each adapter and broker owns, and how it ends.

A DCC may load other code that uses ``zmq.Context.instance()``, so every
adapter owns a context of its own. It also owns, once a CURVE server socket
is made in it, the ZAP handler that admits that socket's clients
(:mod:`broker.security.zap`). Ending it has one trap: ``term()`` waits for
every socket to close, and a call stuck on the host's main thread holds
one; then the context is destroyed instead (its sockets closed under it).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import zmq

if TYPE_CHECKING:
    from ..security.options import Security

__all__ = ["PrivateContext"]


class PrivateContext:
    """A zmq context and, when its servers speak CURVE, their ZAP handler.

    Arguments:
        security: whose keys the ZAP handler admits.
    """

    def __init__(self, security: Security) -> None:
        self.context = zmq.Context()
        self._security = security
        self._lock = threading.Lock()
        self._authenticator: Any = None

    def start_zap(self) -> None:
        """Start the ZAP handler, once (the sockets factory calls this before
        the first CURVE server socket binds)."""
        with self._lock:
            if self._authenticator is None:
                from ..security.zap import start_zap

                self._authenticator = start_zap(self.context, self._security)

    def close(self, *, threads_alive: bool = False) -> None:
        """Stop the ZAP handler and end the context.

        Arguments:
            threads_alive: a thread still holds a socket (a stuck call):
                destroy the context instead of waiting for it forever.
        """
        with self._lock:
            authenticator, self._authenticator = self._authenticator, None
        if authenticator is not None:
            authenticator.stop()
        if threads_alive:
            self.context.destroy(linger=0)
        else:
            self.context.term()
