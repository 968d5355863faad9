"""What every command line of the project shares, whoever owns it.

``python -m broker``, ``python -m ui_adapter`` and ``python -m ui_adapter.qml``
all take ``--version``; ``-v``/``--verbose`` before or after the subcommand;
an endpoint argument that may be the ``per-user`` alias; and they end on
Ctrl-C with one line on stderr and exit status 130 (128 + SIGINT), as a
shell expects of an interrupted command. The security options are in
:mod:`broker.security.arguments`.
"""

from __future__ import annotations

import argparse
import sys

from ..transport.endpoints import PER_USER, per_user_endpoint

__all__ = [
    "INTERRUPTED",
    "add_version",
    "add_verbose",
    "endpoint_argument",
    "say_interrupted",
]

#: The exit status of a command ended by Ctrl-C.
INTERRUPTED = 130


def add_version(parser: argparse.ArgumentParser) -> None:
    """Add ``--version``: prints ``PROG VERSION`` (``broker.__version__``) and exits."""
    from .. import __version__

    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )


def add_verbose(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """Add ``-v``/``--verbose``. On a subcommand (``top`` False) it is only
    set when given there, so ``-v`` before the subcommand still counts."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log debug messages",
    )


def endpoint_argument(text: str) -> str:
    """An endpoint as given on a command line: ``per-user`` is this user's
    own UI endpoint (:func:`~broker.transport.endpoints.per_user_endpoint`)."""
    if text == PER_USER:
        try:
            return per_user_endpoint()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{PER_USER}: {exc}") from exc
    return text


def say_interrupted() -> int:
    """Say on stderr that Ctrl-C ended the command; return its exit status."""
    print("interrupted", file=sys.stderr, flush=True)
    return INTERRUPTED
