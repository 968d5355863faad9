"""CURVE: encryption and peer authentication between machines.

On one workstation, signing with the per-user key (:mod:`broker.security.keys`) is
enough: everything stays on loopback. When hosts on farm nodes serve a
broker on another machine, the traffic also needs encryption and the
servers need to know which machines may connect. ZeroMQ's CURVE does both;
this module only configures it, with pyzmq's own ``zmq.auth``:

- every process has a certificate (a keypair), made once with
  :func:`create_certificate` (``zmq.auth.create_certificates``);
- a server socket (a host's, a UI's, the broker's) uses its secret key and
  accepts only clients whose public key file is in ``authorized``
  (a ZAP handler: ``zmq.auth.thread.ThreadAuthenticator``);
- a client socket needs the server's public key: the broker's (or UI's) is
  configured with ``server=``; a host announces its own in
  ``curve_public_key``, so the broker and UIs connect to it without setup.

Signing stays on: CURVE authenticates machines, the signing key users.
Copy the user's key file to the farm nodes (or point ``BROKER_KEY_FILE`` at
a shared one). An endpoint binds a non-loopback address only when asked
(``endpoint="tcp://10.0.0.5:*"``, ``--bind``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Tuple, Union

if TYPE_CHECKING:
    import zmq

__all__ = ["Curve", "create_certificate"]

log = logging.getLogger(__name__)

PathLike = Union[str, Path]


def create_certificate(directory: PathLike, name: str) -> Tuple[Path, Path]:
    """Create ``NAME.key`` (public) and ``NAME.key_secret`` in ``directory``.

    Share the ``.key`` file with the peers that must trust this one; keep
    the ``.key_secret`` file private (it is written with mode 0600).
    """
    import zmq.auth

    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


class Curve:
    """The CURVE settings of one process.

    Arguments:
        certificate: this process's ``.key_secret`` file.
        authorized: a folder of ``.key`` files: the clients this process's
            server sockets accept. None accepts any client that speaks
            CURVE (encryption without client authentication).
        server: the ``.key`` file (or the public key itself) of the UI
            endpoint or broker this process connects to.
    """

    def __init__(
        self,
        certificate: PathLike,
        *,
        authorized: Optional[PathLike] = None,
        server: Optional[Union[PathLike, bytes]] = None,
    ) -> None:
        import zmq.auth

        public, secret = zmq.auth.load_certificate(str(certificate))
        if secret is None:
            raise ValueError(f"{certificate} holds no secret key (use the .key_secret file)")
        self.public_key: bytes = public
        self._secret_key: bytes = secret
        self.authorized = Path(authorized) if authorized is not None else None
        if isinstance(server, bytes):
            self.server_key: Optional[bytes] = server
        elif server is not None:
            self.server_key = zmq.auth.load_certificate(str(server))[0]
        else:
            self.server_key = None

    def apply_server(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE server with this process's keypair."""
        socket.curve_secretkey = self._secret_key
        socket.curve_publickey = self.public_key
        socket.curve_server = True

    def apply_client(self, socket: zmq.Socket, server_key: Optional[Any] = None) -> None:
        """Make ``socket`` a CURVE client of the server whose public key is
        ``server_key`` (default: the configured ``server``).

        Raises:
            ValueError: no server key is known.
        """
        key = server_key if server_key is not None else self.server_key
        if key is None:
            raise ValueError(
                "CURVE needs the server's public key (server=, or the host's announce)"
            )
        socket.curve_secretkey = self._secret_key
        socket.curve_publickey = self.public_key
        socket.curve_serverkey = key.encode("ascii") if isinstance(key, str) else key

    def start_authenticator(self, context: zmq.Context) -> Any:
        """Start the ZAP handler that checks clients of ``context``'s servers.

        Returns the ``ThreadAuthenticator``; stop it before terminating the
        context.
        """
        import zmq.auth
        from zmq.auth.thread import ThreadAuthenticator

        authenticator = ThreadAuthenticator(context, log=log)
        authenticator.start()
        location = str(self.authorized) if self.authorized else zmq.auth.CURVE_ALLOW_ANY
        authenticator.configure_curve(domain="*", location=location)
        return authenticator

    @property
    def public_key_text(self) -> str:
        """This process's public key, Z85 text (what a host announces)."""
        return self.public_key.decode("ascii")
