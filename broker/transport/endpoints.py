"""Where the UI endpoint is, and making sure nobody else owns it.

The UI endpoint (owned by a UI adapter, or by the standalone broker) is
``tcp://127.0.0.1:9090`` by default, as in Pyblish. Port 9090 is also the
default of Prometheus and Pyro, and it is one per machine, not per user, so
it can be moved with the ``BROKER_UI_ENDPOINT`` environment variable or by
argument. The value ``per-user`` gives each user an endpoint of their own:

- POSIX: ``ipc://$XDG_RUNTIME_DIR/zmq-host-broker/ui`` (or, without
  ``XDG_RUNTIME_DIR``, ``/tmp/zmq-host-broker-UID/ui``), in a folder only
  that user can enter: other users can neither connect nor take it over;
- Windows: ``tcp://127.0.0.1:PORT`` with a port from 49200 to 49999 derived
  from the user name (a collision is refused at bind time, and messages
  signed with another user's key are refused anyway).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import zmq

__all__ = [
    "DEFAULT_UI_ENDPOINT",
    "UI_ENDPOINT_ENV",
    "PER_USER",
    "ui_endpoint",
    "per_user_endpoint",
    "ipc_in_use",
    "bind_endpoint",
    "is_loopback",
    "warn_if_exposed",
]

DEFAULT_UI_ENDPOINT = "tcp://127.0.0.1:9090"
UI_ENDPOINT_ENV = "BROKER_UI_ENDPOINT"
PER_USER = "per-user"


def ui_endpoint(explicit: Optional[str] = None) -> str:
    """The UI endpoint: ``explicit`` if given, else ``$BROKER_UI_ENDPOINT``,
    else ``tcp://127.0.0.1:9090``. The value ``per-user`` is resolved with
    :func:`per_user_endpoint`."""
    endpoint = explicit or os.environ.get(UI_ENDPOINT_ENV) or DEFAULT_UI_ENDPOINT
    return per_user_endpoint() if endpoint == PER_USER else endpoint


def per_user_endpoint() -> str:
    """This user's own UI endpoint (see the module docstring)."""
    # Imported here, as in ipc_in_use: every host imports this module at
    # start-up, and only some ever ask for a per-user endpoint.
    import zlib
    from pathlib import Path

    if sys.platform == "win32":
        user = os.environ.get("USERNAME", "")
        return f"tcp://127.0.0.1:{49200 + zlib.crc32(user.encode()) % 800}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = (
        Path(runtime) / "zmq-host-broker"
        if runtime
        else Path(f"/tmp/zmq-host-broker-{os.getuid()}")
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to this user alone (mode 0700)")
    return f"ipc://{folder / 'ui'}"


def ipc_in_use(endpoint: str) -> bool:
    """Whether a live process listens at an ``ipc://`` endpoint.

    ZeroMQ binds an ipc path by unlinking whatever file is there, which
    would silently take the endpoint from a running UI or broker. Binding
    code asks this first: a stale file (its owner died) is not "in use".
    """
    import socket

    if not endpoint.startswith("ipc://") or not hasattr(socket, "AF_UNIX"):
        return False
    path = endpoint[len("ipc://") :]
    if path.startswith("@") or not os.path.exists(path):
        return False  # abstract namespace: the kernel refuses a second bind itself
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        probe.close()
    return True


def bind_endpoint(sock: zmq.Socket, endpoint: str) -> None:
    """``sock.bind(endpoint)``, refusing an ipc path a live process owns.

    Raises:
        zmq.ZMQError: EADDRINUSE when the endpoint is taken, as for tcp.
    """
    import zmq

    if ipc_in_use(endpoint):
        raise zmq.ZMQError(zmq.EADDRINUSE)
    sock.bind(endpoint)


def is_loopback(endpoint: str) -> bool:
    """Whether only this machine can reach ``endpoint`` (ipc, inproc, loopback tcp)."""
    if not endpoint.startswith("tcp://"):
        return True
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def warn_if_exposed(endpoint: str, encrypted: bool, logger: Any) -> None:
    """Log a warning when ``endpoint`` is reachable from other machines in clear."""
    if not encrypted and not is_loopback(endpoint):
        logger.warning(
            "%s is reachable from other machines without CURVE encryption "
            "(pass curve=, see broker.security.curve)",
            endpoint,
        )
