"""Where the UI endpoint and the hosts' endpoints are; nobody else may own them.

The UI endpoint (owned by a UI adapter, or by the standalone broker) is
``tcp://127.0.0.1:9090`` by default, as in Pyblish. Port 9090 is also the
default of Prometheus and Pyro, and it is one per machine, not per user, so
it can be moved with the ``BROKER_UI_ENDPOINT`` environment variable or by
argument. The value ``per-user`` gives each user an endpoint of their own:

- POSIX: ``ipc://$XDG_RUNTIME_DIR/zmq-host-broker/ui`` (or, without
  ``XDG_RUNTIME_DIR``, ``/tmp/zmq-host-broker-UID/ui``), in a folder only
  that user can enter: other users can neither connect nor take it over;
- Windows: ``tcp://127.0.0.1:PORT`` with a port from 49200 to 49999 derived
  from the user name (a collision is refused at bind time, and another
  user's key is refused at the handshake anyway).

A host binds, by default, an ipc path of its own in that same per-user
folder (:func:`host_endpoint`): only its user can connect, with no
encryption needed (:mod:`broker.security.options`). On Windows, where ipc
is not available, it binds ``tcp://127.0.0.1:*`` with CURVE.
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
    "runtime_folder",
    "host_endpoint",
    "ipc_in_use",
    "bind_endpoint",
    "is_loopback",
    "warn_if_exposed",
]

DEFAULT_UI_ENDPOINT = "tcp://127.0.0.1:9090"
UI_ENDPOINT_ENV = "BROKER_UI_ENDPOINT"
PER_USER = "per-user"
_APP = "zmq-host-broker"
# sun_path is 108 bytes on Linux, 104 on macOS: a path below both.
_IPC_PATH_MAX = 100


def ui_endpoint(explicit: Optional[str] = None) -> str:
    """The UI endpoint: ``explicit`` if given, else ``$BROKER_UI_ENDPOINT``,
    else ``tcp://127.0.0.1:9090``. The value ``per-user`` is resolved with
    :func:`per_user_endpoint`."""
    endpoint = explicit or os.environ.get(UI_ENDPOINT_ENV) or DEFAULT_UI_ENDPOINT
    return per_user_endpoint() if endpoint == PER_USER else endpoint


def per_user_endpoint() -> str:
    """This user's own UI endpoint (see the module docstring)."""
    if sys.platform == "win32":
        import zlib

        user = os.environ.get("USERNAME", "")
        return f"tcp://127.0.0.1:{49200 + zlib.crc32(user.encode()) % 800}"
    return f"ipc://{os.path.join(runtime_folder(), 'ui')}"


def runtime_folder() -> str:
    """This user's own folder for ipc endpoints, made if missing (POSIX).

    ``$XDG_RUNTIME_DIR/zmq-host-broker``, or ``/tmp/zmq-host-broker-UID``.

    Raises:
        PermissionError: the folder exists but is not this user's alone
            (mode 0700): someone else made it first.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = os.path.join(runtime, _APP) if runtime else f"/tmp/{_APP}-{os.getuid()}"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    status = os.stat(folder)
    if status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to this user alone (mode 0700)")
    return folder


def host_endpoint(host_id: str) -> str:
    """Where a host binds unless told otherwise: an ipc path of its own in
    the user's runtime folder (POSIX), else ``tcp://127.0.0.1:*``.

    Stale paths left there by hosts that were killed are removed first. If
    that folder is not private (someone else made it first), the host binds
    loopback TCP instead, where CURVE keeps others out, and says why.
    """
    if sys.platform == "win32":
        return "tcp://127.0.0.1:*"
    try:
        folder = runtime_folder()
    except PermissionError as exc:
        import logging

        logging.getLogger(__name__).warning("%s; binding loopback TCP instead", exc)
        return "tcp://127.0.0.1:*"
    _sweep_stale(folder)
    path = os.path.join(folder, f"{host_id}.sock")
    if len(path) > _IPC_PATH_MAX:
        path = os.path.join(folder, f"host-{host_id[-8:]}.sock")
    return f"ipc://{path}"


def _sweep_stale(folder: str, limit: int = 64) -> None:
    """Remove up to ``limit`` socket files nobody listens at any more."""
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".sock")]
    except OSError:
        return
    for name in names[:limit]:
        path = os.path.join(folder, name)
        if not ipc_in_use(f"ipc://{path}"):
            try:
                os.unlink(path)
            except OSError:  # another host swept it first
                pass


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
            "%s is reachable from other machines with authentication off: any of them may call it",
            endpoint,
        )
