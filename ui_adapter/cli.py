"""``python -m ui_adapter``: drive hosts from a terminal, as a UI would.

::

    python -m ui_adapter publish --host maya      # see ui_adapter.pyblish.cli
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence, TextIO

from .pyblish.cli import add_publish_command

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ui_adapter",
        description="Drive hosts from a terminal, as a UI would.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_publish_command(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Run the command line; returns the exit status."""
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
    return int(run(parser, options, out))
