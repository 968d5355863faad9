"""``python -m ui_adapter``: drive hosts from a terminal, as a UI would.

::

    python -m ui_adapter publish --host maya      # see ui_adapter.pyblish.cli
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence, TextIO

from broker.relay.arguments import add_verbose, add_version, say_interrupted

from .pyblish.cli import add_publish_command

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ui_adapter",
        description="Drive hosts from a terminal, as a UI would.",
    )
    add_version(parser)
    add_verbose(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_verbose(add_publish_command(commands))
    return parser


def main(
    argv: Optional[Sequence[str]] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run the command line; returns the exit status (130 after Ctrl-C).

    ``out`` takes the results (default stdout), ``err`` progress and
    status lines (default stderr).
    """
    parser = _build_parser()
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    out = out or sys.stdout
    run = getattr(options, "run", None)
    if run is None:
        parser.print_help(out)
        return 2
    try:
        return int(run(parser, options, out, err or sys.stderr))
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback
        return say_interrupted()
