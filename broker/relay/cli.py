"""``python -m broker``: run the broker; call, describe, ping and list hosts.

::

    python -m broker                       # the broker, at tcp://127.0.0.1:9090
    python -m broker serve --bind tcp://127.0.0.1:9090 --bind ipc:///tmp/broker
    python -m broker call tcp://127.0.0.1:9090 maya/add 5 10    # through a broker
    python -m broker call tcp://127.0.0.1:54321 add 5 10
    python -m broker call tcp://127.0.0.1:54321 greet '"Ada"' -k punctuation='"!"'
    python -m broker describe tcp://127.0.0.1:54321
    python -m broker ping tcp://127.0.0.1:54321
    python -m broker hosts --ui tcp://127.0.0.1:9090

Arguments are JSON (``5``, ``"text"``, ``[1, 2]``, ``null``), else Python
literals (``None``, ``(1, 2)``, ``b"raw"``), else taken as plain strings.
Results print as JSON. A remote error, a timeout or an unreachable endpoint
prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import logging
import sys
import time
from typing import Any, List, Optional, Sequence, Tuple

from ..client.introspection import describe_lines
from ..client.proxy import connect
from ..errors import RemoteError, RpcError
from ..security.arguments import add_security_arguments, security_from
from ..security.keys import KEY_FILE_ENV
from ..transport.endpoints import UI_ENDPOINT_ENV, ui_endpoint
from ..wire import messages as protocol

__all__ = ["main"]


def parse_value(text: str) -> Any:
    """A command-line argument as a value: JSON, else a Python literal, else str."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _parse_keyword(text: str) -> Tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, parse_value(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(data).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=_jsonable, ensure_ascii=False))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m broker",
        description="Talk to hosts and UIs over ZeroMQ + msgpack.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
        add_security_arguments(sub)
        return sub

    serve = commands.add_parser(
        "serve",
        help="run the broker (the default command)",
        description="Run the standalone broker until Ctrl-C or SIGTERM.",
    )
    serve.add_argument(
        "--bind",
        action="append",
        metavar="ENDPOINT",
        help=f"endpoint to own, repeatable (default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    serve.add_argument(
        "--heartbeat",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="heartbeat interval told to hosts (default 1)",
    )
    add_security_arguments(serve)
    serve.add_argument(
        "--queue-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="longest wait for a busy host before Timeout (default 60)",
    )

    call = add("call", "call METHOD at ENDPOINT and print the result as JSON")
    call.add_argument("endpoint", help="a host, a UI, or a broker endpoint")
    call.add_argument("method", help="e.g. add, rpc.ping, or TARGET/METHOD through a broker")
    call.add_argument(
        "args",
        nargs="*",
        type=parse_value,
        metavar="ARG",
        help="JSON, a Python literal, or a plain string",
    )
    call.add_argument(
        "-k",
        "--kwarg",
        action="append",
        default=[],
        type=_parse_keyword,
        metavar="NAME=VALUE",
        help="a keyword argument (repeatable)",
    )

    describe = add("describe", "list the methods an endpoint serves")
    describe.add_argument("endpoint")
    describe.add_argument("--json", action="store_true", help="print the raw description")

    ping = add("ping", "ask an endpoint who it is and whether it is busy")
    ping.add_argument("endpoint")

    hosts = add("hosts", "list the hosts known to a UI endpoint or broker")
    hosts.add_argument(
        "--ui",
        default=None,
        help=f"the UI endpoint (default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    hosts.add_argument("--json", action="store_true", help="print JSON instead of a table")

    key = commands.add_parser(
        "key",
        help="show your key file and public key, or make a new key file",
        description="Show the key file this user's processes share and its public key "
        "(what other machines' --authorized folders need), or make a new one.",
    )
    key.add_argument(
        "--key-file", metavar="PATH", help=f"the key file (default ${KEY_FILE_ENV} or your own)"
    )
    key.add_argument(
        "--new", metavar="PATH", help="make a new key file at PATH (never replaces one)"
    )
    key.add_argument(
        "--export",
        metavar="FILE",
        help="also write the public key to FILE, as a zmq.auth .key file for --authorized folders",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _build_parser()
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if options.command is None:
        options = parser.parse_args(["-v", "serve"] if options.verbose else ["serve"])
    if options.command == "serve":
        return _serve(options)
    if options.command == "key":
        return _key(options)
    try:
        return _run(options)
    except RemoteError as exc:
        # One line: the remote traceback is for -v.
        detail = str(exc) if options.verbose else str(exc).split("\n", 1)[0]
        print(f"error: {detail}", file=sys.stderr)
    except RpcError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _key(options: argparse.Namespace) -> int:
    from ..security.keys import create_key, load_key

    try:
        path = str(create_key(options.new)) if options.new else options.key_file
        pair = load_key(path)
        if options.export:
            _export_public_key(pair.public, options.export)
    except (RpcError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"key file:   {pair.path}")
    print(f"public key: {pair.public.decode('ascii')}")
    return 0


def _export_public_key(public: bytes, path: str) -> None:
    from pathlib import Path

    Path(path).write_text(
        "#   a public key for zmq.auth (python -m broker key --export)\n"
        "metadata\n"
        "curve\n"
        f'    public-key = "{public.decode("ascii")}"\n',
        encoding="ascii",
    )


def _serve(options: argparse.Namespace) -> int:
    import signal
    import threading

    from .broker import Broker

    if not options.verbose:
        logging.getLogger("broker").setLevel(logging.INFO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        broker = Broker(
            options.bind,
            heartbeat_interval=options.heartbeat,
            queue_timeout=options.queue_timeout,
            auth=security_from(options),
        ).start()
    except RpcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"broker listening at {', '.join(broker.endpoints)} (Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(1.0):  # wakes for signals; ends only when told to stop
            pass
    finally:
        broker.stop()
    return 0


def _run(options: argparse.Namespace) -> int:
    endpoint = ui_endpoint(options.ui) if options.command == "hosts" else options.endpoint
    with connect(
        endpoint,
        timeout=options.timeout,
        auth=security_from(options),
    ) as proxy:
        if options.command == "call":
            _print_json(proxy.call(options.method, *options.args, **dict(options.kwarg)))
        elif options.command == "ping":
            _print_json(proxy.call(protocol.PING))
        elif options.command == "describe":
            description = proxy.call(protocol.DESCRIBE)
            if options.json:
                _print_json(description)
            else:
                _print_description(description)
        else:
            hosts = proxy.call(protocol.HOSTS)
            if options.json:
                _print_json(hosts)
            else:
                _print_hosts(hosts)
    return 0


def _print_description(description: Any) -> None:
    print("\n".join(describe_lines(description)))


def _print_hosts(hosts: List[Any]) -> None:
    if not hosts:
        print("no hosts")
        return
    now = time.time()
    rows = [("ID", "NAME", "STATE", "ENDPOINT", "PID", "SEEN")]
    for host in hosts:
        seen = host.get("last_seen")
        ago = f"{max(0.0, now - seen):.1f}s ago" if isinstance(seen, (int, float)) else "?"
        rows.append(
            (
                str(host.get("id")),
                str(host.get("name")),
                str(host.get("state")),
                str(host.get("endpoint")),
                str(host.get("pid")),
                ago,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
