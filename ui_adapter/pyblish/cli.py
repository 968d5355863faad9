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
report as each ends. The command shows a progress bar on stderr when
stderr is a terminal (nothing otherwise), then prints a table of every
result on stdout; ``--json`` prints one JSON summary on stdout instead, for
scripts. With ``--repair``, failures
of plug-ins that have a ``repair`` are repaired in the host and the repaired
context is published again (without collecting anew), as a UI's "repair"
and "publish" buttons would. Exit status: 0 when every
pair succeeded, 1 when one failed or the publish stopped early, 2 when
the publish could not run (no host, a host lost, a timeout), 130 after
Ctrl-C, which also cancels the publish in the host.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Optional, TextIO

from broker.errors import EndpointInUse, HostNotFound, RpcError
from broker.relay.arguments import endpoint_argument
from broker.security.arguments import add_security_arguments, security_from
from broker.transport.endpoints import UI_ENDPOINT_ENV, ui_endpoint
from broker.transport.probe import nobody_answers

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
    """Draws progress on one terminal line; draws nothing when ``live`` is False
    (the stream is a file or a pipe: a log has no use for a redrawn bar)."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._drawn = 0

    def update(self, done: int, total: int, result: Dict[str, Any]) -> None:
        if not self.live:
            return
        status = "FAILED" if result["error"] else "ok"
        line = progress_line(done, total, f"{status:<6} {_describe(result)}")
        padding = " " * max(0, self._drawn - len(line))
        self.out.write(f"\r{line}{padding}")
        self._drawn = len(line)
        self.out.flush()

    def close(self) -> None:
        if self.live and self._drawn:
            self.out.write("\n")
            self.out.flush()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Report:
    """Where a publish's output goes: ``out`` the results (a table, or one
    JSON summary with ``as_json``), ``err`` status lines and progress."""

    def __init__(self, out: TextIO, err: TextIO, as_json: bool) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.runs: List[Dict[str, Any]] = []
        self.repairs: List[Dict[str, Any]] = []
        self.error: Optional[str] = None

    def fail(self, message: str) -> None:
        """Say why the publish could not run, on stderr (and in the JSON summary)."""
        self.error = message
        print(f"error: {message}", file=sys.stderr)

    def status(self, line: str) -> None:
        self.err.write(line + "\n")
        self.err.flush()

    def text(self, text: str) -> None:
        if not self.as_json:
            self.out.write(text)

    def summary(self, status: int) -> None:
        """With ``as_json``: the whole publish as one JSON document on ``out``."""
        if not self.as_json:
            self.out.flush()
            return
        last = self.runs[-1] if self.runs else _run_summary([], None)
        document = {
            "status": status,
            "error": self.error,
            **last,
            "repairs": self.repairs,
            "runs": self.runs,
        }
        self.out.write(json.dumps(document, default=repr) + "\n")
        self.out.flush()


def _run_summary(run: List[Dict[str, Any]], stopped: Optional[str]) -> Dict[str, Any]:
    """One run for the JSON summary: counts, why it stopped, each result, each error."""
    failed = [result for result in run if result["error"]]
    return {
        "counts": {"pairs": len(run), "succeeded": len(run) - len(failed), "failed": len(failed)},
        "stopped": stopped,
        "results": [
            {
                "plugin": result["plugin"].get("label") or result["plugin"]["name"],
                "instance": result["instance"]["name"] if result["instance"] else None,
                "success": not result["error"],
                "duration": result["duration"],
                "error": result["error"]["message"] if result["error"] else None,
            }
            for result in run
        ],
        "errors": [
            {
                "plugin": result["plugin"].get("label") or result["plugin"]["name"],
                "instance": result["instance"]["name"] if result["instance"] else None,
                **{
                    key: result["error"].get(key)
                    for key in ("message", "fname", "line_number", "func")
                },
            }
            for result in failed
        ],
    }


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
        type=endpoint_argument,
        metavar="ENDPOINT",
        help="own this UI endpoint and wait for the host, or use the broker that owns it "
        f"(default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    where.add_argument(
        "--endpoint",
        default=None,
        type=endpoint_argument,
        metavar="ENDPOINT",
        help="call the host at this endpoint",
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
    publish.add_argument(
        "--json",
        action="store_true",
        help="print one JSON summary on stdout (status, counts, stopped, results, errors, "
        "repairs, runs) instead of the table",
    )
    add_security_arguments(publish)
    publish.set_defaults(run=run_publish)
    return publish


def run_publish(
    parser: argparse.ArgumentParser,
    options: argparse.Namespace,
    out: TextIO,
    err: Optional[TextIO] = None,
) -> int:
    """Run ``publish`` with parsed ``options``; returns the exit status.

    ``out`` takes the results, ``err`` (default stderr) status lines and,
    on a terminal, the progress bar.
    """
    if options.endpoint is None and not options.host:
        parser.error("publish needs --host NAME (or the host's --endpoint)")
    if options.batch < 1:
        parser.error("--batch must be at least 1")
    report = _Report(out, err or sys.stderr, options.json)
    try:
        options.auth = security_from(options)
        status = _publish(options, report)
    except RpcError as exc:
        detail = str(exc) if options.verbose else str(exc).split("\n", 1)[0]
        report.fail(f"{type(exc).__name__}: {detail}")
        status = 2
    report.summary(status)
    return status


def _publish(options: argparse.Namespace, report: _Report) -> int:
    import broker

    if options.endpoint is not None:
        with broker.connect(options.endpoint, timeout=options.wait, auth=options.auth) as proxy:
            # After connect: a bad key file is said first, as itself.
            nobody = nobody_answers(options.endpoint, "the host (a DCC serving host_adapter)")
            if nobody:
                report.fail(nobody)
                return 2
            return _publish_with(proxy, options, report)
    from ui_adapter import listen

    try:
        ui = listen(endpoint=options.ui, auth=options.auth)
    except EndpointInUse:
        return _publish_through_broker(ui_endpoint(options.ui), options, report)
    with ui:
        report.status(f"waiting for {options.host!r} at {ui.endpoint}...")
        proxy = ui.wait_for_host(options.host, timeout=options.wait)
        return _publish_with(proxy, options, report)


def _publish_through_broker(endpoint: str, options: argparse.Namespace, report: _Report) -> int:
    import broker

    with broker.connect(endpoint, timeout=min(options.wait, 5.0), auth=options.auth) as proxy:
        try:
            role = proxy.call("rpc.ping").get("role")
        except RpcError:
            role = None
        if role != "broker":
            report.fail(f"{endpoint} is owned by another UI; pass the host's own --endpoint")
            return 2
        host_id = _wait_for_named_host(proxy, options.host, options.wait)
        report.status(f"publishing {host_id} through the broker at {endpoint}")
        # By id, not name: a publish lives in one host, and a broker spreads
        # calls by name over every host of that name.
        return _publish_with(proxy.rpc.host(host_id), options, report)


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


def _publish_with(proxy: Any, options: argparse.Namespace, report: _Report) -> int:
    from .publisher import Publisher

    publisher = Publisher(
        proxy, timeout=options.timeout, limit=options.batch, budget=options.budget or None
    )
    status = _show_run(publisher, publisher.publish(options.targets), report)
    if status == 0 or not options.repair:
        return status
    failed = [r for r in publisher.failed if publisher.plugin(r["plugin"]["id"])["hasRepair"]]
    if not failed:
        return status
    report.text("\nrepairing\n")
    for result in failed:
        repaired = publisher.repair(result["plugin"]["id"], result["instance"])
        error = repaired["error"]
        report.repairs.append(
            {
                "plugin": result["plugin"].get("label") or result["plugin"]["name"],
                "instance": result["instance"]["name"] if result["instance"] else None,
                "success": bool(repaired["success"]),
                "error": error["message"] if error else None,
            }
        )
        outcome = "ok" if repaired["success"] else f"FAILED: {error['message']}"
        report.text(f"  {_describe(result)}: {outcome}\n")
    report.text("\npublishing the repaired context (collectors left out)\n")
    return _show_run(publisher, publisher.run(options.targets, collect=False), report)


def _show_run(publisher: Any, results: Any, report: _Report) -> int:
    """Show one run's progress, its table and its failures; return its exit status."""
    first = len(publisher.results)
    progress = _Progress(report.err, live=_is_terminal(report.err))
    try:
        for result in results:
            progress.update(len(publisher.results) - first, publisher.estimate, result)
    finally:
        # Ctrl-C or an error between two results: end the publish in the host
        # now (the publisher cancels it), not whenever the generator is collected.
        results.close()
        progress.close()
    run = publisher.results[first:]
    report.runs.append(_run_summary(run, publisher.stopped))
    failed = [result for result in run if result["error"]]
    line = f"{len(run)} pairs: {len(run) - len(failed)} ok, {len(failed)} failed"
    if publisher.stopped:
        line += f"; stopped early: {publisher.stopped}"
    report.text(summary_table(run) + "\n\n" + line + "\n")
    for result in failed:
        error = result["error"]
        report.text(f"\n{_describe(result)}: {error['message']}\n")
        if error.get("fname"):
            report.text(f"  at {error['fname']}:{error['line_number']} in {error.get('func')}\n")
    return 1 if failed or publisher.stopped else 0
