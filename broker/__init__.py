"""Host <-> UI messaging over ZeroMQ and msgpack: the shared core.

::

    import broker

    proxy = broker.connect("tcp://127.0.0.1:54321", timeout=30)
    proxy.add(5, 10)            # 15
    proxy.rpc.ping()            # {"name", "id", "pid", "state", "protocol"}
    proxy.rpc.with_timeout(300).bake()   # the proxy's own API lives under proxy.rpc
    proxy.close()

The layers, one folder each (see docs/design.md): :mod:`broker.wire` (the
protocol without I/O), :mod:`broker.transport` (sockets),
:mod:`broker.security`, :mod:`broker.client` (proxies), :mod:`broker.serve`
(serving), :mod:`broker.presence` (announcing, the host registry) and
:mod:`broker.relay` (the standalone broker, ``python -m broker``).

Importing opens no socket and starts no thread, and loads each of the names
below only when it is first used (the errors load at once).
"""

from typing import TYPE_CHECKING, Any, List

from .errors import (
    Broken,
    CallTimeout,
    Closed,
    Disconnected,
    EndpointInUse,
    HostLost,
    HostNotFound,
    InvalidParams,
    KeyFileError,
    MessageTooLarge,
    MethodNotFound,
    NotConnected,
    Overloaded,
    ProtocolError,
    RemoteError,
    RpcError,
    Unauthorized,
)

if TYPE_CHECKING:
    from .client.proxy import DEFAULT_TIMEOUT, Proxy, connect
    from .relay.broker import Broker, start_broker
    from .security.options import Security
    from .serve.service import Service, as_service
    from .transport.endpoints import DEFAULT_UI_ENDPOINT, UI_ENDPOINT_ENV
    from .wire.codec import Codec
    from .wire.messages import PROTOCOL_VERSION

__version__ = "0.1.0"

__all__ = [
    "connect",
    "Broker",
    "start_broker",
    "Proxy",
    "DEFAULT_TIMEOUT",
    "DEFAULT_UI_ENDPOINT",
    "UI_ENDPOINT_ENV",
    "PROTOCOL_VERSION",
    "Codec",
    "Security",
    "Service",
    "as_service",
    "RpcError",
    "RemoteError",
    "MethodNotFound",
    "InvalidParams",
    "CallTimeout",
    "HostLost",
    "HostNotFound",
    "NotConnected",
    "Overloaded",
    "Unauthorized",
    "KeyFileError",
    "ProtocolError",
    "MessageTooLarge",
    "EndpointInUse",
    "Broken",
    "Disconnected",
    "Closed",
]


# What loads when first asked for: a host that imports this package pays
# for the modules it uses, not for the shell's proxy or the standalone broker.
_LAZY = {
    "connect": ".client.proxy",
    "Proxy": ".client.proxy",
    "DEFAULT_TIMEOUT": ".client.proxy",
    "Broker": ".relay.broker",
    "start_broker": ".relay.broker",
    "Security": ".security.options",
    "Service": ".serve.service",
    "as_service": ".serve.service",
    "DEFAULT_UI_ENDPOINT": ".transport.endpoints",
    "UI_ENDPOINT_ENV": ".transport.endpoints",
    "Codec": ".wire.codec",
    "PROTOCOL_VERSION": ".wire.messages",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # found once; later lookups do not come here
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
