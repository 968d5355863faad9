"""The security options every command line takes, and the :class:`Security` they mean.

::

    parser = argparse.ArgumentParser()
    add_security_arguments(parser)
    options = parser.parse_args()
    auth = security_from(options)       # pass as auth= to connect, serve, listen...
"""

from __future__ import annotations

import argparse

from .keys import KEY_FILE_ENV
from .options import Security

__all__ = ["add_security_arguments", "security_from"]


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-auth``, ``--key-file`` and the ``--curve-*`` options to ``parser``."""
    group = parser.add_argument_group("security")
    group.add_argument(
        "--no-auth",
        action="store_true",
        help="send and accept unsigned messages (for raw interop)",
    )
    group.add_argument(
        "--key-file",
        metavar="PATH",
        help=f"signing key file (default ${KEY_FILE_ENV} or the user's)",
    )
    group.add_argument(
        "--curve-cert",
        metavar="PATH",
        help="this side's CURVE .key_secret file (for machines across a network)",
    )
    group.add_argument(
        "--curve-server",
        metavar="PATH",
        help="with --curve-cert: the .key file of the endpoint to connect to",
    )
    group.add_argument(
        "--curve-authorized",
        metavar="DIR",
        help="with --curve-cert: folder of .key files of the clients a server accepts",
    )


def security_from(options: argparse.Namespace) -> Security:
    """The :class:`Security` the options added by :func:`add_security_arguments` ask for."""
    if options.no_auth:
        return Security(enabled=False)
    curve = None
    if options.curve_cert:
        from .curve import Curve

        curve = Curve(
            options.curve_cert, authorized=options.curve_authorized, server=options.curve_server
        )
    return Security(key_file=options.key_file, curve=curve)
