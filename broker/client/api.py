"""What the proxies, sync and async, keep under ``proxy.rpc``: their own API.

Every other attribute of a proxy is a remote method, so a proxy's own
settings and views live apart, under one name no service may define
(``rpc``, like the protocol's reserved ``rpc.*`` methods). :class:`ApiBase`
holds what both kinds share; :class:`broker.client.proxy.ProxyApi` and
:class:`broker.client.aio.AsyncProxyApi` add the calls, plain or as
coroutines. :func:`hosts_pages` is how both page through ``rpc.hosts``.
"""

from __future__ import annotations

from typing import Any, Dict, Generic, Iterator, List, Optional, Protocol, TypeVar

from ..errors import ProtocolError

__all__ = ["ApiBase", "HostsPages"]

#: Pages of ``rpc.hosts`` a proxy asks for at most (5 million hosts at 500 a page).
MAX_PAGES = 10_000


class _Viewable(Protocol):
    _endpoint: str
    _target: Optional[str]
    _timeout: Optional[float]

    def _view(self, timeout: Optional[float], target: Optional[str]) -> Any: ...


P = TypeVar("P", bound=_Viewable)


class ApiBase(Generic[P]):
    """``proxy.rpc``: the proxy's settings and views."""

    __slots__ = ("_proxy",)

    def __init__(self, proxy: P) -> None:
        self._proxy = proxy

    @property
    def endpoint(self) -> str:
        """Where the proxy connects, e.g. ``"tcp://127.0.0.1:54321"``."""
        return self._proxy._endpoint

    @property
    def target(self) -> Optional[str]:
        """Through a broker: the host id or name every call goes to; else None."""
        return self._proxy._target

    @property
    def timeout(self) -> Optional[float]:
        """Seconds each call waits for its reply; None waits while the host lives."""
        return self._proxy._timeout

    def with_timeout(self, timeout: Optional[float]) -> P:
        """A view whose calls use ``timeout``; shares the socket, owns nothing.

        ``proxy.rpc.with_timeout(120).bake_simulation()``
        """
        view: P = self._proxy._view(timeout, self._proxy._target)
        return view

    def host(self, target: str) -> P:
        """Through a broker: a view whose calls go to the host ``target``.

        ``target`` is a host id (that host) or a name (the least loaded live
        host of that name, chosen per call). The view shares the socket and
        owns nothing: closing it leaves this proxy open.

        Raises:
            ValueError: ``target`` is empty or has a ``/``.
        """
        if not target or "/" in target:
            raise ValueError(f"a host id or name is non-empty and has no '/': {target!r}")
        view: P = self._proxy._view(self._proxy._timeout, target)
        return view

    def __repr__(self) -> str:
        return f"<rpc of {self._proxy!r}>"


class HostsPages:
    """The queries that page through ``rpc.hosts``: send :attr:`query`, give
    each page to :meth:`take`, until it returns False; then :attr:`found`."""

    def __init__(self, name: Optional[str], state: Optional[str], page: int) -> None:
        if page < 1:
            raise ValueError("page must be at least 1")
        self.page = page
        self.query: Dict[str, Any] = {"limit": page}
        if name is not None:
            self.query["name"] = name
        if state is not None:
            self.query["state"] = state
        self.found: List[Dict[str, Any]] = []

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """The query for each page, at most :data:`MAX_PAGES`."""
        for _ in range(MAX_PAGES):
            yield self.query
        raise ProtocolError(f"rpc.hosts sent more than {MAX_PAGES} pages: is it paging?")

    def take(self, batch: List[Dict[str, Any]]) -> bool:
        """Keep ``batch``; whether there may be more."""
        self.found += batch
        if len(batch) < self.page:
            return False
        after = self.query.get("after")
        if after is not None and not batch[-1]["id"] > after:
            raise ProtocolError("rpc.hosts does not page: the same hosts came back")
        self.query["after"] = batch[-1]["id"]
        return True
