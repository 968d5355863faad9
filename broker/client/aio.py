"""Call a remote service from asyncio, with any number of calls in flight.

::

    import asyncio
    import broker.aio

    async def main():
        async with broker.aio.connect("tcp://127.0.0.1:54321", timeout=30) as maya:
            await maya.add(5, 10)                                        # 15
            await asyncio.gather(*(maya.add(i, i) for i in range(100)))  # 100 in flight
            await maya.rpc.with_timeout(300).publish()
            await maya.rpc.ping()

An :class:`AsyncProxy` owns one DEALER socket (``zmq.asyncio``) and a reader
task that hands each reply to the call waiting for it, found by msgid. It
behaves like :class:`broker.Proxy`: the same errors (``RemoteError`` and its
subclasses ``MethodNotFound`` and ``InvalidParams``; ``CallTimeout`` after each
call's own timeout; ``HostLost`` when a liveness check fails;
``MessageTooLarge`` and ``TypeError`` before anything is sent; ``Closed``
once closed), the same codec (limits, out-of-band frames arriving
as memoryviews), the proxy's own API under ``proxy.rpc``
(``rpc.with_timeout()``, and ``rpc.host()``/``rpc.hosts()`` through a
broker), views that own nothing. A reply that comes after its call timed
out is dropped.

A proxy belongs to the event loop that first uses it. Importing this module
imports asyncio; ``import broker`` does not.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional

import zmq
import zmq.asyncio

from ..errors import (
    Closed,
    MessageTooLarge,
    ProtocolError,
    RpcError,
)
from ..security.options import AuthLike, Security, resolve
from ..transport.frames import ZERO_COPY_MIN, recv_message, send_message
from ..transport.monitor import ConnectionGuard
from ..wire.calls import Call, CallTable
from ..wire.codec import Codec
from ..wire.envelope import salvage_msgid
from ..wire.messages import DESCRIBE, HOSTS, PING, Response
from .api import ApiBase, HostsPages
from .channel import LIVENESS_SLICE, Liveness
from .proxy import DEFAULT_TIMEOUT, PROXY_NAMES

__all__ = ["connect", "AsyncProxy", "AsyncProxyApi"]

_DRAIN_LIMIT = 256
# How often waiting calls look at their connection (a refused handshake, a drop).
_CONNECTION_SLICE = 0.1
_NOBLOCK = int(zmq.NOBLOCK)


class _AsyncChannel:
    """The socket, the reader task and the calls waiting, shared by proxy views."""

    def __init__(
        self,
        endpoint: str,
        codec: Codec,
        security: Security,
        context: Optional[zmq.asyncio.Context],
        server_key: Optional[Any],
    ) -> None:
        self.endpoint = endpoint
        self.codec = codec
        self._server_key = server_key
        self._own_context = context is None
        self._context = context if context is not None else zmq.asyncio.Context()
        self._sockets = security.sockets(self._context, codec)
        self._socket: Optional[zmq.asyncio.Socket] = None
        self._shadow: Optional[zmq.Socket] = None
        self._reader: Optional[asyncio.Task] = None
        self._calls = CallTable(endpoint)
        self._guard: Optional[ConnectionGuard] = None
        self._guarding = False  # a look at the connection is scheduled
        self.closed = False

    def _open(self) -> zmq.asyncio.Socket:
        socket: Any
        socket, watch = self._sockets.connect_watched(
            zmq.DEALER, self.endpoint, ConnectionGuard.EVENTS, server_key=self._server_key
        )
        self._guard = ConnectionGuard(watch, self.endpoint)
        self._socket = socket
        # The same ZeroMQ socket without asyncio's bookkeeping, for the
        # sends and receives that need no waiting (most of them).
        self._shadow = zmq.Socket.shadow(socket.underlying)
        self._reader = asyncio.get_running_loop().create_task(self._read(socket, self._shadow))
        return socket

    async def request(
        self,
        method: str,
        args: Any,
        kwargs: Optional[Dict[str, Any]],
        timeout: Optional[float],
        liveness: Optional[Liveness],
    ) -> Any:
        if self.closed:
            raise Closed(f"this proxy to {self.endpoint} was closed")
        if liveness is not None:
            liveness()  # a host already known lost fails at once
        # No empty delimiter: one frame less each way, for us and the server.
        call, frames = self._calls.open_request(self.codec, method, args, kwargs, timeout)
        try:
            socket = self._socket or self._open()
            loop = asyncio.get_running_loop()
            call.waiter = loop.create_future()
            await self._send(socket, frames, method)
            timer = None if timeout is None else loop.call_later(timeout, self._expire, call, loop)
            if liveness is not None:
                loop.call_later(LIVENESS_SLICE, self._check_liveness, call, liveness, loop)
            if not self._guarding:
                self._guarding = True
                loop.call_later(_CONNECTION_SLICE, self._check_connection, loop)
            try:
                return await call.waiter
            finally:
                if timer is not None:
                    timer.cancel()
        finally:
            self._calls.discard(call)  # cancelled or failed: a late reply finds nobody

    async def _send(self, socket: zmq.asyncio.Socket, frames: List[Any], method: str) -> None:
        assert self._shadow is not None
        try:
            send_message(self._shadow, frames, _NOBLOCK)
        except zmq.Again:  # the queue to the peer is full: wait for room
            large = any(len(frame) >= ZERO_COPY_MIN for frame in frames)
            await socket.send_multipart(frames, copy=not large)
        except zmq.ZMQError as exc:
            raise RpcError(f"{method} at {self.endpoint}: {exc}") from exc
        else:
            # A send may read incoming messages off the socket's signal; asking
            # for EVENTS makes zmq.asyncio look again, so the reader wakes.
            socket.get(zmq.EVENTS)

    async def _read(self, socket: zmq.asyncio.Socket, shadow: zmq.Socket) -> None:
        try:
            while True:
                first = await socket.recv_multipart(copy=False)
                self._dispatch(
                    [
                        frame.bytes if len(frame) < ZERO_COPY_MIN else frame.buffer.toreadonly()
                        for frame in first
                    ]
                )
                # Whatever else has arrived, without a trip through the loop.
                for _ in range(_DRAIN_LIMIT):
                    try:
                        frames = recv_message(shadow, flags=_NOBLOCK)
                    except zmq.Again:
                        break
                    self._dispatch(frames)
        except zmq.ZMQError as exc:
            if not self.closed:
                self._fail_all(RpcError(f"connection to {self.endpoint}: {exc}"))

    def _dispatch(self, frames: List[Any]) -> None:
        message = frames[1:] if frames and not frames[0] else frames
        try:
            response = self.codec.decode(message)
        except (ProtocolError, MessageTooLarge) as exc:
            _resolve(self._calls.blame(salvage_msgid(message), exc))
            return
        if isinstance(response, Response):
            _resolve(self._calls.settle(response))  # None: it timed out or was cancelled
        # else: a request on a client socket: nobody to answer

    def _expire(self, call: Call, loop: asyncio.AbstractEventLoop) -> None:
        for expired in self._calls.expire():
            _resolve(expired)
        if not call.done and call.deadline is not None:
            # The loop's timer may fire a hair before the table's deadline.
            loop.call_later(max(0.001, call.deadline - time.monotonic()), self._expire, call, loop)

    def _check_liveness(
        self, call: Call, liveness: Liveness, loop: asyncio.AbstractEventLoop
    ) -> None:
        if call.done:
            return
        try:
            liveness()
        except RpcError as exc:
            self._calls.fail(call, exc)
            _resolve(call)
        else:
            loop.call_later(LIVENESS_SLICE, self._check_liveness, call, liveness, loop)

    def _check_connection(self, loop: asyncio.AbstractEventLoop) -> None:
        """While calls wait: fail them all once the connection is refused or drops."""
        self._guarding = False
        if self.closed or self._guard is None or not len(self._calls):
            return
        try:
            self._guard.check("call")
        except RpcError as exc:
            self._fail_all(exc)
            return
        self._guarding = True
        loop.call_later(_CONNECTION_SLICE, self._check_connection, loop)

    def _fail_all(self, error: RpcError) -> None:
        for call in self._calls.fail_all(error):
            _resolve(call)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._fail_all(Closed(f"the proxy to {self.endpoint} closed before the reply came"))
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            try:
                reader.cancel()
            except RuntimeError:  # its loop is already closed: nothing runs it
                pass
        socket, self._socket = self._socket, None
        if self._guard is not None:
            self._guard.close()
            self._guard = None
        if socket is not None:
            try:
                socket.close()
            except RuntimeError:  # pragma: no cover - its loop is closed
                zmq.Socket.shadow(socket.underlying).close()
        if self._own_context:
            self._context.term()


def _resolve(call: Optional[Call]) -> None:
    """Hand a call's outcome to the coroutine awaiting it."""
    future = call.waiter if call is not None else None
    if future is None or future.done():
        return
    error = call.exception()  # type: ignore[union-attr]
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(call.result())  # type: ignore[union-attr]


