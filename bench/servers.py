"""The serving side of every system the bench compares, one process each.

    python -m bench.servers KIND [ARGS...]

prints one JSON line (the endpoints it serves) and serves ``echo`` until it
is killed. KIND is one of:

- ``raw-rep [CONNECT] [tcp|ipc]``: REP, msgpack-rpc envelope, ``echo``
  returns its argument. Binds a loopback port (or an ipc path in a private
  folder), or connects to CONNECT (behind a proxy).
- ``raw-bytes [tcp|ipc]``: REP that sends every frame it receives straight
  back, zero-copy: the floor for large bytes.
- ``raw-proxy``: ``zmq.proxy(ROUTER, DEALER)``; prints both endpoints.
- ``host UI [auth|noauth] [tcp]``: this project's ``host_adapter.serve``
  at its default endpoint (or loopback TCP), announcing to UI (nobody
  listens there in direct mode, a broker in brokered mode).
- ``broker [auth|noauth]``: this project's standalone broker.
- ``xmlrpc``: stdlib ``SimpleXMLRPCServer`` with HTTP/1.1 keep-alive.
- ``zerorpc``: a zerorpc server (when zerorpc is installed).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List


def echo(value: Any = None) -> Any:
    """Return the value unchanged."""
    return value


def _announce(endpoints: Dict[str, str]) -> None:
    print(json.dumps(endpoints), flush=True)


def _wait_forever() -> None:
    threading.Event().wait()  # until the bench kills this process


def _bind(socket: Any, where: str) -> str:
    """Bind loopback TCP on a free port, or an ipc path in a private folder."""
    if where == "ipc":
        import tempfile

        endpoint = f"ipc://{tempfile.mkdtemp(prefix='bench-')}/raw.sock"
        socket.bind(endpoint)
        return endpoint
    return f"tcp://127.0.0.1:{socket.bind_to_random_port('tcp://127.0.0.1')}"


def raw_rep(connect: str = "", where: str = "tcp") -> None:
    import msgpack
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.REP)
    if connect:
        socket.connect(connect)
        _announce({"endpoint": connect})
    else:
        _announce({"endpoint": _bind(socket, where)})
    packb, unpackb = msgpack.packb, msgpack.unpackb
    while True:
        request = unpackb(socket.recv())
        socket.send(packb([1, request[1], None, request[3][0]]))


def raw_bytes(where: str = "tcp") -> None:
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.REP)
    _announce({"endpoint": _bind(socket, where)})
    while True:
        socket.send_multipart(socket.recv_multipart(copy=False), copy=False)


def raw_proxy() -> None:
    import zmq

    context = zmq.Context()
    frontend = context.socket(zmq.ROUTER)
    backend = context.socket(zmq.DEALER)
    front = frontend.bind_to_random_port("tcp://127.0.0.1")
    back = backend.bind_to_random_port("tcp://127.0.0.1")
    _announce({"endpoint": f"tcp://127.0.0.1:{front}", "backend": f"tcp://127.0.0.1:{back}"})
    zmq.proxy(frontend, backend)


def host(ui: str, auth: str = "auth", where: str = "") -> None:
    import host_adapter

    options = _auth(auth)
    if where == "tcp":
        options["endpoint"] = "tcp://127.0.0.1:*"
    adapter = host_adapter.serve(
        {"echo": echo, "sleep": time.sleep}, name="bench", ui=ui, **options
    )
    _announce({"endpoint": adapter.endpoint, "id": adapter.id})
    _wait_forever()


def broker(auth: str = "auth") -> None:
    from broker.relay.broker import Broker

    server = Broker(["tcp://127.0.0.1:*"], heartbeat_interval=1.0, **_auth(auth)).start()
    _announce({"endpoint": server.endpoints[0]})
    _wait_forever()


def _auth(auth: str) -> Dict[str, Any]:
    """``auth=False`` for the unsigned variant; nothing (the default) otherwise."""
    return {"auth": False} if auth == "noauth" else {}


def xmlrpc() -> None:
    from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

    class KeepAlive(SimpleXMLRPCRequestHandler):
        protocol_version = "HTTP/1.1"  # keep the connection open between calls

    server = SimpleXMLRPCServer(
        ("127.0.0.1", 0),
        requestHandler=KeepAlive,
        logRequests=False,
        allow_none=True,
        use_builtin_types=True,
    )
    server.register_function(echo, "echo")
    _announce({"endpoint": f"http://127.0.0.1:{server.server_address[1]}/"})
    server.serve_forever()


def zerorpc() -> None:
    import zerorpc as _zerorpc
    import zmq

    class Echo:
        def echo(self, value: Any = None) -> Any:
            return value

    server = _zerorpc.Server(Echo(), heartbeat=None)
    server.bind("tcp://127.0.0.1:*")
    # zerorpc keeps its (gevent) zmq socket private; ask it where it bound.
    endpoint = server._events._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    _announce({"endpoint": endpoint})
    server.run()


KINDS: Dict[str, Callable[..., None]] = {
    "raw-rep": raw_rep,
    "raw-bytes": raw_bytes,
    "raw-proxy": raw_proxy,
    "host": host,
    "broker": broker,
    "xmlrpc": xmlrpc,
    "zerorpc": zerorpc,
}


def main(argv: List[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    kind, *args = argv
    KINDS[kind](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
