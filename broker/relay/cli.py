"""``python -m broker``: run the broker; call, describe, ping and list hosts.

::

    python -m broker                       # the broker, at tcp://127.0.0.1:9090
    python -m broker serve --bind tcp://127.0.0.1:9090 --bind ipc:///tmp/broker
    python -m broker call tcp://127.0.0.1:9090 maya/add 5 10    # through a broker
    python -m broker call tcp://127.0.0.1:54321 add 5 10
    python -m broker call tcp://127.0.0.1:54321 greet '"Ada"' -k punctuation='"!"'
    python -m broker describe tcp://127.0.0.1:54321
    python -m broker describe tcp://127.0.0.1:9090 maya        # a host, through a broker
    python -m broker ping tcp://127.0.0.1:54321
    python -m broker hosts tcp://127.0.0.1:9090                 # default: the UI endpoint
    python -m broker hosts per-user -v

Arguments are JSON (``5``, ``"text"``, ``[1, 2]``, ``null``), else Python
literals (``None``, ``(1, 2)``, ``b"raw"``), else taken as plain strings;
one that starts with ``[`` or ``{`` and is neither is an error, not a
string. Every endpoint may be ``per-user``. Ctrl-C prints ``interrupted``
and exits 130.
Results print as JSON. A remote error, a timeout or an unreachable endpoint
prints one line on stderr and exits 1. When nothing listens at the endpoint
(no ipc socket file; a TCP port that refuses for a second), or what listens
answers something that is not ZeroMQ, the command says so at once, and who
usually listens there, instead of waiting its timeout.
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
from ..transport.probe import nobody_answers
from ..wire import messages as protocol
from .arguments import add_verbose, add_version, endpoint_argument, say_interrupted

__all__ = ["main", "parse_value"]

_A_BROKER = "a broker (python -m broker)"


_ARGUMENTS_HELP = """\
ARG and the VALUE of -k NAME=VALUE are read as
  JSON                   5  2.5  true  null  '"text"'  '[1, 2]'  '{"a": 1}'
  else a Python literal  None  '(1, 2)'  "b'raw'"  "{'a': 1}"
  else plain text        Ada  persp