class AsyncProxy:
    """Calls the methods of one remote endpoint from coroutines.

    ``await proxy.add(5, 10)``; ``await proxy.call("add", 5, 10)`` by name
    (for a remote ``call``, ``close``, ``closed`` or ``rpc`` too). As with
    :class:`broker.Proxy`, every other attribute is a remote method and the
    proxy's own API is ``proxy.rpc`` (:class:`AsyncProxyApi`). Make one with
    :func:`connect`. Closing is idempotent; ``async with`` closes it; closing
    a view (``rpc.with_timeout``, ``rpc.host``) closes only the view.

    Raises (from every call): as :class:`broker.Proxy`.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        context: Optional[zmq.asyncio.Context] = None,
        codec: Optional[Codec] = None,
        auth: AuthLike = True,
        liveness: Optional[Liveness] = None,
        target: Optional[str] = None,
        server_key: Optional[Any] = None,
        _channel: Optional[_AsyncChannel] = None,
    ) -> None:
        self._owns_channel = _channel is None  # else a view: the channel is its parent's
        if _channel is None:
            security = resolve(auth)
            _channel = _AsyncChannel(endpoint, security.codec(codec), security, context, server_key)
        self._channel = _channel
        self._liveness = liveness
        self._target = target
        self._prefix = f"{target}/" if target else ""
        self._methods: Dict[str, Callable[..., Any]] = {}
        self._endpoint = endpoint
        self._timeout = timeout
        self._closed = False

    @property
    def rpc(self) -> AsyncProxyApi:
        """The proxy's own API: timeouts, host views, ``rpc.*`` calls."""
        return AsyncProxyApi(self)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` with ``args`` and ``kwargs``; return its result."""
        return await self._request(self._prefix + method, args, kwargs)

    def close(self) -> None:
        """Close the proxy; calls still waiting fail with :class:`Closed`.

        A proxy from :func:`connect` closes its socket, and so its views; a
        view only stops working itself.
        """
        self._closed = True
        if self._owns_channel:
            self._channel.close()

    @property
    def closed(self) -> bool:
        """Whether this proxy, or the one whose socket it shares, was closed."""
        return self._closed or self._channel.closed

    async def __aenter__(self) -> AsyncProxy:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is None:
            full_name = self._prefix + name

            async def method(*args: Any, **kwargs: Any) -> Any:
                return await self._request(full_name, args, kwargs)

            method.__name__ = method.__qualname__ = name
            self._methods[name] = method
        return method

    def __dir__(self) -> List[str]:
        # Remote methods already used, and the proxy's four names; no dunders.
        return sorted(set(self._methods) | set(PROXY_NAMES))

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"timeout={self._timeout}"
        target = f" target={self._target}" if self._target else ""
        return f"<AsyncProxy {self._endpoint}{target} {state}>"

    async def _request(self, method: str, args: Any, kwargs: Optional[Dict[str, Any]]) -> Any:
        if self._closed:
            raise Closed(f"this view of the proxy to {self._endpoint} was closed")
        return await self._channel.request(method, args, kwargs, self._timeout, self._liveness)

    def _view(self, timeout: Optional[float], target: Optional[str]) -> AsyncProxy:
        if self.closed:
            raise Closed(f"this proxy to {self._endpoint} was closed")
        return AsyncProxy(
            self._endpoint,
            timeout=timeout,
            liveness=self._liveness,
            target=target,
            _channel=self._channel,
        )


class AsyncProxyApi(ApiBase["AsyncProxy"]):
    """An async proxy's own API, apart from the remote methods: ``proxy.rpc``.

    The same as :class:`broker.client.proxy.ProxyApi` (without ``pipeline``:
    every async proxy keeps many calls in flight); ``ping``, ``describe``
    and ``hosts`` are coroutines.
    """

    __slots__ = ()

    async def ping(self) -> Dict[str, Any]:
        """``rpc.ping`` (through a broker host view, the host's)."""
        result: Dict[str, Any] = await self._proxy.call(PING)
        return result

    async def describe(self) -> Dict[str, Any]:
        """``rpc.describe`` (through a broker host view, the host's)."""
        result: Dict[str, Any] = await self._proxy.call(DESCRIBE)
        return result

    async def hosts(
        self, name: Optional[str] = None, state: Optional[str] = None, *, page: int = 500
    ) -> List[Dict[str, Any]]:
        """``rpc.hosts``, paged: see :meth:`broker.client.proxy.ProxyApi.hosts`."""
        pages = HostsPages(name, state, page)
        for query in pages:
            if not pages.take(await self._proxy._request(HOSTS, (query,), None)):
                break
        return pages.found


def connect(
    endpoint: str,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    *,
    context: Optional[zmq.asyncio.Context] = None,
    codec: Optional[Codec] = None,
    auth: AuthLike = True,
    server_key: Optional[Any] = None,
) -> AsyncProxy:
    """An :class:`AsyncProxy` for the service at ``endpoint``.

    Arguments are those of :func:`broker.connect`; ``context``, when given,
    is a ``zmq.asyncio.Context``. Connecting does not wait for the peer (the
    socket is made at the first call, in the running loop).
    """
    return AsyncProxy(
        endpoint, timeout=timeout, context=context, codec=codec, auth=auth, server_key=server_key
    )
