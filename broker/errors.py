"""The exceptions this project raises: one tree, one root.

::

    RpcError                     anything this library raises on purpose
    ├── RemoteError              the remote function raised; carries its type,
    │   │                        message and traceback, and prints them
    │   ├── MethodNotFound       no such method at that endpoint
    │   └── InvalidParams        the arguments did not fit the signature
    ├── CallTimeout              no answer within the call's timeout
    ├── HostNotFound             no host has that id or name
    ├── NotConnected             nobody to call yet: a host's UI is not there
    ├── Overloaded               the broker holds all it can: hosts or waiting calls
    ├── Unauthorized             the peer was refused, or refused us
    ├── ProtocolError            bytes that are not this protocol
    ├── MessageTooLarge          over the size limit; nothing was sent
    ├── Broken                   something broke under us: not the caller's doing
    │   ├── HostLost             the host died, stopped or departed while we waited
    │   │   └── Disconnected     the connection carrying the call dropped
    │   └── BindError            an endpoint cannot be bound (also a ValueError)
    │       └── EndpointInUse    another process already owns that endpoint
    ├── KeyFileError             the key file is missing, unsafe or malformed
    ├── DispatchError            the host's main-thread machinery failed (also a
    │                            RuntimeError)
    └── Closed                   you closed this object; it will not work again

"You closed it" (:class:`Closed`) is kept apart from "it broke"
(:class:`Broken`). zmq and msgpack exceptions never escape: they are
translated where they happen, with ``raise ... from exc`` and the endpoint and
method named.

On the wire an error is a map whose ``type`` is one of the keys of
:data:`WIRE_ERRORS`, the one place where those names are written;
:func:`from_error_map` turns such a map back into the matching class here.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Type

__all__ = [
    "RpcError",
    "RemoteError",
    "MethodNotFound",
    "InvalidParams",
    "CallTimeout",
    "HostNotFound",
    "NotConnected",
    "Overloaded",
    "Unauthorized",
    "ProtocolError",
    "MessageTooLarge",
    "Broken",
    "HostLost",
    "Disconnected",
    "BindError",
    "EndpointInUse",
    "KeyFileError",
    "DispatchError",
    "Closed",
    "WIRE_ERRORS",
    "from_error_map",
]


class RpcError(Exception):
    """Root of every exception this library raises on purpose."""

    #: The ``type`` this error has in an error map on the wire.
    wire_type = "Exception"


class RemoteError(RpcError):
    """The remote side raised an exception while running the method.

    Attributes:
        type: the wire error type (``"Exception"``, ``"MethodNotFound"``…).
        message: the remote exception's message.
        exception: the remote class as ``"module.Class"``, or None.
        remote_traceback: the remote traceback text, or None.
        endpoint, method: where and what was called, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        type: str = "Exception",
        exception: Optional[str] = None,
        remote_traceback: Optional[str] = None,
        endpoint: Optional[str] = None,
        method: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.exception = exception
        self.remote_traceback = remote_traceback
        self.endpoint = endpoint
        self.method = method

    def __str__(self) -> str:
        where = ""
        if self.method or self.endpoint:
            where = f"{self.method or '?'} at {self.endpoint or '?'}: "
        head = f"{where}{self.exception or self.type}: {self.message}"
        if self.remote_traceback:
            return f"{head}\n\nRemote traceback:\n{self.remote_traceback.rstrip()}"
        return head


class MethodNotFound(RemoteError):
    """The endpoint has no method of that name."""

    wire_type = "MethodNotFound"


class InvalidParams(RemoteError):
    """The arguments do not fit the remote method's signature."""

    wire_type = "InvalidParams"


class CallTimeout(RpcError):
    """No reply came within the call's timeout. The call may still run."""

    wire_type = "Timeout"


class HostNotFound(RpcError):
    """No registered host has that id or name."""

    wire_type = "HostNotFound"


class NotConnected(RpcError):
    """The peer is known to be absent, so the call was not sent.

    A host's ``adapter.ui`` raises this at once while no UI (or broker) has
    answered the host's announce: start a UI; the host announces itself to
    it when it appears, and calls work from then on.
    """


class Overloaded(RpcError):
    """The broker (or a UI) holds as much as it can: as many hosts as its
    descriptors allow, or as many calls as its queue takes. Nothing was
    done; try again later, or raise the limit (see ``--max-hosts``,
    ``--queue-limit`` and docs/performance.md)."""

    wire_type = "Overloaded"


class Unauthorized(RpcError):
    """The peer was refused (it lacks the key), or refused us."""

    wire_type = "Unauthorized"


class ProtocolError(RpcError):
    """Bytes that do not follow the wire protocol."""

    wire_type = "ProtocolError"


class MessageTooLarge(RpcError):
    """A message is over the size limit. Raised before anything is sent."""

    wire_type = "TooLarge"


class Broken(RpcError):
    """Something broke under us (a peer, a connection, an endpoint): not the caller's doing."""


class HostLost(Broken):
    """The host died, stopped or departed while a call waited on it."""

    wire_type = "HostLost"


class Disconnected(HostLost):
    """The connection that carried a call dropped: its reply can never come.

    The call may or may not have run.
    """


class BindError(Broken, ValueError):
    """An endpoint cannot be bound: not a valid endpoint, or not allowed."""


class EndpointInUse(BindError):
    """Another process already owns the endpoint we were asked to bind."""


class KeyFileError(RpcError):
    """The key file is missing, unsafe (others may read or replace it) or malformed."""


class DispatchError(RpcError, RuntimeError):
    """The host's own main-thread machinery failed, so the call may not have run."""


class Closed(RpcError):
    """This object was closed by its owner and cannot be used again."""


#: Every error ``type`` of the wire protocol, and the class it becomes here.
WIRE_ERRORS: Mapping[str, Type[RpcError]] = {
    "ProtocolError": ProtocolError,
    "Unauthorized": Unauthorized,
    "MethodNotFound": MethodNotFound,
    "InvalidParams": InvalidParams,
    "HostNotFound": HostNotFound,
    "HostLost": HostLost,
    "Timeout": CallTimeout,
    "TooLarge": MessageTooLarge,
    "Overloaded": Overloaded,
    "Exception": RemoteError,
}


def from_error_map(
    error: Mapping[str, Any],
    *,
    endpoint: Optional[str] = None,
    method: Optional[str] = None,
) -> RpcError:
    """Build the exception matching an error map received from a peer.

    Arguments:
        error: the map from a response's ``error`` field. Missing or odd
            fields are tolerated: a peer's mistake must not hide its error.
        endpoint, method: added to the message so the user sees where.

    Returns:
        An instance of the :class:`RpcError` subclass for ``error["type"]``;
        :class:`RemoteError` for ``"Exception"`` and unknown types.
    """
    wire_type = str(error.get("type") or "Exception")
    message = str(error.get("message") or "")
    cls = WIRE_ERRORS.get(wire_type, RemoteError)
    if not issubclass(cls, RemoteError):
        where = f" ({method} at {endpoint})" if method or endpoint else ""
        return cls(f"{message}{where}")
    exception = error.get("exception")
    traceback = error.get("traceback")
    return cls(
        message,
        type=wire_type,
        exception=str(exception) if exception is not None else None,
        remote_traceback=str(traceback) if traceback is not None else None,
        endpoint=endpoint,
        method=method,
    )
