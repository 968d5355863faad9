"""What a DCC embeds: serve a service and stay known to the UI."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Optional

from broker.errors import Closed, NotConnected
from broker.presence.node import Node
from broker.security import AuthLike
from broker.serve import Dispatcher, ServiceLike, check_service
from broker.transport.endpoints import host_endpoint, ui_endpoint
from broker.wire import Codec, HostInfo

from .dispatchers.core import MainThreadQueue, immediate

if TYPE_CHECKING:
    from broker.client.proxy import Proxy

__all__ = ["HostAdapter", "serve"]

log = logging.getLogger(__name__)

#: Seconds a call to ``adapter.ui`` waits unless told otherwise.
DEFAULT_TIMEOUT = 30.0
# serve_forever() waits this long for a stop() running on another thread.
_STOP_WAIT = 10.0
# A call to the UI while not connected waits this long for an announce in
# flight to be answered (a UI that is there answers in milliseconds).
_UI_GRACE = 0.25


class HostAdapter:
    """A running host: a server for its service plus a link to the UI.

    Usually made by :func:`serve`. Everything runs on background threads
    (two call threads that take turns at the socket, one heartbeat thread)
    with a private zmq context; the thread that made the adapter is never
    blocked by it.

    Arguments:
        service: an object (its public methods), a module, a dict of name ->
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
            call thread. In batch mode, follow with :meth:`serve_forever`.
        endpoint: where to bind; by default an ipc path of this host's own in
            the user's private runtime folder (POSIX: only the user can
            connect, and no encryption is needed), or ``tcp://127.0.0.1:*``
            on Windows (a port the OS picks, with CURVE).
        heartbeat_interval: seconds between heartbeats until the UI answers
            with its own interval.
        timeout: default timeout of ``adapter.ui`` calls.
        codec: limits and hooks shared by every socket.
        auth: ``True`` (the default): only the user's own processes get in
            (see :mod:`broker.security.options`); ``False`` talks to and admits
            anyone (logged as a warning); a :class:`broker.Security` names
            another key file, or keys of other machines (then bind
            ``endpoint`` to a non-loopback address so that a UI or broker
            elsewhere can reach this host).

    Attributes:
        id: unique id of this host, e.g. ``"maya-1f2e3d4c"``.
        name: the host's name, e.g. ``"maya"``.
        endpoint: the endpoint the service is bound to, e.g.
            ``"ipc:///run/user/1000/zmq-host-broker/maya-1f2e3d4c.sock"``.
        ui_endpoint: where this host announces itself.
        dispatcher: what runs the calls (None: the adapter's call thread).

    Raises:
        ValueError: the name is empty or has a ``/``, or the service has a
            method it cannot expose (``rpc`` is reserved).
        TypeError: ``service`` is a str (an endpoint where the service goes).
        KeyFileError: the key file is unusable.
    """

    def __init__(
        self,
        service: ServiceLike = None,
        *,
        name: str = "python",
        ui: Optional[str] = None,
        dispatcher: Optional[Dispatcher] = None,
        endpoint: Optional[str] = None,
        heartbeat_interval: float = 1.0,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
    ) -> None:
        check_service(service, "serve")
        self.name = name
        self.id = f"{name}-{os.urandom(4).hex()}"
        self.ui_endpoint = ui_endpoint(ui)
        # A dispatcher we detected is ours to close; one we were given is not.
        self._owns_dispatcher = dispatcher is None
        if dispatcher is None:
            from .dispatchers.detection import detect

            dispatcher = detect()
        self.dispatcher = dispatcher
        self._node = Node(
            service,
            name=name,
            id=self.id,
            announce_to=self.ui_endpoint,
            endpoint=endpoint or host_endpoint(self.id),
            dispatcher=dispatcher,
            heartbeat_interval=heartbeat_interval,
            codec=codec,
            auth=auth,
        )
        self._timeout = timeout
        self._ui: Optional[Proxy] = None
        # Re-entrant: stop() may run in a signal handler on a thread inside stop().
        self._lock = threading.RLock()
        self._closed = False
        self._serving: Optional[threading.Thread] = None  # the thread in serve_forever()
        self._stop_serving = threading.Event()
        self._stopped = threading.Event()

    def start(self) -> HostAdapter:
        """Bind the service and start announcing. Returns self.

        Raises:
            EndpointInUse, BindError: the endpoint cannot be bound.
        """
        self._node.start()
        log.info(
            "host %s serving at %s, announcing to %s", self.id, self.endpoint, self.ui_endpoint
        )
        if self._owns_dispatcher and isinstance(self.dispatcher, MainThreadQueue):
            log.info("batch mode: calls run once the main thread calls serve_forever()")
        return self

    @property
    def endpoint(self) -> str:
        """The endpoint the service is bound to ("" before :meth:`start`)."""
        return self._node.endpoint

    def info(self) -> HostInfo:
        """The map this host announces (``rpc.announce``)."""
        return self._node.info()

    @property
    def state(self) -> str:
        """``"busy"`` while a call is queued or running, else ``"idle"``."""
        return self._node.state

    @property
    def connected(self) -> bool:
        """Whether a UI (or broker) answered our latest announce or heartbeat."""
        return self._node.connected

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until a UI knows this host; True if one does. For scripts and tests."""
        return self._node.wait_connected(timeout)

    @property
    def ui(self) -> Proxy:
        """A proxy for the UI's own methods: ``adapter.ui.show()``.

        While no UI (or broker) is connected (:attr:`connected` is False),
        its calls raise :class:`~broker.errors.NotConnected` at once instead
        of waiting for their timeout on the DCC's main thread.
        """
        with self._lock:
            if self._closed:
                raise Closed("this host adapter was stopped")
            if self._ui is None:
                self._ui = self._node.proxy(
                    self.ui_endpoint, timeout=self._timeout, before_call=self._check_ui
                )
            return self._ui

    def _check_ui(self) -> None:
        """Before each call to the UI: refuse it at once when no UI is there."""
        # A grace for an announce still in flight: right after start(), a UI
        # that is already listening has not answered yet.
        if self._node.connected or self._node.wait_connected(_UI_GRACE):
            return
        raise NotConnected(
            f"no UI is connected at {self.ui_endpoint}: start a UI there (this host "
            "announces itself when one appears), or check the host's ui= endpoint"
        )

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
        close_dispatcher = getattr(self.dispatcher, "close", None)
        if self._owns_dispatcher and close_dispatcher is not None:
            # Calls waiting on the main thread fail now instead of holding us up.
            close_dispatcher()
        self._node.stop()
        self._stopped.set()
        log.info("host %s stopped", self.id)

    close = stop

    def __enter__(self) -> HostAdapter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<HostAdapter {self.id} at {self.endpoint or 'unbound'} ui={self.ui_endpoint}>"


def serve(service: ServiceLike = None, **options: Any) -> HostAdapter:
    """Serve ``service`` from this process and announce it to the UI.

    Returns at once with a running :class:`HostAdapter`; stop it with
    ``adapter.stop()`` or use it as a context manager. ``options`` are those
    of :class:`HostAdapter` (``name``, ``ui``, ``dispatcher``, ``endpoint``,
    ``heartbeat_interval``, ``timeout``, ``codec``, ``auth``).

    Raises:
        EndpointInUse, BindError: the endpoint cannot be bound.
        TypeError: an option :class:`HostAdapter` does not take.
    """
    return HostAdapter(service, **options).start()
