"""Call a remote service by method name: :func:`connect` and :class:`Proxy`.

::

    >>> import broker
    >>> with broker.connect("tcp://127.0.0.1:54321", timeout=5) as maya:
    ...     maya.add(5, 10)
    15

Every attribute of a proxy is a remote method except ``call``, ``close``,
``closed`` and ``rpc``; the proxy's own API lives under ``proxy.rpc``
(:class:`ProxyApi`), so a remote method named ``host`` or ``timeout`` is
never hidden::

    >>> maya.rpc.with_timeout(300).publish()       # a view with another timeout
    >>> broker.connect(BROKER).rpc.host("nuke").ls()   # a view of one host

A proxy and its views share one :class:`~broker.client.channel.Channel`: a
REQ socket, reopened after a timeout ("Lazy Pirate"). One call runs at a
time per channel; calls from several threads wait their turn. The proxy
that made the channel owns it; closing a view closes only the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import zmq

from ..errors import Closed, RpcError
from ..security.options import AuthLike, resolve
from ..wire.codec import Codec
from ..wire.messages import DESCRIBE, HOSTS, PING, HostRecord
from .api import ApiBase, HostsPages
from .channel import Channel, Liveness
from .introspection import RemoteMethod, methods_by_name

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["connect", "Proxy", "ProxyApi", "RemoteMethod", "DEFAULT_TIMEOUT", "PROXY_NAMES"]

#: Seconds a call waits for its reply unless told otherwise.
DEFAULT_TIMEOUT = 30.0


class Proxy:
    """Calls the methods of one remote endpoint as if they were local.

    Every attribute of a proxy is a remote method, except five:
    ``proxy.add(5, 10)`` calls ``add`` remotely and returns its result;
    ``proxy.call("add", 5, 10)`` does the same by name (for names that are
    not identifiers, and for a remote ``call``, ``close``, ``closed`` or
    ``rpc``); ``close()`` and ``closed``; and ``proxy.rpc``, the proxy's own
    API (:class:`ProxyApi`: timeouts, broker host views, pipelines, the
    protocol's reserved ``rpc.*`` calls). ``dir(proxy)`` lists the remote
    methods; ``help(proxy.add)`` shows a remote signature and docstring.

    Against a broker, ``proxy.rpc.hosts()`` lists the hosts and
    ``proxy.rpc.host("maya")`` is a view whose calls go to ``maya/METHOD``.

    A proxy made by :func:`connect` owns its socket: closing it closes every
    view made from it. A view (``rpc.with_timeout``, ``rpc.host``) shares the
    socket and owns nothing: closing it only closes the view. Closing is
    idempotent; a proxy is a context manager.

    Adapters make proxies with two more arguments: ``liveness()`` raises
    (``HostLost``) once the host is known lost, before and while a call
    waits; ``before_call()`` raises before a call is sent (a host's
    ``adapter.ui``: ``NotConnected`` while no UI is there).

    Raises (from every call):
        RemoteError: the remote function raised (``MethodNotFound`` and
            ``InvalidParams`` are subclasses).
        CallTimeout: no reply within the timeout.
        HostLost: the host was lost while the call waited (UI proxies).
        MessageTooLarge: the call is over the size limit; nothing was sent.
        Closed: the proxy (or the proxy it is a view of) was closed.
        TypeError: an argument msgpack cannot carry.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        context: Optional[zmq.Context] = None,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
        liveness: Optional[Liveness] = None,
        target: Optional[str] = None,
        server_key: Optional[Any] = None,
        before_call: Optional[Callable[[], None]] = None,
        _channel: Optional[Channel] = None,
    ) -> None:
        # A proxy given a channel is a view: the channel is its parent's.
        self._owns_channel = _channel is None
        if _channel is None:
            security = resolve(auth)
            _channel = Channel(endpoint, security.codec(codec), security, context, server_key)
        self._channel = _channel
        self._liveness = liveness
        self._before_call = before_call
        self._target = target
        self._prefix = f"{target}/" if target else ""
        self._description: Optional[Dict[str, Dict[str, Any]]] = None
        self._method_cache: Dict[str, RemoteMethod] = {}
        self._endpoint = endpoint
        self._timeout = timeout
        self._closed = False

    @property
    def rpc(self) -> ProxyApi:
        """The proxy's own API: timeouts, host views, pipelines, ``rpc.*`` calls."""
        return ProxyApi(self)

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` with ``args`` and ``kwargs``; return its result.

        Reaches any remote name: ``proxy.call("close")`` calls a remote
        ``close``, ``proxy.call("rpc.ping")`` a reserved method.
        """
        return self._request(self._prefix + method, args, kwargs)

    def close(self) -> None:
        """Close the proxy. Idempotent.

        A proxy from :func:`connect` closes its socket (and its private
        context, if it made one), so its views and pipelines close too; a
        view only stops working itself.
        """
        self._closed = True
        if self._owns_channel:
            self._channel.close()

    @property
    def closed(self) -> bool:
        """Whether this proxy, or the one whose socket it shares, was closed."""
        return self._closed or self._channel.closed

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
            method = self._method_cache[name] = RemoteMethod(
                self.call, name, self._describe_method, self
            )
        return method

    def __dir__(self) -> List[str]:
        # What tab completion offers: the remote methods and the proxy's four names.
        return sorted(set(self._methods()) | set(PROXY_NAMES))

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"timeout={self._timeout}"
        target = f" target={self._target}" if self._target else ""
        return f"<Proxy {self._endpoint}{target} {state}>"

    def _request(self, method: str, args: Any, kwargs: Optional[Dict[str, Any]]) -> Any:
        if self._closed:
            raise Closed(f"this view of the proxy to {self._endpoint} was closed")
        if self._before_call is not None:
            self._before_call()  # e.g. NotConnected: a peer known absent, nothing sent
        return self._channel.request(method, args, kwargs, self._timeout, self._liveness)

    def _view(self, timeout: Optional[float], target: Optional[str]) -> Proxy:
        """A proxy sharing this one's socket, with its own timeout and target."""
        if self.closed:
            raise Closed(f"this proxy to {self._endpoint} was closed")
        view = Proxy(
            self._endpoint,
            timeout=timeout,
            liveness=self._liveness,
            target=target,
            before_call=self._before_call,
            _channel=self._channel,
        )
        if target == self._target:
            view._description = self._description
        return view

    def _methods(self) -> Dict[str, Dict[str, Any]]:
        """The remote description by method name, fetched once; {} if unavailable."""
        if self._description is None:
            if self.closed:
                return {}
            try:
                description = self._view(min(self._timeout or 5.0, 5.0), self._target).call(
                    DESCRIBE
                )
            except RpcError:
                return {}
            self._description = methods_by_name(description)
        return self._description

    def _describe_method(self, name: str) -> Dict[str, Any]:
        return self._methods().get(name, {})


#: The only attributes of a :class:`Proxy` that are not remote methods.
PROXY_NAMES = ("call", "close", "closed", "rpc")


class ProxyApi(ApiBase["Proxy"]):
    """A proxy's own API, kept apart from the remote methods: ``proxy.rpc``.

    Its calls (``ping``, ``describe``, ``hosts``) are the protocol's reserved
    ``rpc.*`` methods, which no service can define. The presence methods
    (``rpc.announce``, ``rpc.heartbeat``, ``rpc.depart``) are for hosts and
    UIs announcing themselves; reach them with ``proxy.call("rpc.announce",
    info)`` if you write one.
    """

    __slots__ = ()

    def pipeline(self, window: int = 64) -> Pipeline:
        """Calls that do not wait for the replies of the ones before.

        ::

            with proxy.rpc.pipeline(window=64) as pipeline:
                replies = [pipeline.add(i, i) for i in range(1000)]
            [reply.result() for reply in replies]

        Each call returns a :class:`~broker.client.pipeline.PendingCall` at once; at
        most ``window`` wait for their replies. The pipeline has its own
        socket and belongs to the thread that made it; see
        :mod:`broker.client.pipeline`.

        Raises:
            Closed: the proxy was closed.
        """
        from .pipeline import Pipeline

        proxy = self._proxy
        if proxy.closed:
            raise Closed(f"this proxy to {proxy._endpoint} was closed")
        return Pipeline(
            proxy._channel,
            timeout=proxy._timeout,
            liveness=proxy._liveness,
            prefix=proxy._prefix,
            window=window,
        )

    def ping(self) -> Dict[str, Any]:
        """``rpc.ping``: the endpoint's ``name``, ``id``, ``pid``, ``state`` and
        ``protocol`` (a broker and a UI add their ``role``). Through a broker
        host view, the host's."""
        result: Dict[str, Any] = self._proxy.call(PING)
        return result

    def describe(self) -> Dict[str, Any]:
        """``rpc.describe``: ``name``, ``id``, ``protocol`` and ``methods``
        (``[{"name", "signature", "doc"}]``). Through a broker host view, the host's."""
        result: Dict[str, Any] = self._proxy.call(DESCRIBE)
        return result

    def hosts(
        self, name: Optional[str] = None, state: Optional[str] = None, *, page: int = 500
    ) -> List[HostRecord]:
        """``rpc.hosts``: the hosts a broker or UI endpoint knows (of ``name``,
        in ``state``, when given), with ``state`` and ``last_seen``, in the
        order of their ids. Asked of the endpoint itself, even from a host
        view, ``page`` hosts at a time, so that a farm's list never makes one
        oversized reply."""
        pages = HostsPages(name, state, page)
        for query in pages:
            if not pages.take(self._proxy._request(HOSTS, (query,), None)):
                break
        return pages.found  # type: ignore[return-value]


def connect(
    endpoint: str,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    *,
    context: Optional[zmq.Context] = None,
    codec: Optional[Codec] = None,
    auth: AuthLike = True,
    server_key: Optional[Any] = None,
) -> Proxy:
    """A :class:`Proxy` for the service at ``endpoint``.

    Arguments:
        endpoint: e.g. ``"tcp://127.0.0.1:54321"`` (a host) or the UI endpoint.
        timeout: default seconds per call; None waits as long as it takes.
        context: a zmq context to share; by default the proxy makes its own
            and terminates it on close.
        codec: limits and hooks.
        auth: ``True`` proves this is the user's own process with the user's
            key (see :mod:`broker.security.options`); ``False`` talks to
            endpoints that run without authentication; a
            :class:`~broker.security.options.Security` names another key
            file, or another machine's key.
        server_key: with CURVE, the endpoint's public key when it is not the
            user's own (a host on another machine announces its own).

    Connecting does not wait for the peer: a call to an endpoint nobody
    serves raises :class:`CallTimeout` when its timeout passes.

    Raises:
        KeyFileError: the key file is unusable.
    """
    return Proxy(
        endpoint, timeout=timeout, context=context, codec=codec, auth=auth, server_key=server_key
    )
