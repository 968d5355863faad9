"""What a server answers to each request, without sockets or threads.

:class:`Requests` turns one received message into either the reply to send
at once (a refusal, an error, the answer of an ``rpc.*`` method) or a
:class:`Job`: a service call to run, whose reply :meth:`Requests.run`
makes. The server (:mod:`broker.serve.server`) decides when and on which
thread a job runs.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Union

from ..errors import MessageTooLarge, ProtocolError
from ..wire import messages as protocol
from ..wire.codec import Codec
from ..wire.envelope import is_notification, salvage_msgid, split_envelope
from ..wire.messages import Request
from .service import Service

__all__ = [
    "Requests",
    "Job",
    "Reply",
    "NO_REPLY",
    "Dispatcher",
    "ReservedHandler",
    "identity_handlers",
]

log = logging.getLogger(__name__)

#: ``dispatch(func) -> result``: runs ``func`` (no arguments) where it must run.
Dispatcher = Callable[..., Any]
#: ``handler(*args, **kwargs) -> result``, run on the I/O thread: must be quick.
ReservedHandler = Callable[..., Any]


class Job(NamedTuple):
    """A service call to run: the envelope to answer, the request, the function."""

    envelope: List[Any]
    request: Request
    func: Callable[..., Any]


class Reply(NamedTuple):
    """Frames to send at once: the envelope, then the response (none: send nothing)."""

    frames: List[Any]


#: What a msgpack-rpc notification gets: nothing (see ``is_notification``).
NO_REPLY = Reply([])


class Requests:
    """Decode, answer or hand over each request of one server.

    Arguments:
        service: the methods served.
        codec: limits and hooks.
        reserved: the ``rpc.*`` handlers (``rpc.ping``, ``rpc.describe``, and
            for a UI endpoint the registry's).
        dispatcher: runs a call where it must run; None: where :meth:`run` is called.
        before_call: called before each service call is dispatched (a host
            tells its UI it is busy before a call that may hold the GIL).
    """

    def __init__(
        self,
        service: Service,
        codec: Codec,
        reserved: Mapping[str, ReservedHandler],
        dispatcher: Optional[Dispatcher] = None,
        before_call: Optional[Callable[[], None]] = None,
    ) -> None:
        self.service = service
        self.codec = codec
        self._reserved = dict(reserved)
        self._dispatcher = dispatcher
        self._before_call = before_call

    def handle(self, frames: List[Any]) -> Union[Reply, Job]:
        """What to do with the message ``frames`` a ROUTER received."""
        envelope, message = split_envelope(frames)
        try:
            request = self.codec.decode(message)
        except (MessageTooLarge, ProtocolError) as exc:
            if is_notification(message):
                log.debug("ignored a msgpack-rpc notification: this protocol has none")
                return NO_REPLY
            return self._refusal(envelope, message, exc)
        if not isinstance(request, Request):
            text = "a server accepts requests, not responses"
            return self.error(envelope, request.msgid, "ProtocolError", text)
        method = request.method
        if method.startswith(protocol.RESERVED_PREFIX):
            return self._answer_reserved(envelope, request)
        func = self.service.get(method)
        if func is None:
            return self.error(envelope, request.msgid, "MethodNotFound", _not_found(method))
        return Job(envelope, request, func)

    def run(self, job: Job) -> List[Any]:
        """Run a service call (through the dispatcher); the reply's frames."""
        request, func = job.request, job.func
        args, kwargs = request.args, request.kwargs
        if self._before_call is not None:
            self._before_call()
        try:
            if self._dispatcher is None:
                result = func(*args, **kwargs)
            else:
                # A closure, so a remote keyword named "func" cannot collide
                # with the dispatcher's own parameters.
                result = self._dispatcher(lambda: func(*args, **kwargs))
        except TypeError as exc:
            fits = self.service.arguments_fit(request.method, args, kwargs)
            kind = "Exception" if fits else "InvalidParams"
            error = protocol.exception_error_map(exc, kind, skip_frames=1)
            return job.envelope + self._encode(request.msgid, None, error)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a call must not stop us
            log.debug("%s raised %r", request.method, exc)
            error = protocol.exception_error_map(exc, skip_frames=1)
            return job.envelope + self._encode(request.msgid, None, error)
        return job.envelope + self._encode(request.msgid, result, None)

    def error(self, envelope: List[Any], msgid: int, kind: str, text: str) -> Reply:
        """An error reply of wire type ``kind``."""
        return Reply(envelope + self._encode(msgid, None, protocol.error_map(kind, text)))

    def _answer_reserved(self, envelope: List[Any], request: Request) -> Reply:
        handler = self._reserved.get(request.method)
        if handler is None:
            return self.error(envelope, request.msgid, "MethodNotFound", _not_found(request.method))
        try:
            result = handler(*request.args, **request.kwargs)
        except TypeError as exc:
            error = protocol.exception_error_map(exc, "InvalidParams")
        except Exception as exc:
            log.exception("%s failed", request.method)
            error = protocol.exception_error_map(exc)
        else:
            return Reply(envelope + self._encode(request.msgid, result, None))
        return Reply(envelope + self._encode(request.msgid, None, error))

    def _refusal(self, envelope: List[Any], message: List[Any], exc: Exception) -> Reply:
        """Answer a message that cannot be accepted: its msgid may be
        unreadable, and a REQ client still needs an answer."""
        kind = getattr(exc, "wire_type", "ProtocolError")
        msgid = salvage_msgid(message)
        log.debug("refused a request: %s", exc)
        return self.error(envelope, msgid, kind, str(exc))

    def _encode(self, msgid: int, result: Any, error: Optional[Dict[str, Any]]) -> List[Any]:
        try:
            return self.codec.encode_response(msgid, result, error)
        except MessageTooLarge as exc:
            return self.codec.encode_response(msgid, error=protocol.error_map("TooLarge", str(exc)))
        except TypeError as exc:
            text = f"the result could not be sent: {exc}"
            return self.codec.encode_response(msgid, error=protocol.error_map("Exception", text))


def identity_handlers(
    name: str,
    id: str,
    service: Service,
    state: Callable[[], str],
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, ReservedHandler]:
    """``rpc.ping`` and ``rpc.describe``: who the endpoint is, and what it serves.

    ``extra`` is added to both answers (the broker adds its ``role`` and how
    to route through it).
    """
    more = dict(extra or {})

    def ping() -> Dict[str, Any]:
        return {
            "name": name,
            "id": id,
            "pid": os.getpid(),
            "state": state(),
            "protocol": protocol.PROTOCOL_VERSION,
            **more,
        }

    def describe() -> Dict[str, Any]:
        return {
            "name": name,
            "id": id,
            "protocol": protocol.PROTOCOL_VERSION,
            "methods": service.describe(),
            **more,
        }

    return {protocol.PING: ping, protocol.DESCRIBE: describe}


def _not_found(method: str) -> str:
    return f"no method named {method!r}"
