"""``python -m ui_adapter publish``: publish a host from a terminal.

::

    python -m ui_adapter publish --host maya                   # wait at the UI endpoint
    python -m ui_adapter publish --host maya --ui tcp://127.0.0.1:9191
    python -m ui_adapter publish --endpoint tcp://127.0.0.1:54321   # call the host directly

Finding the host: by default the command *is* the UI. It owns the UI
endpoint (``--ui``, else ``$BROKER_UI_ENDPOINT``, else
``tcp://127.0.0.1:9090``) and waits up to ``--wait`` seconds for a host
named ``--host`` to announce itself; a host already running re-announces
within about a heartbeat interval of the endpoint appearing. A lost host
fails the publish at once. When a standalone broker (``python -m broker``)
owns that endpoint, the command publishes through it instead, to the first
live host of that name (by id, so every call reaches the same host). When
another UI owns it, give the host's own endpoint with ``--endpoint``.

The host processes the pairs of plug-ins and instances a batch at a time
(``--batch`` pairs at most, for ``--budget`` seconds at most, then it
answers), so quick plug-ins cost almost no round trips and slow ones still
report as each ends. The command shows a progress bar (one line per result
when the output is not a terminal), then a table of every result. With ``--repair``, failures
of plug-ins that have a ``repair`` are repaired in the host and the repaired
context is published again (without collecting anew), as a UI's "repair"
and "publish" buttons would. Exit status: 0 when every
pair succeeded, 1 when one failed or the publish stopped early, 2 when
the publish could not run (no host, a host lost, a timeout).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, List, TextIO

from broker.errors import EndpointInUse, HostNotFound, RpcError
from broker.security.arguments import add_security_arguments, security_from
from broker.transport.endpoints import UI_ENDPOINT_ENV, ui_endpoint

__all__ = ["add_publish_command", "run_publish", "progress_line", "summary_table"]

_BAR_WIDTH = 24
_MESSAGE_WIDTH = 60
_BROKER_POLL = 0.1


def progress_line(done: int, total: int, text: str = "", width: int = _BAR_WIDTH) -> str:
    """``[#########---------]  12/40  text``; ``total`` below ``done`` counts as ``done``."""
    total = max(total, done, 1)
    filled = min(width, int(width * done / total))
    return f"[{'#' * filled}{'-' * (width - filled)}] {done:>4}/{total:<4} {text}".rstrip()


def _first_line(text: str, width: int = _MESSAGE_WIDTH) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def _describe(result: Dict[str, Any]) -> str:
    plugin = result["plugin"]
    name = plugin.get("label") or plugin["name"]
    instance = result["instance"]
    return f"{name} · {instance['name']}" if instance else name


def summary_table(results: List[Dict[str, Any]]) -> str:
    """A plain-text table: one row per result, the error's first line when it failed."""
    header = ("#", "plug-in", "instance", "result", "ms", "message")
    rows = [header]
    for number, result in enumerate(results, 1):
        plugin = result["plugin"]
        instance = result["instance"]
        error = result["error"]
        rows.append(
            (
                str(number),
                plugin.get("label") or plugin["name"],
                instance["name"] if instance else "-",
                "FAILED" if error else "ok",
                f"{result['duration']:.1f}",
                _first_line(error["message"]) if error else "",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column in (0, 4) else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


class _Progress:
    """Draws progress on one terminal line, or one line per result elsewhere."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._drawn = 0

    def update(self, done: int, total: int, result: Dict[str, Any]) -> None:
        status = "FAILED" if result["error"] else "ok"
        line = progress_line(done, total, f"{status:<6} {_describe(result)}")
        if self.live:
            padding = " " * max(0, self._drawn - len(line))
            self.out.write(f"\r{line}{padding}")
            self._drawn = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.live and self._drawn:
            self.out.write("\n")
            self.out.flush()


def add_publish_command(commands: Any) -> argparse.ArgumentParser:
    """Add ``publish`` to the subcommands of ``python -m ui_adapter``."""
    publish = commands.add_parser(
        "publish",
        help="publish everything in a host with Pyblish",
        description="Collect, validate, extract and integrate in a host, showing progress.",
    )
    publish.add_argument("--host", default=None, help="the host's name, e.g. maya")
    where = publish.add_mutually_exclusive_group()
    where.add_argument(
        "--ui",
        default=None,
        metavar="ENDPOINT",
        help="own this UI endpoint and wait for the host, or use the broker that owns it "
        f"(default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    where.add_argument(
        "--endpoint", default=None, metavar="ENDPOINT", help="call the host at this endpoint"
    )
    publish.add_argument(
        "--wait",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for the host to announce itself, or with --endpoint "
        "to answer (default 15)",
    )
    publish.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="longest one call to the host may take: a batch of plug-ins, or the "
        "discovery of plug-ins (default 600)",
    )
    publish.add_argument(
        "--target",
        action="append",
        default=None,
        dest="targets",
        metavar="TARGET",
        help="a pyblish target (repeatable; default: pyblish's default targets)",
    )
    publish.add_argument(
        "--repair",
        action="store_true",
        help="when plug-ins with a repair failed: repair, then publish the repaired context",
    )
    publish.add_argument(
        "--batch",
        type=int,
        default=100,
        metavar="N",
        help="at most N pairs per round trip (default 100; 1: a round trip per pair)",
    )
    publish.add_argument(
        "--budget",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="a round trip answers after this long even with fewer than N pairs (default 0.05)",
    )
    add_security_arguments(publish)
    publish.set_defaults(run=run_publish)
    return publish


def run_publish(parser: argparse.ArgumentParser, options: argparse.Namespace, out: TextIO) -> int:
    """Run ``publish`` with parsed ``options``; returns the exit status."""
    if options.endpoint is None and not options.host:
        parser.error("publish needs --host NAME (or the host's --endpoint)")
    if options.batch < 1:
        parser.error("--batch must be at least 1")
    try:
        options.auth = security_from(options)
        return _publish(options, out)
    except RpcError as exc:
        detail = str(exc) if options.verbose else str(exc).split("\n", 1)[0]
        print(f"error: {type(exc).__name__}: {detail}", file=sys.stderr)
        return 2


def _publish(options: argparse.Namespace, out: TextIO) -> int:
    import broker

    if options.endpoint is not None:
        with broker.connect(options.endpoint, timeout=options.wait, auth=options.auth) as proxy:
            return _publish_with(proxy, options, out)
    from ui_adapter import listen

    try:
        ui = listen(endpoint=options.ui, auth=options.auth)
    except EndpointInUse:
        return _publish_through_broker(ui_endpoint(options.ui), options, out)
    with ui:
        out.write(f"waiting for {options.host!r} at {ui.endpoint}...\n")
        out.flush()
        proxy = ui.wait_for_host(options.host, timeout=options.wait)
        return _publish_with(proxy, options, out)


def _publish_through_broker(endpoint: str, options: argparse.Namespace, out: TextIO) -> int:
    import broker

    with broker.connect(endpoint, timeout=min(options.wait, 5.0), auth=options.auth) as proxy:
        try:
            role = proxy.call("rpc.ping").get("role")
        except RpcError:
            role = None
        if role != "broker":
            print(
                f"error: {endpoint} is owned by another UI; pass the host's own --endpoint",
                file=sys.stderr,
            )
            return 2
        host_id = _wait_for_named_host(proxy, options.host, options.wait)
        out.write(f"publishing {host_id} through the broker at {endpoint}\n")
        # By id, not name: a publish lives in one host, and a broker spreads
        # calls by name over every host of that name.
        return _publish_with(proxy.rpc.host(host_id), options, out)


def _wait_for_named_host(proxy: Any, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:  # bounded by the deadline
        for info in proxy.rpc.hosts():
            if info.get("name") == name and info.get("state") in ("idle", "busy"):
                return str(info["id"])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HostNotFound(f"no host named {name!r} at the broker within {timeout:g} s")
        time.sleep(min(_BROKER_POLL, remaining))  # the broker has no "wait for host" call


def _publish_with(proxy: Any, options: argparse.Namespace, out: TextIO) -> int:
    from .publisher import Publisher

    publisher = Publisher(
        proxy, timeout=options.timeout, limit=options.batch, budget=options.budget or None
    )
    status = _show_run(publisher, publisher.publish(options.targets), out)
    if status == 0 or not options.repair:
        return status
    failed = [r for r in publisher.failed if publisher.plugin(r["plugin"]["id"])["hasRepair"]]
    if not failed:
        return status
    out.write("\nrepairing\n")
    for result in failed:
        repaired = publisher.repair(result["plugin"]["id"], result["instance"])
        outcome = "ok" if repaired["success"] else f"FAILED: {repaired['error']['message']}"
        out.write(f"  {_describe(result)}: {outcome}\n")
    out.write("\npublishing the repaired context (collectors left out)\n")
    return _show_run(publisher, publisher.run(options.targets, collect=False), out)


def _show_run(publisher: Any, results: Any, out: TextIO) -> int:
    """Show one run's progress, its table and its failures; return its exit status."""
    first = len(publisher.results)
    progress = _Progress(out, live=out.isatty())
    try:
        for result in results:
            progress.update(len(publisher.results) - first, publisher.estimate, result)
    finally:
        progress.close()
    run = publisher.results[first:]
    failed = [result for result in run if result["error"]]
    out.write(summary_table(run) + "\n\n")
    line = f"{len(run)} pairs: {len(run) - len(failed)} ok, {len(failed)} failed"
    if publisher.stopped:
        line += f"; stopped early: {publisher.stopped}"
    out.write(line + "\n")
    for result in failed:
        error = result["error"]
        out.write(f"\n{_describe(result)}: {error['message']}\n")
        if error.get("fname"):
            out.write(f"  at {error['fname']}:{error['line_number']} in {error.get('func')}\n")
    out.flush()
    return 1 if failed or publisher.stopped else 0
