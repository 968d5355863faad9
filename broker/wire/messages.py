"""The protocol's messages: kinds, reserved methods, error maps. No I/O.

A body is one msgpack array (msgpack-rpc compatible)::

    [0, msgid, method, args]            request
    [0, msgid, method, args, kwargs]    request with keywords
    [1, msgid, error, result]           response

``msgid`` is a uint32 the responder echoes unchanged. ``error`` is nil or
``{"type", "message", "exception", "traceback"}``, ``type`` one of
:data:`broker.errors.WIRE_ERRORS`. How bodies are encoded and limited is
:mod:`broker.wire.codec`; how they sit among the frames, :mod:`broker.wire.envelope`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, NamedTuple, Optional, TypedDict

from ..errors import WIRE_ERRORS

__all__ = [
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "MSGID_LIMIT",
    "ERROR_TYPES",
    "RESERVED_PREFIX",
    "PING",
    "DESCRIBE",
    "ANNOUNCE",
    "HEARTBEAT",
    "DEPART",
    "HOSTS",
    "Request",
    "Response",
    "error_map",
    "exception_error_map",
    "HostState",
    "IDLE",
    "BUSY",
    "SILENT",
    "LOST",
    "HOST_STATES",
    "Role",
    "HOST",
    "UI",
    "HostInfo",
    "HostRecord",
]

PROTOCOL_VERSION = 1
REQUEST = 0
RESPONSE = 1
#: msgids are below this: a uint32.
MSGID_LIMIT = 2**32

#: The error ``type`` values a peer may send.
ERROR_TYPES = frozenset(WIRE_ERRORS)

RESERVED_PREFIX = "rpc."
PING = "rpc.ping"
DESCRIBE = "rpc.describe"
ANNOUNCE = "rpc.announce"
HEARTBEAT = "rpc.heartbeat"
DEPART = "rpc.depart"
HOSTS = "rpc.hosts"


#: A host's state, as heartbeats report it and ``rpc.hosts`` lists it:
#: ``idle`` or ``busy`` (what its heartbeats say), ``silent`` (its
#: connection answers, but its Python has said nothing for a while: a call
#: holding the GIL), ``lost`` (its connection is gone: killed, stopped,
#: unreachable).
HostState = Literal["idle", "busy", "silent", "lost"]
IDLE: HostState = "idle"
BUSY: HostState = "busy"
SILENT: HostState = "silent"
LOST: HostState = "lost"
#: The states a heartbeat may report (the others are the UI's or broker's verdict).
HOST_STATES = (IDLE, BUSY)

#: What an announcing endpoint is: a host, or a UI attached to a broker.
Role = Literal["host", "ui"]
HOST: Role = "host"
UI: Role = "ui"


class _RequiredInfo(TypedDict):
    id: str
    name: str
    endpoint: str


class HostInfo(_RequiredInfo, total=False):
    """What ``rpc.announce`` carries: ``id``, ``name`` and ``endpoint`` are
    required (non-empty str, no ``/``); the rest is what the node tells."""

    role: Role
    pid: int
    hostname: str
    user: str
    protocol: int
    curve_public_key: str


class HostRecord(HostInfo, total=False):
    """A host as ``rpc.hosts`` lists it: its info plus state and last seen (unix time)."""

    state: HostState
    last_seen: float


class Request(NamedTuple):
    """A decoded request: call ``method`` with ``args`` and ``kwargs``."""

    msgid: int
    method: str
    args: List[Any]
    kwargs: Dict[str, Any]


class Response(NamedTuple):
    """A decoded response: ``error`` is None or an error map."""

    msgid: int
    error: Optional[Dict[str, Any]]
    result: Any


def error_map(
    type: str,
    message: str,
    exception: Optional[str] = None,
    traceback: Optional[str] = None,
) -> Dict[str, Any]:
    """The error map a response carries. ``type`` is one of :data:`ERROR_TYPES`.

    Raises:
        ValueError: ``type`` is not a wire error type.
    """
    if type not in ERROR_TYPES:
        raise ValueError(f"unknown error type {type!r}")
    return {"type": type, "message": message, "exception": exception, "traceback": traceback}


def exception_error_map(
    exc: BaseException, type: str = "Exception", skip_frames: int = 0
) -> Dict[str, Any]:
    """The error map for an exception raised by a called function.

    ``skip_frames`` leaves the caller's own outermost frames out of the
    traceback, so the remote user sees their code, not the server's.
    """
    import traceback  # here: only an error pays for it

    cls = exc.__class__
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is None or tb.tb_next is None:
            break
        tb = tb.tb_next
    return error_map(
        type,
        str(exc),
        exception=f"{cls.__module__}.{cls.__qualname__}",
        traceback="".join(traceback.format_exception(cls, exc, tb)),
    )
