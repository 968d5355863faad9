"""The ZAP handler that admits CURVE clients: pyzmq's ``zmq.auth``, with our keys.

Every CURVE server socket of a context asks this handler about each client
before the connection carries a single message: the client has proven that
it holds the secret half of the public key it presents, and the handler
says whether that key is admitted (:meth:`Security.admits`). A refused
client's connection is dropped during the handshake; the refusal is logged
at WARNING, at most once a minute per key.

The handler is a Python thread (``zmq.auth.thread.ThreadAuthenticator``):
while a host's main thread runs a call that holds the GIL, new CURVE
connections to that host wait in their handshake (up to its timeout);
connections already made are not affected.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    import zmq

    from .options import Security

__all__ = ["ZAP_DOMAIN", "start_zap"]

log = logging.getLogger(__name__)

#: The ZAP domain of every CURVE server socket of this project.
ZAP_DOMAIN = "zmq-host-broker"
_LOG_EVERY = 60.0


class _Admission:
    """The callback ``zmq.auth`` asks about each client key."""

    def __init__(self, security: Security) -> None:
        self._security = security
        self._lock = threading.Lock()
        self._logged: Dict[bytes, float] = {}

    def callback(self, domain: str, key: bytes) -> bool:
        if self._security.admits(key):
            return True
        now = time.monotonic()
        with self._lock:
            last = self._logged.get(key)
            if last is None or now - last > _LOG_EVERY:
                self._logged[key] = now
                log.warning(
                    "refused a connection from a client whose key %s is not this user's "
                    "(another user, or another key file) nor an authorized one",
                    key.decode("ascii", "replace")[:8] + "…",
                )
        return False


def start_zap(context: zmq.Context, security: Security) -> Any:
    """Start the ZAP handler of ``context``'s CURVE servers; returns it (stop it
    before the context ends)."""
    from zmq.auth.thread import ThreadAuthenticator

    authenticator = ThreadAuthenticator(context, log=log)
    authenticator.start()
    authenticator.configure_curve_callback(
        domain=ZAP_DOMAIN, credentials_provider=_Admission(security)
    )
    return authenticator
