"""What a DCC embeds: serve a service and stay known to the UI."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Optional

from broker.client.proxy import DEFAULT_TIMEOUT, Proxy
from broker.presence.announcer import Announcer
from broker.security.keys import make_codec
from broker.serve.server import Dispatcher, Server
from broker.serve.service import ServiceLike, as_service
from broker.transport.context import PrivateContext
from broker.transport.endpoints import ui_endpoint
from broker.wire import messages as protocol
from broker.wire.codec import Codec

from .dispatchers.core import MainThreadQueue, immediate

if TYPE_CHECKING:
    from broker.security.curve import Curve

__all__ = ["HostAdapter", "serve"]

log = logging.getLogger(__name__)

# stop() waits this long for the replies of calls that already ran to go out;
# serve_forever() waits this long for a stop() running on another thread.
_REPLY_WAIT = 0.5
_STOP_WAIT = 10.0


class HostAdapter:
    """A running host: a server for its service plus a link to the UI.

    Made by :func:`serve`; see there for the arguments. Everything runs on
    background threads (one I/O thread, one call thread, one heartbeat
    thread) with a private zmq context; the thread that made the adapter
    is never blocked by it.

    Attributes:
        id: unique id of this host, e.g. ``"maya-1f2e3d4c"``.
        name: the host's name, e.g. ``"maya"``.
        endpoint: the endpoint the service is bound to, e.g.
            ``"tcp://127.0.0.1:54321"``.
        ui_endpoint: where this host announces itself.
        dispatcher: what runs the calls (None: the adapter's call thread).
    """

    def __init__(
        self,
        service: ServiceLike = None,
        *,
        name: str = "python",
        ui: Optional[str] = None,
        dispatcher: Optional[Dispatcher] = None,
        endpoint: str = "tcp://127.0.0.1:*",
        heartbeat_interval: float = 1.0,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        codec: Optional[Codec] = None,
        auth: bool = True,
        key_file: Optional[str] = None,
        curve: Optional[Curve] = None,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"a host name must be non-empty and without '/': {name!r}")
        self.name = name
        self.id = f"{name}-{os.urandom(4).hex()}"
        self.ui_endpoint = ui_endpoint(ui)
        # A dispatcher we detected is ours to close; one we were given is not.
        self._owns_dispatcher = dispatcher is None
        if dispatcher is None:
            from .dispatchers.detection import detect

            dispatcher = detect()
        self.dispatcher = dispatcher
        self._timeout = timeout
        self._codec = make_codec(codec, auth=auth, key_file=key_file)
        self._private = PrivateContext(curve)
        self._context = self._private.context
        self._server = Server(
            as_service(service, name),
            context=self._context,
            endpoint=endpoint,
            dispatcher=dispatcher,
            codec=self._codec,
            name=name,
            id=self.id,
            curve=curve,
        )
        self._curve = curve
        self._heartbeat_interval = heartbeat_interval
        self._announcer: Any = None
        self._ui: Optional[Proxy] = None
        # Re-entrant: stop() may run in a signal handler on a thread inside stop().
        self._lock = threading.RLock()
        self._closed = False
        self._serving: Optional[threading.Thread] = None  # the thread in serve_forever()
        self._stop_serving = threading.Event()
        self._stopped = threading.Event()
        self.endpoint = ""

    def start(self) -> HostAdapter:
        """Bind the service and start announcing. Returns self.

        Raises:
            EndpointInUse, ValueError: the endpoint cannot be bound.
        """
        self._private.start_authenticator()
        try:
            self._server.start()
        except BaseException:
            self._private.close()
            raise
        self.endpoint = self._server.endpoint or ""
        self._announcer = Announcer(
            self._context,
            self.ui_endpoint,
            self.info(),
            lambda: self._server.state,
            self._codec,
            interval=self._heartbeat_interval,
            curve=self._curve,
        )
        self._announcer.start()
        log.info(
            "host %s serving at %s, announcing to %s", self.id, self.endpoint, self.ui_endpoint
        )
        if self._owns_dispatcher and isinstance(self.dispatcher, MainThreadQueue):
            log.info("batch mode: calls run once the main thread calls serve_forever()")
        return self

    def serve_forever(self) -> None:
        """Run calls on this thread until :meth:`stop`: batch mode.

        For hosts without an event loop (mayapy, hython, ``blender -b``, a
        script): with a :class:`MainThreadQueue` dispatcher (what
        :func:`~host_adapter.detect` gives in batch mode) this thread runs
        each call as it comes and sleeps in between; with no dispatcher it
        just waits. Returns once :meth:`stop` is called from another thread,
        from a signal handler (``signal.signal(SIGTERM, lambda *_:
        adapter.stop())``) or from a call; the adapter is then stopped and
        the queue closed. Ctrl-C stops it too (KeyboardInterrupt propagates).

        Raises:
            RuntimeError: the dispatcher runs calls elsewhere (Qt, a DCC's
                event loop: run that loop instead), or this is not the
                queue's main thread.
        """
        queue = self.dispatcher if isinstance(self.dispatcher, MainThreadQueue) else None
        if queue is None and self.dispatcher not in (None, immediate):
            raise RuntimeError(
                f"{self.dispatcher!r} runs calls in the host's event loop; "
                "serve_forever() is for a MainThreadQueue or no dispatcher"
            )
        with self._lock:
            if self._closed:
                return
            self._serving = threading.current_thread()
        try:
            if queue is not None:
                queue.run()
            else:
                self._stop_serving.wait()
        finally:
            with self._lock:
                self._serving = None
            self.stop()
            # stop() may be at work on another thread: return once it is done.
            self._stopped.wait(_STOP_WAIT)

    def _let_replies_out(self) -> None:
        """Give the I/O thread a moment to send the replies of calls that
        already ran (e.g. one that asked us to stop) before it stops: a
        call thread whose reply finds the I/O thread gone is stuck."""
        deadline = time.monotonic() + _REPLY_WAIT
        while self._server.state == "busy" and time.monotonic() < deadline:
            time.sleep(0.002)  # ok: a bounded wait at shutdown, for replies in flight

    def info(self) -> Dict[str, Any]:
        """The map this host announces (DESIGN §4 ``rpc.announce``)."""
        # Imported here: a DCC pays for every module imported at start-up.
        import getpass
        import socket

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no user name on some service accounts
            user = ""
        return {
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "user": user,
            "protocol": protocol.PROTOCOL_VERSION,
            **({"curve_public_key": self._curve.public_key_text} if self._curve else {}),
        }

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return self._server.state

    @property
    def connected(self) -> bool:
        """Whether a UI (or broker) answered our latest announce or heartbeat."""
        return self._announcer is not None and self._announcer.connected

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until a UI knows this host; True if one does. For scripts and tests."""
        return self._announcer is not None and self._announcer.wait_connected(timeout)

    @property
    def ui(self) -> Proxy:
        """A proxy for the UI's own methods: ``adapter.ui.show()``."""
        with self._lock:
            if self._closed:
                from broker.errors import Closed

                raise Closed("this host adapter was stopped")
            if self._ui is None:
                self._ui = Proxy(
                    self.ui_endpoint,
                    timeout=self._timeout,
                    context=self._context,
                    codec=self._codec,
                    curve=self._curve,
                )
            return self._ui

    def stop(self) -> None:
        """Depart from the UI, stop serving, release everything. Idempotent.

        Replies of calls that already ran still go out (up to half a
        second); calls waiting for a dispatcher that :func:`serve` detected
        fail with ``Closed``. Safe from any thread, from a signal handler and
        from a call; during :meth:`serve_forever` on its own thread this only
        makes it return, and it stops the adapter once the running call is
        done.
        """
        with self._lock:
            if self._serving is not None:
                self._stop_serving.set()
                if isinstance(self.dispatcher, MainThreadQueue):
                    self.dispatcher.close()
                if self._serving is threading.current_thread():
                    return
            if self._closed:
                return
            self._closed = True
            ui = self._ui
        close_dispatcher = getattr(self.dispatcher, "close", None)
        if self._owns_dispatcher and close_dispatcher is not None:
            # Calls waiting on the main thread fail now instead of holding us up.
            close_dispatcher()
        if self._announcer is not None:
            self._announcer.stop(depart=True)
        self._let_replies_out()
        self._server.stop()
        if ui is not None:
            ui.close()
        self._private.close(threads_alive=self._server.threads_alive)
        self._stopped.set()
        log.info("host %s stopped", self.id)

    close = stop

    def __enter__(self) -> HostAdapter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<HostAdapter {self.id} at {self.endpoint or 'unbound'} ui={self.ui_endpoint}>"


def serve(
    service: ServiceLike = None,
    *,
    name: str = "python",
    ui: Optional[str] = None,
    dispatcher: Optional[Dispatcher] = None,
    endpoint: str = "tcp://127.0.0.1:*",
    heartbeat_interval: float = 1.0,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    codec: Optional[Codec] = None,
    auth: bool = True,
    key_file: Optional[str] = None,
    curve: Optional[Curve] = None,
) -> HostAdapter:
    """Serve ``service`` from this process and announce it to the UI.

    Returns at once with a running :class:`HostAdapter`; stop it with
    ``adapter.stop()`` or use it as a context manager.

    Arguments:
        service: an object (its public methods), a module, a dict of name →
            callable, or a list of functions.
        name: the host's name (``"maya"``, ``"nuke"``…); UIs and the broker
            find hosts by it.
        ui: the UI endpoint to announce to; default ``$BROKER_UI_ENDPOINT``
            or ``tcp://127.0.0.1:9090``. No UI there is fine: the host keeps
            serving and announces when one appears.
        dispatcher: ``dispatch(func, *args, **kwargs) -> result`` that runs
            calls on the host's main thread; None (the default) picks one
            for the running application with :func:`~host_adapter.detect`
            (none outside a DCC or Qt application: calls run on the
            adapter's call thread); ``host_adapter.immediate`` forces the
            call thread. In batch mode, follow with ``serve_forever()``.
        endpoint: where to bind; the OS picks a free loopback port by default.
        heartbeat_interval: seconds between heartbeats until the UI answers
            with its own interval.
        timeout: default timeout of ``adapter.ui`` calls.
        codec: limits, signing and hooks shared by every socket; overrides
            ``auth`` and ``key_file``.
        auth: sign and check every message with the user's key (default);
            False talks to and accepts unsigned peers (logged as a warning).
        key_file: the key file; default ``$BROKER_KEY_FILE`` or the user's.
        curve: encrypt with CURVE for a UI or broker on another machine
            (see :mod:`broker.security.curve`); bind ``endpoint`` to a non-loopback
            address so that it can reach this host.

    Raises:
        EndpointInUse, ValueError: the endpoint cannot be bound.
    """
    adapter = HostAdapter(
        service,
        name=name,
        ui=ui,
        dispatcher=dispatcher,
        endpoint=endpoint,
        heartbeat_interval=heartbeat_interval,
        timeout=timeout,
        codec=codec,
        auth=auth,
        key_file=key_file,
        curve=curve,
    )
    return adapter.start()