An argument that starts with [ or { but is neither JSON nor a Python literal
is an error, not text: write '["persp", "top"]' for a list of strings, or
'"[persp, top]"' for the text itself.
"""


def parse_value(text: str) -> Any:
    """A command-line argument as a value: JSON, else a Python literal, else str.

    Raises:
        argparse.ArgumentTypeError: ``text`` starts with ``[`` or ``{`` but
            is neither JSON nor a literal (``[persp, top]``): a list or a
            map was meant, and a string would hide the mistake.
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        json_error = exc
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if text.lstrip()[:1] in ("[", "{"):
        raise argparse.ArgumentTypeError(
            f"not valid JSON: {text} ({json_error}); quote the strings inside it, "
            f'as in \'["persp", "top"]\', or quote it as a string with \'"{text}"\''
        )
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
    add_version(parser)
    add_verbose(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, **extra: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, **extra)
        sub.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
        add_verbose(sub)
        add_security_arguments(sub)
        return sub

    serve = commands.add_parser(
        "serve",
        help="run the broker (the default command)",
        description="Run the standalone broker until Ctrl-C or SIGTERM.",
    )
    add_verbose(serve)
    serve.add_argument(
        "--bind",
        action="append",
        type=endpoint_argument,
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
    serve.add_argument(
        "--window",
        type=_positive,
        default=8,
        metavar="CALLS",
        help="calls in flight to one host at once; it runs them in order (default 8)",
    )
    serve.add_argument(
        "--max-hosts",
        type=_positive,
        default=None,
        metavar="N",
        help="refuse announces past N hosts (default: what the open-files limit allows)",
    )

    call = add(
        "call",
        "call METHOD at ENDPOINT and print the result as JSON",
        epilog=_ARGUMENTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument(
        "endpoint", type=endpoint_argument, help="a host, a UI, or a broker endpoint, or per-user"
    )
    call.add_argument("method", help="e.g. add, rpc.ping, or TARGET/METHOD through a broker")
    call.add_argument(
        "args",
        nargs="*",
        type=parse_value,
        metavar="ARG",
        help="JSON, a Python literal, or a plain string (see below)",
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
    describe.add_argument("endpoint", type=endpoint_argument)
    describe.add_argument(
        "host", nargs="?", default=None, help="through a broker: the host's name or id"
    )
    describe.add_argument("--json", action="store_true", help="print the raw description")

    ping = add("ping", "ask an endpoint who it is and whether it is busy")
    ping.add_argument("endpoint", type=endpoint_argument)

    hosts = add("hosts", "list the hosts known to a UI endpoint or broker")
    where = hosts.add_mutually_exclusive_group()
    where.add_argument(
        "endpoint",
        nargs="?",
        type=endpoint_argument,
        default=None,
        help=f"the UI endpoint or a broker (default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    where.add_argument("--ui", type=endpoint_argument, default=None, help="the same, as an option")
    hosts.add_argument("--name", help="only the hosts of this name")
    hosts.add_argument(
        "--state", choices=["idle", "busy", "silent", "lost"], help="only the hosts in this state"
    )
    hosts.add_argument("--json", action="store_true", help="print JSON instead of a table")

    key = commands.add_parser(
        "key",
        help="show your key file and public key, or make a new key file",
        description="Show the key file this user's processes share and its public key "
        "(what other machines' --authorized folders need), or make a new one.",
    )
    add_verbose(key)
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
    try:
        if options.command == "serve":
            return _serve(options)
        if options.command == "key":
            return _key(options)
        return _run_reporting(options)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback
        return say_interrupted()


def _run_reporting(options: argparse.Namespace) -> int:
    """:func:`_run`, its errors said in one line on stderr (exit status 1)."""
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _serve(options: argparse.Namespace) -> int:
    import signal
    import threading

    from .broker import Broker

    stop = threading.Event()
    interrupted: List[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            interrupted.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        broker = Broker(
            options.bind,
            heartbeat_interval=options.heartbeat,
            queue_timeout=options.queue_timeout,
            window=options.window,
            max_hosts=options.max_hosts,
            auth=security_from(options),
        ).start()
    except RpcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # The broker's own INFO lines (hosts coming and going) from here on: its
    # "listening at" line is the print below, said once.
    if not options.verbose:
        logging.getLogger("broker").setLevel(logging.INFO)
    print(f"broker listening at {', '.join(broker.endpoints)} (Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(1.0):  # wakes for signals; ends when told to stop, or dead
            if not broker.alive:
                # Never alive but deaf: exit, so that a supervisor restarts it.
                print(f"error: the broker stopped routing: {broker.failure!r}", file=sys.stderr)
                return 70  # EX_SOFTWARE
    finally:
        broker.stop()
    return say_interrupted() if interrupted else 0


def _run(options: argparse.Namespace) -> int:
    if options.command == "hosts":
        endpoint = ui_endpoint(options.endpoint or options.ui)
    else:
        endpoint = options.endpoint
    target = getattr(options, "host", None)  # describe ENDPOINT HOST
    through_broker = bool(target) or (options.command == "call" and "/" in options.method)
    with connect(
        endpoint,
        timeout=options.timeout,
        auth=security_from(options),
    ) as proxy:
        # After connect: a bad key file is said first, as itself.
        nobody = nobody_answers(endpoint, _A_BROKER if through_broker else None)
        if nobody:
            print(f"error: {nobody}", file=sys.stderr)
            return 1
        if options.command == "call":
            _print_json(proxy.call(options.method, *options.args, **dict(options.kwarg)))
        elif options.command == "ping":
            _print_json(proxy.call(protocol.PING))
        elif options.command == "describe":
            description = (proxy.rpc.host(target) if target else proxy).call(protocol.DESCRIBE)
            if options.json:
                _print_json(description)
            else:
                _print_description(description)
        else:
            hosts = proxy.rpc.hosts(name=options.name, state=options.state)
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
