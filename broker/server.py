"""The serving loop shared by host adapters, UI adapters and the broker.

Two threads per server:

- the **I/O thread** owns the ROUTER socket. It decodes every request,
  answers the protocol's ``rpc.*`` methods itself at once (so ``rpc.ping``
  answers while a long call runs), and queues service calls;
- the **call thread** runs queued calls one at a time through the
  dispatcher (which may hop to the host's main thread) and posts each
  encoded reply back to the I/O thread's inbox.

The I/O thread never runs service code and never blocks on anything but its
poller. Whatever a peer sends, the server answers an error or drops the
frames and goes on serving; nothing a called function raises escapes it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import zmq

from . import protocol
from ._inbox import Inbox, drain
from .errors import EndpointInUse, MessageTooLarge, ProtocolError, Unauthorized
from .protocol import Codec, Request
from .service import Service

__all__ = ["Server", "Dispatcher", "ReservedHandler"]

log = logging.getLogger(__name__)

#: ``dispatch(func) -> result``: runs ``func`` (no arguments) where it must run.
Dispatcher = Callable[..., Any]
#: ``handler(*args, **kwargs) -> result``, run on the I/O thread: must be quick.
ReservedHandler = Callable[..., Any]

_RESULT = b"R"
_STOP = b"S"
_DRAIN_LIMIT = 256
# Room for the signature frames on top of a message at the codec's limit.
_FRAME_OVERHEAD = 1024


class Server:
    """Serve a :class:`~broker.service.Service` on a ROUTER socket.

    Arguments:
        service: the methods to serve.
        context: the zmq context of the owning adapter.
        endpoint: where to bind; ``tcp://127.0.0.1:*`` lets the OS pick a port.
        dispatcher: ``dispatch(func, *args, **kwargs) -> result``, called on
            the call thread with a function of no arguments; None runs calls
            on the call thread itself.
        codec: limits, signing and hooks for every message.
        name, id: reported by ``rpc.ping`` and ``rpc.describe``.
        reserved: extra ``rpc.*`` handlers (e.g. ``rpc.announce`` on a UI
            endpoint), run on the I/O thread.
        tick: called on the I/O thread about every ``tick_interval`` seconds
            (a UI uses it to notice lost hosts).
        max_pending: calls queued or running at once; more are answered with
            an error at once rather than queued without bound.
    """

    def __init__(
        self,
        service: Service,
        *,
        context: zmq.Context,
        endpoint: str = "tcp://127.0.0.1:*",
        dispatcher: Optional[Dispatcher] = None,
        codec: Optional[Codec] = None,
        name: str = "",
        id: str = "",
        reserved: Optional[Mapping[str, ReservedHandler]] = None,
        tick: Optional[Callable[[], None]] = None,
        tick_interval: float = 1.0,
        max_pending: int = 10_000,
    ) -> None:
        self.service = service
        self.name = name
        self.id = id
        self.codec = codec or Codec()
        self._context = context
        self._bind_endpoint = endpoint
        self._dispatcher = dispatcher
        self._tick = tick
        self._tick_interval = tick_interval
        self._max_pending = max_pending
        self._reserved: Dict[str, ReservedHandler] = {
            protocol.PING: self._ping,
            protocol.DESCRIBE: self._describe,
        }
        self._reserved.update(reserved or {})
        self._inbox = Inbox(context, "server")
        self._jobs: queue.Queue[Optional[Tuple[List[bytes], Request, Callable[..., Any]]]]
        self._jobs = queue.Queue()
        self._pending = 0
        self._ready = threading.Event()
        self._bind_error: Optional[BaseException] = None
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self.endpoint: Optional[str] = None
        label = name or "server"
        self._io_thread = threading.Thread(
            target=self._serve, name=f"broker-io[{label}]", daemon=True
        )
        self._call_thread = threading.Thread(
            target=self._work, name=f"broker-call[{label}]", daemon=True
        )

    # -- lifetime ----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Server:
        """Bind and start serving; returns once the endpoint is bound.

        Raises:
            EndpointInUse: another process owns the endpoint.
            ValueError: the endpoint is not a valid zmq endpoint.
        """
        with self._lock:
            if self._started:
                return self
            self._started = True
        self._io_thread.start()
        if not self._ready.wait(timeout):  # pragma: no cover - bind does not block
            raise RuntimeError(f"server did not bind {self._bind_endpoint} in {timeout} s")
        if self._bind_error is not None:
            self._io_thread.join()
            raise self._bind_error
        self._call_thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and close the socket. Idempotent.

        Waits up to ``timeout`` for a running call to return; a call stuck on
        the main thread is abandoned (its thread is a daemon).
        """
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        self._inbox.post([_STOP])
        self._jobs.put(None)
        self._io_thread.join(timeout)
        self._call_thread.join(timeout)
        if self._call_thread.is_alive():
            log.warning("%s: a call is still running; abandoning it", self.name or "server")

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return "busy" if self._pending else "idle"

    @property
    def running(self) -> bool:
        """Whether the I/O thread is serving."""
        return self._io_thread.is_alive()

    @property
    def threads_alive(self) -> bool:
        """Whether any thread is still alive (after :meth:`stop`: a stuck call)."""
        return self._io_thread.is_alive() or self._call_thread.is_alive()

    # -- reserved methods ----------------------------------------------------

    def _ping(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "pid": os.getpid(),
            "state": self.state,
            "protocol": protocol.PROTOCOL_VERSION,
        }

    def _describe(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "protocol": protocol.PROTOCOL_VERSION,
            "methods": self.service.describe(),
        }

    # -- I/O thread ----------------------------------------------------------

    def _serve(self) -> None:
        router = self._context.socket(zmq.ROUTER)
        router.linger = 0
        router.setsockopt(zmq.MAXMSGSIZE, self.codec.max_message_size + _FRAME_OVERHEAD)
        inbox = self._inbox.bind()
        try:
            router.bind(self._bind_endpoint)
        except zmq.ZMQError as exc:
            router.close()
            inbox.close()
            self._bind_error = _bind_error(self._bind_endpoint, exc)
            self._ready.set()
            return
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._ready.set()
        log.debug("%s serving at %s", self.name or "server", self.endpoint)
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(inbox, zmq.POLLIN)
        next_tick = time.monotonic() + self._tick_interval
        try:
            while True:
                wait_ms = None
                if self._tick is not None:
                    wait_ms = max(0, int((next_tick - time.monotonic()) * 1000))
                events = dict(poller.poll(wait_ms))
                if inbox in events and not self._relay(inbox, router):
                    return
                if router in events:
                    for frames in drain(router, _DRAIN_LIMIT):
                        self._handle(router, frames)
                if self._tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self._tick_interval
                    self._run_tick()
        finally:
            router.close()
            inbox.close()

    def _relay(self, inbox: zmq.Socket, router: zmq.Socket) -> bool:
        """Send the call thread's replies; False when told to stop."""
        for frames in drain(inbox, _DRAIN_LIMIT):
            if frames[0] == _STOP:
                return False
            self._pending -= 1
            self._send(router, frames[1:])
        return True

    def _run_tick(self) -> None:
        try:
            self._tick()  # type: ignore[misc]
        except Exception:
            log.exception("%s: periodic check failed", self.name or "server")

    def _send(self, router: zmq.Socket, frames: List[Any]) -> None:
        try:
            router.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:  # the peer is gone or not reading: its loss
            log.debug("reply dropped: %s", exc)

    def _handle(self, router: zmq.Socket, frames: List[bytes]) -> None:
        envelope, message = _split_envelope(frames)
        try:
            request = self.codec.decode(message)
        except Unauthorized as exc:
            self._reply_error(router, envelope, message, "Unauthorized", str(exc))
            return
        except MessageTooLarge as exc:
            self._reply_error(router, envelope, message, "TooLarge", str(exc))
            return
        except ProtocolError as exc:
            log.debug("malformed request: %s", exc)
            self._reply_error(router, envelope, message, "ProtocolError", str(exc))
            return
        if not isinstance(request, Request):
            self._reply(
                router,
                envelope,
                request.msgid,
                error=protocol.error_map(
                    "ProtocolError", "a server accepts requests, not responses"
                ),
            )
            return
        method = request.method
        if method.startswith(protocol.RESERVED_PREFIX):
            self._answer_reserved(router, envelope, request)
            return
        func = self.service.get(method)
        if func is None:
            self._reply(router, envelope, request.msgid, error=_method_not_found(method))
            return
        if self._pending >= self._max_pending:
            self._reply(
                router,
                envelope,
                request.msgid,
                error=protocol.error_map(
                    "Exception", f"{self._pending} calls are already pending; try again later"
                ),
            )
            return
        self._pending += 1
        self._jobs.put((envelope, request, func))

    def _answer_reserved(self, router: zmq.Socket, envelope: List[bytes], request: Request) -> None:
        handler = self._reserved.get(request.method)
        if handler is None:
            self._reply(router, envelope, request.msgid, error=_method_not_found(request.method))
            return
        try:
            result = handler(*request.args, **request.kwargs)
        except TypeError as exc:
            error = protocol.exception_error_map(exc, "InvalidParams")
            self._reply(router, envelope, request.msgid, error=error)
        except Exception as exc:
            log.exception("%s failed", request.method)
            self._reply(router, envelope, request.msgid, error=protocol.exception_error_map(exc))
        else:
            self._reply(router, envelope, request.msgid, result=result)

    def _reply(
        self,
        router: zmq.Socket,
        envelope: List[bytes],
        msgid: int,
        result: Any = None,
        error: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._send(router, envelope + self._encode(msgid, result, error))

    def _reply_error(
        self,
        router: zmq.Socket,
        envelope: List[bytes],
        message: Sequence[bytes],
        kind: str,
        text: str,
    ) -> None:
        # The msgid may be unreadable; a REQ client still needs an answer.
        body = (
            message[2]
            if self.codec.signer is not None and len(message) > 2
            else (message[0] if message else b"")
        )
        msgid = protocol.salvage_msgid(body) if body else 0
        self._reply(router, envelope, msgid, error=protocol.error_map(kind, text))

    def _encode(self, msgid: int, result: Any, error: Optional[Dict[str, Any]]) -> List[Any]:
        try:
            return self.codec.encode_response(msgid, result, error)
        except MessageTooLarge as exc:
            return self.codec.encode_response(msgid, error=protocol.error_map("TooLarge", str(exc)))
        except TypeError as exc:
            return self.codec.encode_response(
                msgid, error=protocol.error_map("Exception", f"the result could not be sent: {exc}")
            )

    # -- call thread ---------------------------------------------------------

    def _work(self) -> None:
        outbox = self._inbox.connect()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                envelope, request, func = job
                frames = envelope + self._execute(request, func)
                try:
                    outbox.send_multipart([_RESULT, *frames], copy=False)
                except zmq.ZMQError:  # the server stopped while the call ran
                    return
        finally:
            outbox.close()

    def _execute(self, request: Request, func: Callable[..., Any]) -> List[Any]:
        args, kwargs = request.args, request.kwargs
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
            return self._encode(request.msgid, None, error)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a call must not stop us
            log.debug("%s raised %r", request.method, exc)
            error = protocol.exception_error_map(exc, skip_frames=1)
            return self._encode(request.msgid, None, error)
        return self._encode(request.msgid, result, None)


def _split_envelope(frames: List[bytes]) -> Tuple[List[bytes], List[bytes]]:
    """Split routing frames (up to the empty delimiter) from the message.

    REQ peers send ``[id, (correlation id,) b"", body...]``; a bare DEALER
    may send ``[id, body...]`` with no delimiter and is answered the same way.
    """
    for index in range(1, len(frames)):
        if not frames[index]:
            return frames[: index + 1], frames[index + 1 :]
    return frames[:1], frames[1:]


def _method_not_found(method: str) -> Dict[str, Any]:
    return protocol.error_map("MethodNotFound", f"no method named {method!r}")


def _bind_error(endpoint: str, exc: zmq.ZMQError) -> Exception:
    if exc.errno == zmq.EADDRINUSE:
        error: Exception = EndpointInUse(
            f"{endpoint} is already in use by another process "
            "(another UI, a broker, or an unrelated server)"
        )
    else:
        error = ValueError(f"cannot bind {endpoint}: {exc}")
    error.__cause__ = exc
    return error
