"""Host <-> UI messaging over ZeroMQ and msgpack: the shared core.

::

    import broker

    proxy = broker.connect("tcp://127.0.0.1:54321", timeout=30)
    proxy.add(5, 10)            # 15
    proxy.call("rpc.ping")      # {"name", "id", "pid", "state", "protocol"}
    proxy.close()

Layers: :mod:`broker.wire.codec` (wire format, no I/O), :mod:`broker.errors`,
:mod:`broker.serve.service` (dispatch tables), :mod:`broker.client.proxy` (proxies),
:mod:`broker.serve.server` (the serving loop), :mod:`broker.presence.registry` (hosts and
liveness), :mod:`broker.presence.announcer` (announce and heartbeat),
:mod:`broker.relay.broker` (the standalone broker), :mod:`broker.relay.cli`
(``python -m broker``). Importing opens no
socket and starts no thread.
"""

from .client.proxy import DEFAULT_TIMEOUT, Proxy, connect
from .errors import (
    CallTimeout,
    Closed,
    EndpointInUse,
    HostLost,
    HostNotFound,
    InvalidParams,
    MessageTooLarge,
    MethodNotFound,
    ProtocolError,
    RemoteError,
    RpcError,
    Unauthorized,
)
from .security.options import Security
from .serve.service import Service, as_service
from .transport.endpoints import DEFAULT_UI_ENDPOINT, UI_ENDPOINT_ENV
from .wire.codec import Codec
from .wire.messages import PROTOCOL_VERSION
from .wire.signing import Signer

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
    "Signer",
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
    "Unauthorized",
    "ProtocolError",
    "MessageTooLarge",
    "EndpointInUse",
    "Closed",
]


def __getattr__(name: str) -> object:
    # The standalone broker (and what only it needs) loads when first asked
    # for: a host or a shell that imports this package does not pay for it.
    if name in ("Broker", "start_broker"):
        from .relay import broker as _broker_module

        return getattr(_broker_module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
