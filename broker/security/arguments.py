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
    """Add ``--no-auth``, ``--key-file``, ``--authorized`` and ``--server-key`` to ``parser``."""
    group = parser.add_argument_group("security")
    group.add_argument(
        "--no-auth",
        action="store_true",
        help="no authentication: plain ZeroMQ, for raw interop (anyone may connect)",
    )
    group.add_argument(
        "--key-file",
        "--curve-cert",
        dest="key_file",
        metavar="PATH",
        help=f"this side's key file (default ${KEY_FILE_ENV} or your own)",
    )
    group.add_argument(
        "--authorized",
        "--curve-authorized",
        dest="authorized",
        metavar="DIR",
        help="folder of .key files of more clients to admit (other machines' keys)",
    )
    group.add_argument(
        "--server-key",
        "--curve-server",
        dest="server_key",
        metavar="KEY",
        help="the public key (Z85, or a .key file) of the endpoint to connect to, "
        "when it is not your own",
    )


def security_from(options: argparse.Namespace) -> Security:
    """The :class:`Security` the options added by :func:`add_security_arguments` ask for."""
    if options.no_auth:
        return Security(enabled=False)
    return Security(
        key_file=options.key_file, authorized=options.authorized, server_key=options.server_key
    )
