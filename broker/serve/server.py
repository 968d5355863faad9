"""The serving loop shared by host adapters and UI adapters.

Two threads per server, each able to take either role:

- the **leader** owns the ROUTER socket. It decodes every request, answers
  the protocol's ``rpc.*`` methods itself, and runs a service call itself
  (through the dispatcher, which may hop to the host's main thread) when no
  other call is running. A small call so costs no hop between threads, on
  the way in or out: that hop was most of a small call's cost (see
  docs/performance.md);
- the **standby** watches the leader. Once one call has kept the leader busy
  for ``handover`` seconds, the standby takes the sockets over and becomes
  the leader, so ``rpc.ping`` is answered while a long call runs. The old
  leader finishes its call, posts the reply to the new leader's inbox, runs
  the calls that arrived meanwhile (posting their replies too), and becomes
  the standby.

Calls run one at a time, in arrival order (their replies may overtake each
other around a handover: clients match replies by msgid, as msgpack-rpc
allows). The sockets change threads only
under a lock (the full memory barrier ZeroMQ asks for), and only while the
thread giving them up is inside a call and does not touch them. Whatever a
peer sends, the server answers an error or drops the frames and goes on
serving; nothing a called function raises escapes it.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

import zmq

from ..errors import EndpointInUse, MessageTooLarge, ProtocolError, Unauthorized
from ..transport.endpoints import bind_endpoint, warn_if_exposed
from ..transport.frames import recv_message, send_message
from ..transport.inbox import Inbox
from ..wire import codec as protocol
from ..wire.codec import Codec, Request
from .service import Service

if TYPE_CHECKING:
    from ..security.curve import Curve

__all__ = ["Server", "Dispatcher", "ReservedHandler", "DEFAULT_HANDOVER"]

log = logging.getLogger(__name__)

#: ``dispatch(func) -> result``: runs ``func`` (no arguments) where it must run.
Dispatcher = Callable[..., Any]
#: ``handler(*args, **kwargs) -> result``, run on the I/O thread: must be quick.
ReservedHandler = Callable[..., Any]

#: Seconds one call may keep the leader busy before the standby takes over.
DEFAULT_HANDOVER = 0.01

_RESULT = b"R"
_STOP = b"S"
_DRAIN_LIMIT = 256
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: IntFlag arithmetic costs per frame
_POST_TIMEOUT_MS = 1000
# Room for the signature frames on top of a message at the codec's limit.
_FRAME_OVERHEAD = 1024
# Encodes refusals of unsigned or badly signed requests (see _reply_error).
_PLAIN = Codec()
# What a server thread does next.
_LEAD, _WORK, _STAND_BY, _EXIT = "lead", "work", "stand by", "exit"

_Job = Tuple[List[bytes], Request, Callable[..., Any]]


class Server:
    """Serve a :class:`~broker.serve.service.Service` on a ROUTER socket.

    Arguments:
        service: the methods to serve.
        context: the zmq context of the owning adapter.
        endpoint: where to bind; ``tcp://127.0.0.1:*`` lets the OS pick a port.
        dispatcher: ``dispatch(func, *args, **kwargs) -> result``, called on
            a server thread with a function of no arguments; None runs calls
            on the server thread itself.
        codec: limits, signing and hooks for every message.
        name, id: reported by ``rpc.ping`` and ``rpc.describe``.
        reserved: extra ``rpc.*`` handlers (e.g. ``rpc.announce`` on a UI
            endpoint), run by the leader: they must be quick.
        tick: called by the leader about every ``tick_interval`` seconds
            (a UI uses it to notice lost hosts).
        max_pending: calls queued or running at once; more are answered with
            an error at once rather than queued without bound.
        curve: make the socket a CURVE server (see :mod:`broker.security.curve`);
            the owner runs the context's authenticator.
        handover: seconds a call may keep the leader busy before the
            standby takes the sockets over (and ``rpc.ping`` answers again).
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
        curve: Optional[Curve] = None,
        handover: float = DEFAULT_HANDOVER,
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
        self._curve = curve
        self._reserved: Dict[str, ReservedHandler] = {
            protocol.PING: self._ping,
            protocol.DESCRIBE: self._describe,
        }
        self._reserved.update(reserved or {})
        self._handover = handover
        self._inbox = Inbox(context, "server")
        # The leader's sockets: ROUTER, inbox, and a poller over both.
        self._sockets: Optional[Tuple[zmq.Socket, zmq.Socket, zmq.Poller]] = None
        self._next_tick = 0.0
        # Shared by both threads, under _mutex.
        self._mutex = threading.Lock()
        self._standby_wakeup = threading.Condition(self._mutex)
        self._jobs: Deque[_Job] = collections.deque()  # calls waiting their turn
        self._running = False  # a call runs, in the leader or in the old leader
        self._inline = False  # ...in the leader, which may be taken over
        self._taken_over = False  # the standby took the sockets during that call
        self._inline_calls = 0  # tells one long call from many short ones
        self._standby_asleep = False
        self._stopping = False
        self._local = threading.local()  # each thread's PUSH to the inbox
        self._ready = threading.Event()
        self._bind_error: Optional[BaseException] = None
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self.endpoint: Optional[str] = None
        label = name or "server"
        self._threads = [
            threading.Thread(
                target=self._run, args=(leads,), name=f"broker-call-{n}[{label}]", daemon=True
            )
            for n, leads in ((1, True), (2, False))
        ]

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
        self._threads[0].start()
        if not self._ready.wait(timeout):  # pragma: no cover - bind does not block
            raise RuntimeError(f"server did not bind {self._bind_endpoint} in {timeout} s")
        if self._bind_error is not None:
            self._threads[0].join()
            raise self._bind_error
        self._threads[1].start()
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
        with self._mutex:
            self._stopping = True
            self._standby_wakeup.notify_all()
        self._inbox.post([_STOP])
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(max(0.0, deadline - time.monotonic()))
        if self.threads_alive:
            log.warning("%s: a call is still running; abandoning it", self.name or "server")

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return "busy" if self._running or self._jobs else "idle"

    @property
    def running(self) -> bool:
        """Whether a thread is serving the endpoint."""
        return self._sockets is not None

    @property
    def threads_alive(self) -> bool:
        """Whether any thread is still alive (after :meth:`stop`: a stuck call)."""
        return any(thread.is_alive() for thread in self._threads)

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

    # -- server threads --------------------------------------------------------

    def _run(self, leads: bool) -> None:
        role = _LEAD if leads else _STAND_BY
        try:
            if leads and not self._bind():
                return
            while role != _EXIT:
                if role == _LEAD:
                    role = self._lead()
                elif role == _WORK:
                    role = self._work()
                else:
                    role = self._stand_by()
        finally:
            outbox = getattr(self._local, "outbox", None)
            if outbox is not None:
                outbox.close()

    def _bind(self) -> bool:
        router = self._context.socket(zmq.ROUTER)
        router.linger = 0
        router.setsockopt(zmq.MAXMSGSIZE, self.codec.max_message_size + _FRAME_OVERHEAD)
        if self._curve is not None:
            self._curve.apply_server(router)
        inbox = self._inbox.bind()
        try:
            bind_endpoint(router, self._bind_endpoint)
            warn_if_exposed(self._bind_endpoint, self._curve is not None, log)
        except zmq.ZMQError as exc:
            router.close()
            inbox.close()
            self._bind_error = _bind_error(self._bind_endpoint, exc)
            self._ready.set()
            return False
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(inbox, zmq.POLLIN)
        self._sockets = (router, inbox, poller)
        self._next_tick = time.monotonic() + self._tick_interval
        self._ready.set()
        log.debug("%s serving at %s", self.name or "server", self.endpoint)
        return True

    def _lead(self) -> str:
        """Serve the sockets until told to stop, or until the standby took
        them over during a call this thread ran; return what to do next."""
        assert self._sockets is not None
        router, inbox, poller = self._sockets
        tick = self._tick
        head = 3 if self.codec.signer is not None else 1  # [mac, header, body] or [body]
        while True:
            wait_ms = None
            if tick is not None:
                wait_ms = max(0, int((self._next_tick - time.monotonic()) * 1000))
            events = dict(poller.poll(wait_ms))
            if inbox in events and not self._relay(inbox, router, head):
                return self._close_sockets()
            if router in events:
                for _ in range(_DRAIN_LIMIT):
                    try:
                        frames = recv_message(router, head, prefix=1, flags=_NOBLOCK)
                    except zmq.Again:
                        break
                    role = self._handle(router, frames)
                    if role == _EXIT:
                        return self._close_sockets()
                    if role is not None:
                        return role
            if tick is not None and time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + self._tick_interval
                self._run_tick()

    def _close_sockets(self) -> str:
        sockets, self._sockets = self._sockets, None
        if sockets is not None:
            sockets[0].close()
            sockets[1].close()
        return _EXIT

    def _relay(self, inbox: zmq.Socket, router: zmq.Socket, head: int) -> bool:
        """Send the replies the other thread posted; False when told to stop."""
        for _ in range(_DRAIN_LIMIT):
            try:
                # [_RESULT, *envelope, *reply]: a large reply passes without a copy.
                frames = recv_message(inbox, head, prefix=2, flags=_NOBLOCK)
            except zmq.Again:
                break
            if frames[0] == _STOP:
                return False
            self._send(router, frames[1:])
        return True

    def _run_tick(self) -> None:
        try:
            self._tick()  # type: ignore[misc]
        except Exception:
            log.exception("%s: periodic check failed", self.name or "server")

    def _send(self, router: zmq.Socket, frames: List[Any]) -> None:
        try:
            send_message(router, frames, _NOBLOCK)
        except zmq.ZMQError as exc:  # the peer is gone or not reading: its loss
            log.debug("reply dropped: %s", exc)

    def _handle(self, router: zmq.Socket, frames: List[bytes]) -> Optional[str]:
        """Answer one request; None, or what this thread does next."""
        envelope, message = _split_envelope(frames)
        try:
            request = self.codec.decode(message)
        except Unauthorized as exc:
            self._reply_error(router, envelope, message, "Unauthorized", str(exc))
            return None
        except MessageTooLarge as exc:
            self._reply_error(router, envelope, message, "TooLarge", str(exc))
            return None
        except ProtocolError as exc:
            log.debug("malformed request: %s", exc)
            self._reply_error(router, envelope, message, "ProtocolError", str(exc))
            return None
        if not isinstance(request, Request):
            self._reply(
                router,
                envelope,
                request.msgid,
                error=protocol.error_map(
                    "ProtocolError", "a server accepts requests, not responses"
                ),
            )
            return None
        method = request.method
        if method.startswith(protocol.RESERVED_PREFIX):
            self._answer_reserved(router, envelope, request)
            return None
        func = self.service.get(method)
        if func is None:
            self._reply(router, envelope, request.msgid, error=_method_not_found(method))
            return None
        with self._mutex:
            pending = len(self._jobs) + self._running
            if pending >= self._max_pending:
                pass  # refused below, outside the lock
            elif self._running:
                self._jobs.append((envelope, request, func))  # its turn comes
                return None
            else:
                self._running = self._inline = True
                self._inline_calls += 1
                if self._standby_asleep:
                    self._standby_wakeup.notify()
        if pending >= self._max_pending:
            self._reply(
                router,
                envelope,
                request.msgid,
                error=protocol.error_map(
                    "Exception", f"{pending} calls are already pending; try again later"
                ),
            )
            return None
        return self._call_inline(router, envelope, request, func)

    def _call_inline(
        self, router: zmq.Socket, envelope: List[bytes], request: Request, func: Callable[..., Any]
    ) -> Optional[str]:
        """Run one call on this thread, which holds the sockets, and reply."""
        frames = envelope + self._execute(request, func)
        with self._mutex:
            self._inline = False
            taken_over, self._taken_over = self._taken_over, False
            if not taken_over:
                self._running = False  # nothing was queued: only the leader queues
            stopping = self._stopping
        if taken_over:
            # The standby owns the sockets now: hand it the reply, then run
            # the calls it queued meanwhile. Never touch the sockets again.
            if not stopping:
                self._post(frames)
            return _WORK
        if stopping:
            return _EXIT  # a late reply to a stopped server is dropped
        self._send(router, frames)
        return None

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
        error = protocol.error_map(kind, text)
        if kind == "Unauthorized":
            # A refusal holds no secret: unsigned, a client without the key can read it.
            self._send(router, envelope + _PLAIN.encode_response(msgid, error=error))
            return
        self._reply(router, envelope, msgid, error=error)

    def _encode(self, msgid: int, result: Any, error: Optional[Dict[str, Any]]) -> List[Any]:
        try:
            return self.codec.encode_response(msgid, result, error)
        except MessageTooLarge as exc:
            return self.codec.encode_response(msgid, error=protocol.error_map("TooLarge", str(exc)))
        except TypeError as exc:
            return self.codec.encode_response(
                msgid, error=protocol.error_map("Exception", f"the result could not be sent: {exc}")
            )

    # -- after a handover --------------------------------------------------------

    def _work(self) -> str:
        """Run the calls queued while this thread ran a long one; then stand by."""
        while True:
            with self._mutex:
                if self._stopping:
                    return _EXIT
                if not self._jobs:
                    self._running = False
                    return _STAND_BY
                envelope, request, func = self._jobs.popleft()
            frames = envelope + self._execute(request, func)
            if self._stopping or not self._post(frames):
                return _EXIT

    def _post(self, frames: List[Any]) -> bool:
        """Hand a reply to the leader's inbox; False when the server is gone."""
        try:
            outbox = getattr(self._local, "outbox", None)
            if outbox is None:
                outbox = self._local.outbox = self._inbox.connect()
                # Bounded: a leader that stopped reading must not hold us forever.
                outbox.sndtimeo = _POST_TIMEOUT_MS
            send_message(outbox, [_RESULT, *frames])
        except zmq.ZMQError:  # the server stopped (its context too) while the call ran
            return False
        return True

    def _stand_by(self) -> str:
        """Watch the leader; take the sockets over once a single call has kept
        it busy for a whole ``handover`` period (or at once when stopping, so
        the sockets close even if that call never returns). Sleeps while no
        calls run."""
        with self._mutex:
            watched = -1  # the inline call seen running at the last look
            seen_calls = self._inline_calls
            while True:
                if self._inline and (self._stopping or self._inline_calls == watched):
                    # The sockets are idle in the leader's hands: it is inside
                    # the call and only looks at them again under this lock.
                    self._taken_over = True
                    self._inline = False
                    return _LEAD
                if self._stopping:
                    return _EXIT
                if self._inline:
                    watched = self._inline_calls
                elif self._inline_calls == seen_calls:
                    self._standby_asleep = True
                    self._standby_wakeup.wait()  # until the leader runs a call, or stop
                    self._standby_asleep = False
                    continue
                seen_calls = self._inline_calls
                self._standby_wakeup.wait(self._handover)

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
