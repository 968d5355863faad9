"""Call a remote service by method name: :func:`connect` and :class:`Proxy`.

::

    >>> import broker
    >>> with broker.connect("tcp://127.0.0.1:54321", timeout=5) as maya:
    ...     maya.add(5, 10)
    15

A proxy holds one REQ socket (``REQ_RELAXED`` + ``REQ_CORRELATE``). After a
timeout it throws the socket away and opens a fresh one (the ZeroMQ Guide's
"Lazy Pirate"), so a missed reply never leaves it stuck and a request that
was never delivered is never delivered late. One call runs at a time per
proxy; calls from several threads wait their turn.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

import zmq

from ..errors import (
    CallTimeout,
    Closed,
    HostLost,
    MessageTooLarge,
    ProtocolError,
    RpcError,
    Unauthorized,
    from_error_map,
)
from ..security.keys import make_codec
from ..transport.frames import recv_message, send_message
from ..transport.sockets import SocketFactory
from ..wire.codec import Codec
from ..wire.messages import DESCRIBE, HOSTS, Response

if TYPE_CHECKING:
    from ..security.curve import Curve
    from .pipeline import Pipeline

__all__ = ["connect", "Proxy", "RemoteMethod", "DEFAULT_TIMEOUT"]

#: Seconds a call waits for its reply unless told otherwise.
DEFAULT_TIMEOUT = 30.0
# How often a call that waits on a host checks whether the host was lost.
_LIVENESS_SLICE = 0.05
# How often a long wait checks that its connection still stands.
_CONNECTION_SLICE = 0.1
_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
_WATCHED_EVENTS = zmq.EVENT_DISCONNECTED | _HANDSHAKE_FAILED

#: Raises HostLost (or another RpcError) when the peer is known to be gone.
Liveness = Callable[[], None]


class _Channel:
    """The socket, its lock and the msgid counter, shared by proxy views."""

    def __init__(
        self,
        endpoint: str,
        context: Optional[zmq.Context],
        codec: Codec,
        curve: Optional[Curve] = None,
        server_key: Optional[Any] = None,
    ) -> None:
        self._server_key = server_key
        self.endpoint = endpoint
        self.codec = codec
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._sockets = SocketFactory(
            self._context, max_message_size=codec.max_message_size, curve=curve
        )
        self._socket: Optional[zmq.Socket] = None
        self._monitor: Optional[zmq.Socket] = None
        self._rcvtimeo = -1  # the socket's RCVTIMEO, set only when it changes
        self._pipelines: Set[Pipeline] = set()
        self._lock = threading.Lock()
        self._msgid = 0
        self.closed = False

    def new_socket(self, kind: int) -> zmq.Socket:
        """A socket of ``kind`` connected to the endpoint, with this channel's
        limits and CURVE settings (a pipeline makes its DEALER here)."""
        if self.closed:
            raise Closed(f"this proxy to {self.endpoint} was closed")
        return self._sockets.connect(kind, self.endpoint, server_key=self._server_key)

    def track(self, pipeline: Pipeline) -> None:
        """Remember an open pipeline, to close it if the channel closes first."""
        with self._lock:
            if self.closed:
                pipeline.close()
                raise Closed(f"this proxy to {self.endpoint} was closed")
            self._pipelines.add(pipeline)

    def untrack(self, pipeline: Pipeline) -> None:
        self._pipelines.discard(pipeline)

    def _open(self) -> zmq.Socket:
        socket = self._socket = self.new_socket(zmq.REQ)
        # Tells a long wait that the connection carrying the request dropped:
        # its reply can then never come (Lazy Pirate alone would wait forever
        # when the timeout is None).
        self._monitor = socket.get_monitor_socket(_WATCHED_EVENTS)
        self._rcvtimeo = -1
        return socket

    def _discard_socket(self) -> None:
        if self._socket is not None:
            if self._monitor is not None:
                self._socket.disable_monitor()
                self._monitor.close()
                self._monitor = None
            self._socket.close()
            self._socket = None

    def _forget_disconnects(self) -> None:
        """Drop disconnect events from before this request."""
        monitor = self._monitor
        while monitor is not None and monitor.poll(0):
            monitor.recv_multipart()

    def _check_connection(self, method: str) -> None:
        """Raise if, since :meth:`_forget_disconnects`, the connection dropped
        (the reply can never come) or its security handshake was refused."""
        from zmq.utils.monitor import recv_monitor_message

        monitor = self._monitor
        while monitor is not None and monitor.poll(0):
            event = recv_monitor_message(monitor)["event"]
            if event & _HANDSHAKE_FAILED:
                raise Unauthorized(
                    f"{method} at {self.endpoint}: the endpoint refused the security "
                    "handshake (CURVE key not authorized, or CURVE on one side only)"
                )
            if event == zmq.EVENT_DISCONNECTED:
                raise HostLost(
                    f"{method} at {self.endpoint}: the connection dropped while waiting "
                    "for the reply (the call may or may not have run)"
                )

    def request(
        self,
        method: str,
        args: Any,
        kwargs: Optional[Dict[str, Any]],
        timeout: Optional[float],
        liveness: Optional[Liveness],
    ) -> Any:
        with self._lock:
            if self.closed:
                raise Closed(f"this proxy to {self.endpoint} was closed")
            if liveness is not None:
                liveness()  # a host already known lost fails at once
            self._msgid = msgid = (self._msgid + 1) & 0xFFFFFFFF
            # Encoding first: a too-large or unencodable call sends nothing.
            frames = self.codec.encode_request(msgid, method, args, kwargs)
            socket = self._socket or self._open()
            self._forget_disconnects()
            try:
                send_message(socket, frames)
                return self._wait(socket, msgid, method, timeout, liveness)
            except zmq.ZMQError as exc:
                self._discard_socket()
                raise RpcError(f"{method} at {self.endpoint}: {exc}") from exc
            except BaseException:
                # Timeout, lost host, Ctrl-C: whatever was in flight is abandoned.
                self._discard_socket()
                raise

    def _wait(
        self,
        socket: zmq.Socket,
        msgid: int,
        method: str,
        timeout: Optional[float],
        liveness: Optional[Liveness],
    ) -> Any:
        # A blocking receive under RCVTIMEO rather than poll() then receive:
        # one call into ZeroMQ per reply instead of two. The first wait is the
        # whole timeout (the same value call after call: no setsockopt).
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = timeout
        while True:
            if liveness is not None and (wait is None or wait > _LIVENESS_SLICE):
                wait = _LIVENESS_SLICE
            elif wait is None or wait > _CONNECTION_SLICE:
                wait = _CONNECTION_SLICE
            timeout_ms = -1 if wait is None else max(1, int(wait * 1000))
            if timeout_ms != self._rcvtimeo:
                socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
                self._rcvtimeo = timeout_ms
            try:
                response = self._receive(socket, method)
            except zmq.Again:  # this wait passed without a reply
                if liveness is not None:
                    liveness()
                self._check_connection(method)
            else:
                if response.msgid == msgid:
                    if response.error is not None:
                        raise from_error_map(response.error, endpoint=self.endpoint, method=method)
                    return response.result
                # REQ_CORRELATE already drops stale replies; this is belt and braces.
            if deadline is None:
                wait = None
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise CallTimeout(f"{method} at {self.endpoint}: no reply within {timeout:g} s")

    def _receive(self, socket: zmq.Socket, method: str) -> Response:
        frames = recv_message(socket, 3 if self.codec.signer is not None else 1)
        try:
            message = self.codec.decode(frames)
        except (ProtocolError, Unauthorized, MessageTooLarge) as exc:
            raise type(exc)(f"reply to {method} from {self.endpoint}: {exc}") from exc
        if not isinstance(message, Response):
            raise ProtocolError(f"reply to {method} from {self.endpoint} is a request")
        return message

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._discard_socket()
            pipelines = list(self._pipelines)
        for pipeline in pipelines:  # left open: term() would wait for them forever
            pipeline.close()
        if self._own_context:
            self._context.term()


class Proxy:
    """Calls the methods of one remote endpoint as if they were local.

    ``proxy.add(5, 10)`` calls ``add`` remotely and returns its result;
    ``proxy.call("rpc.ping")`` calls names that are not identifiers or that
    clash with the proxy's own attributes (``call``, ``close``, ``closed``,
    ``endpoint``, ``timeout``, ``target``, ``with_timeout``, ``host``,
    ``hosts``). ``dir(proxy)`` and ``help(proxy.add)`` show the remote
    methods, their signatures and docstrings.

    Against a broker, ``proxy.hosts()`` lists the hosts and
    ``proxy.host("maya")`` is a proxy whose calls go to ``maya/METHOD``.

    Use :func:`connect` to make one. Closing is idempotent; a proxy is a
    context manager.

    Raises (from every call):
        RemoteError: the remote function raised (``MethodNotFound`` and
            ``InvalidParams`` are subclasses).
        CallTimeout: no reply within the timeout.
        HostLost: the host was lost while the call waited (UI proxies).
        MessageTooLarge: the call is over the size limit; nothing was sent.
        Closed: the proxy was closed.
        TypeError: an argument msgpack cannot carry.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        context: Optional[zmq.Context] = None,
        codec: Optional[Codec] = None,
        auth: bool = True,
        key_file: Optional[str] = None,
        liveness: Optional[Liveness] = None,
        target: Optional[str] = None,
        curve: Optional[Curve] = None,
        server_key: Optional[Any] = None,
        _channel: Optional[_Channel] = None,
    ) -> None:
        self._channel = _channel or _Channel(
            endpoint,
            context,
            make_codec(codec, auth=auth, key_file=key_file),
            curve=curve,
            server_key=server_key,
        )
        self._liveness = liveness
        #: Through a broker: the host id or name every call goes to.
        self.target = target
        self._prefix = f"{target}/" if target else ""
        self._description: Optional[Dict[str, Dict[str, str]]] = None
        self._method_cache: Dict[str, RemoteMethod] = {}
        self.endpoint = endpoint
        #: Seconds each call waits for its reply; None waits while the host lives.
        self.timeout = timeout

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` with ``args`` and ``kwargs``; return its result."""
        return self._channel.request(
            self._prefix + method, args, kwargs, self.timeout, self._liveness
        )

    def with_timeout(self, timeout: Optional[float]) -> Proxy:
        """A view of this proxy whose calls use ``timeout``; shares the socket.

        ``proxy.with_timeout(120).bake_simulation()``
        """
        view = Proxy(
            self.endpoint,
            timeout=timeout,
            liveness=self._liveness,
            target=self.target,
            _channel=self._channel,
        )
        view._description = self._description
        return view

    def host(self, target: str) -> Proxy:
        """Through a broker: a view whose calls go to the host ``target``.

        ``target`` is a host id (that host) or a name (the least recently
        used idle host of that name, chosen per call). Shares the socket.
        """
        if not target or "/" in target:
            raise ValueError(f"a host id or name is non-empty and has no '/': {target!r}")
        return Proxy(
            self.endpoint,
            timeout=self.timeout,
            liveness=self._liveness,
            target=target,
            _channel=self._channel,
        )

    def pipeline(self, window: int = 64) -> Pipeline:
        """Calls that do not wait for the replies of the ones before.

        ::

            with proxy.pipeline(window=64) as pipeline:
                replies = [pipeline.add(i, i) for i in range(1000)]
            [reply.result() for reply in replies]

        Each call returns a :class:`~broker.client.pipeline.PendingCall` at once; at
        most ``window`` wait for their replies. The pipeline has its own
        socket and belongs to the thread that made it; see
        :mod:`broker.client.pipeline`.
        """
        from .pipeline import Pipeline

        return Pipeline(
            self._channel,
            timeout=self.timeout,
            liveness=self._liveness,
            prefix=self._prefix,
            window=window,
        )

    def hosts(self) -> List[Dict[str, Any]]:
        """The hosts a broker or UI endpoint knows, with ``state`` and ``last_seen``."""
        return self._channel.request(HOSTS, (), None, self.timeout, self._liveness)

    def close(self) -> None:
        """Close the socket (and the private context, if the proxy made one)."""
        self._channel.close()

    @property
    def closed(self) -> bool:
        return self._channel.closed

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> RemoteMethod:
        # Dunder and private lookups (copy, pickle, IPython probing
        # _repr_html_) must fail here, not turn into remote calls.
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._method_cache.get(name)
        if method is None:
            method = self._method_cache[name] = RemoteMethod(self, name)
        return method

    def __dir__(self) -> List[str]:
        names = set(super().__dir__())
        names.update(self._methods())
        return sorted(names)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"timeout={self.timeout}"
        target = f" target={self.target}" if self.target else ""
        return f"<Proxy {self.endpoint}{target} {state}>"

    def _methods(self) -> Dict[str, Dict[str, str]]:
        """The remote description by method name, fetched once; {} if unavailable."""
        if self._description is None:
            try:
                description = self.with_timeout(min(self.timeout or 5.0, 5.0)).call(DESCRIBE)
                self._description = {
                    method["name"]: method for method in description.get("methods", [])
                }
            except (RpcError, AttributeError, KeyError, TypeError):
                return {}
        return self._description


class RemoteMethod:
    """A remote method bound to a proxy: call it, or ask ``help()`` about it."""

    def __init__(self, proxy: Proxy, name: str) -> None:
        self._proxy = proxy
        self.__name__ = name
        self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        proxy = self._proxy
        return proxy._channel.request(
            proxy._prefix + self.__name__, args, kwargs, proxy.timeout, proxy._liveness
        )

    # Having __get__ makes inspect (and so pydoc's help) treat this as a routine.
    def __get__(self, obj: Any, objtype: Any = None) -> RemoteMethod:
        return self

    @property
    def __doc__(self) -> Optional[str]:  # type: ignore[override]
        return self._proxy._methods().get(self.__name__, {}).get("doc") or None

    @property
    def __signature__(self) -> Any:
        text = self._proxy._methods().get(self.__name__, {}).get("signature")
        return _parse_signature(text) if text else None

    def __repr__(self) -> str:
        return f"<remote method {self.__name__} of {self._proxy!r}>"


class _Text:
    """Shows a remote default value or annotation exactly as the remote wrote it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _parse_signature(text: str) -> Any:
    """An ``inspect.Signature`` from a remote signature's text, or None.

    Parsed with ``ast``, never evaluated: default values stay text.
    """
    import ast
    import inspect

    try:
        node = ast.parse(f"def _remote{text}: pass").body[0]
    except (SyntaxError, ValueError):
        return None
    assert isinstance(node, ast.FunctionDef)
    spec = node.args
    empty = inspect.Parameter.empty

    def text_of(expr: Optional[ast.expr]) -> Any:
        return empty if expr is None else _Text(ast.unparse(expr))

    params = []
    positional: List[Tuple[ast.arg, Any]]
    positional = [(a, inspect.Parameter.POSITIONAL_ONLY) for a in spec.posonlyargs]
    positional += [(a, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in spec.args]
    defaults = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
    for (arg, kind), default in zip(positional, defaults):
        params.append(
            inspect.Parameter(
                arg.arg, kind, default=text_of(default), annotation=text_of(arg.annotation)
            )
        )
    if spec.vararg:
        params.append(
            inspect.Parameter(
                spec.vararg.arg,
                inspect.Parameter.VAR_POSITIONAL,
                annotation=text_of(spec.vararg.annotation),
            )
        )
    for arg, default in zip(spec.kwonlyargs, spec.kw_defaults):
        params.append(
            inspect.Parameter(
                arg.arg,
                inspect.Parameter.KEYWORD_ONLY,
                default=text_of(default),
                annotation=text_of(arg.annotation),
            )
        )
    if spec.kwarg:
        params.append(
            inspect.Parameter(
                spec.kwarg.arg,
                inspect.Parameter.VAR_KEYWORD,
                annotation=text_of(spec.kwarg.annotation),
            )
        )
    try:
        return inspect.Signature(params, return_annotation=text_of(node.returns))
    except ValueError:
        return None


def connect(
    endpoint: str,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    *,
    context: Optional[zmq.Context] = None,
    codec: Optional[Codec] = None,
    auth: bool = True,
    key_file: Optional[str] = None,
    curve: Optional[Curve] = None,
    server_key: Optional[Any] = None,
) -> Proxy:
    """A :class:`Proxy` for the service at ``endpoint``.

    Arguments:
        endpoint: e.g. ``"tcp://127.0.0.1:54321"`` (a host) or the UI endpoint.
        timeout: default seconds per call; None waits as long as it takes.
        context: a zmq context to share; by default the proxy makes its own
            and terminates it on close.
        codec: limits, signing and hooks; overrides ``auth`` and ``key_file``.
        auth: sign every message with the user's key (see :mod:`broker.security.keys`);
            False talks to endpoints that run without authentication.
        key_file: the key file; default ``$BROKER_KEY_FILE`` or the user's.
        curve: encrypt with CURVE (see :mod:`broker.security.curve`), for endpoints
            on other machines; ``server_key`` is the endpoint's public key
            when it is not ``curve``'s configured server.

    Connecting does not wait for the peer: a call to an endpoint nobody
    serves raises :class:`CallTimeout` when its timeout passes.
    """
    return Proxy(
        endpoint,
        timeout=timeout,
        context=context,
        codec=codec,
        auth=auth,
        key_file=key_file,
        curve=curve,
        server_key=server_key,
    )
