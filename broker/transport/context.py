"""The private zmq context each adapter and broker owns, and how it ends.

A DCC may load other code that uses ``zmq.Context.instance()``, so every
adapter owns a context of its own. Ending it has one trap: ``term()`` waits
for every socket to close, and a call stuck on the host's main thread holds
one; then the context is destroyed instead (its sockets closed under it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import zmq

if TYPE_CHECKING:
    from ..security.curve import Curve


class PrivateContext:
    """A zmq context plus, with CURVE, the authenticator of its servers."""

    def __init__(self, curve: Optional[Curve] = None) -> None:
        self.context = zmq.Context()
        self._curve = curve
        self._authenticator: Any = None

    def start_authenticator(self) -> None:
        """Start checking clients' CURVE keys (no-op without CURVE)."""
        if self._curve is not None and self._authenticator is None:
            self._authenticator = self._curve.start_authenticator(self.context)

    def close(self, *, threads_alive: bool = False) -> None:
        """Stop the authenticator and end the context.

        Arguments:
            threads_alive: a thread still holds a socket (a stuck call):
                destroy the context instead of waiting for it forever.
        """
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if threads_alive:
            self.context.destroy(linger=0)
        else:
            self.context.term()
