"""Call a remote service by method name: :func:`connect` and :class:`Proxy`.

::

    >>> import broker
    >>> with broker.connect("tcp://127.0.0.1:54321", timeout=5) as maya:
    ...     maya.add(5, 10)
    15

A proxy and its views share one :class:`~broker.client.channel.Channel`: a
REQ socket, reopened after a timeout ("Lazy Pirate"). One call runs at a
time per channel; calls from several threads wait their turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

import zmq

from ..errors import RpcError
from ..security.options import AuthLike, resolve
from ..wire.codec import Codec
from ..wire.messages import DESCRIBE, HOSTS, HostRecord
from .channel import Channel, Liveness
from .introspection import RemoteMethod, methods_by_name

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["connect", "Proxy", "RemoteMethod", "DEFAULT_TIMEOUT"]

#: Seconds a call waits for its reply unless told otherwise.
DEFAULT_TIMEOUT = 30.0


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
        auth: AuthLike = True,
        liveness: Optional[Liveness] = None,
        target: Optional[str] = None,
        server_key: Optional[Any] = None,
        _channel: Optional[Channel] = None,
    ) -> None:
        if _channel is None:
            security = resolve(auth)
            _channel = Channel(endpoint, security.codec(codec), security, context, server_key)
        self._channel = _channel
        self._liveness = liveness
        #: Through a broker: the host id or name every call goes to.
        self.target = target
        self._prefix = f"{target}/" if target else ""
        self._description: Optional[Dict[str, Dict[str, Any]]] = None
        self._method_cache: Dict[str, RemoteMethod] = {}
        self.endpoint = endpoint
        #: Seconds each call waits for its reply; None waits while the host lives.
        self.timeout = timeout

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
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

    def hosts(self) -> List[HostRecord]:
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
            method = self._method_cache[name] = RemoteMethod(
                self.call, name, self._describe_method, self
            )
        return method

    def __dir__(self) -> List[str]:
        names = set(super().__dir__())
        names.update(self._methods())
        return sorted(names)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"timeout={self.timeout}"
        target = f" target={self.target}" if self.target else ""
        return f"<Proxy {self.endpoint}{target} {state}>"

    def _methods(self) -> Dict[str, Dict[str, Any]]:
        """The remote description by method name, fetched once; {} if unavailable."""
        if self._description is None:
            try:
                description = self.with_timeout(min(self.timeout or 5.0, 5.0)).call(DESCRIBE)
            except RpcError:
                return {}
            self._description = methods_by_name(description)
        return self._description

    def _describe_method(self, name: str) -> Dict[str, Any]:
        return self._methods().get(name, {})


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
