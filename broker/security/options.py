"""Who may talk to an endpoint, decided once per connection: the settings object.

Every factory and constructor that makes sockets (``broker.connect``,
``host_adapter.serve``, ``ui_adapter.listen`` / ``attach``, the broker) takes
one argument for them, ``auth``:

- ``True`` (the default): this user's own keypair (:mod:`broker.security.keys`),
  found with no configuration;
- ``False``: authentication off, for raw interop (logged as a warning);
- a :class:`Security`: another key file, more clients to admit, another
  server's key (machines across a network).

How a connection is authenticated, by where it goes:

========================================  ============================================
an ``ipc://`` path in a folder only this  NULL: the operating system admits only this
user can enter (the per-user runtime      user (and root); nothing is encrypted, so
folder, where hosts bind by default)      bulk data moves at the raw ZeroMQ rate
anything else (TCP: the UI endpoint       CURVE: the server holds the user's secret key
9090, a host on Windows, another          and admits only clients that prove they hold
machine; any other ipc path)              an admitted key (ZAP, ``zmq.auth``); every
                                          frame is encrypted and authenticated
========================================  ============================================

Both ends decide from the endpoint alone, so they always agree.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, FrozenSet, Hashable, Iterable, Optional, Set, Union

from ..errors import KeyFileError
from .keys import KeyPair, PathLike, load_key

if TYPE_CHECKING:
    import zmq

    from ..transport.sockets import SocketFactory
    from ..wire.codec import Codec

__all__ = ["Security", "AuthLike", "resolve", "is_private_ipc", "HANDSHAKE_TIMEOUT"]

log = logging.getLogger(__name__)

#: Seconds a connection may take to authenticate before ZeroMQ drops it.
HANDSHAKE_TIMEOUT = 5.0


class Security:
    """How an endpoint or client proves who it is and whom it admits.

    Arguments:
        key_file: this side's key file; default ``$BROKER_KEY_FILE`` or the
            user's own. It may be a ``zmq.auth`` ``.key_secret`` certificate.
        authorized: more clients a server admits besides holders of its
            own key: a folder of ``zmq.auth`` ``.key`` files, or public keys
            (Z85 text). For machines with keypairs of their own.
        server_key: the public key (Z85 text, or a ``.key`` file) of the
            endpoint this side connects to, when it is not this side's own
            (a broker on another machine with its own keypair). A host's
            announced key is used for that host.
        enabled: False turns authentication off (raw interop).
    """

    def __init__(
        self,
        *,
        key_file: Optional[PathLike] = None,
        authorized: Optional[Union[PathLike, Iterable[str]]] = None,
        server_key: Optional[Union[str, bytes, PathLike]] = None,
        enabled: bool = True,
    ) -> None:
        self.key_file = key_file
        self.enabled = enabled
        self._authorized_source = authorized
        self._server_key_source = server_key
        self._keypair: Optional[KeyPair] = None
        self._authorized: Optional[FrozenSet[bytes]] = None
        self._warned = False

    @property
    def settings(self) -> Hashable:
        """What makes two of these present and admit the same keys: adapters
        whose settings are equal share a context and its ZAP handler."""
        return (
            self.enabled,
            _source_key(self.key_file),
            _source_key(self._authorized_source),
            _source_key(self._server_key_source),
        )

    # -- keys ----------------------------------------------------------------------

    @property
    def keypair(self) -> KeyPair:
        """This side's keypair, read once.

        Raises:
            KeyFileError: the key file is unusable.
        """
        if self._keypair is None:
            self._keypair = load_key(self.key_file)
        return self._keypair

    @property
    def public_key(self) -> Optional[str]:
        """This side's public key (Z85 text), or None when authentication is off."""
        return self.keypair.public.decode("ascii") if self.enabled else None

    def check(self) -> None:
        """Read the key now, so that a bad key file fails at start, not at the
        first connection; warn when authentication is off.

        Raises:
            KeyFileError: the key file is unusable.
        """
        if not self.enabled:
            if not self._warned:
                log.warning("authentication is OFF: any local process can call this endpoint")
                self._warned = True
            return
        self.keypair  # noqa: B018 - read for its errors
        self.authorized_keys()
        self._server_key()

    def authorized_keys(self) -> FrozenSet[bytes]:
        """Every client public key a server of this side admits (Z85)."""
        if self._authorized is None:
            keys = {self.keypair.public}
            keys.update(_public_keys(self._authorized_source))
            self._authorized = frozenset(keys)
        return self._authorized

    def admits(self, public_key: bytes) -> bool:
        """Whether a client proving it holds ``public_key`` may connect."""
        return public_key in self.authorized_keys()

    def _server_key(self) -> Optional[bytes]:
        source = self._server_key_source
        if source is None:
            return None
        keys = _public_keys(source if not isinstance(source, (str, bytes)) else [source])
        if len(keys) != 1:
            raise KeyFileError(f"server_key {source!r} is not one public key")
        return next(iter(keys))

    # -- what an endpoint or client needs ------------------------------------------------

    def codec(self, codec: Optional[Codec] = None) -> Codec:
        """The codec to use (``codec``, or one with the default limits), once
        the key is known good (see :meth:`check`).

        Raises:
            KeyFileError: the key file is unusable.
        """
        self.check()
        if codec is not None:
            return codec
        from ..wire.codec import Codec

        return Codec()

    def sockets(
        self, context: zmq.Context, codec: Codec, start_zap: Optional[Callable[[], None]] = None
    ) -> SocketFactory:
        """The factory of sockets under these settings and ``codec``'s limits;
        ``start_zap`` starts the context's ZAP handler (servers need it)."""
        from ..transport.sockets import SocketFactory

        return SocketFactory(
            context, max_message_size=codec.max_message_size, security=self, start_zap=start_zap
        )

    # -- sockets --------------------------------------------------------------------

    def uses_curve(self, endpoint: str) -> bool:
        """Whether a connection to or from ``endpoint`` is CURVE (else NULL)."""
        return self.enabled and not is_private_ipc(endpoint)

    def apply_server(self, socket: zmq.Socket, endpoint: str) -> bool:
        """Make ``socket``, about to bind ``endpoint``, a CURVE server if it
        must be one; True when it is (its context then needs the ZAP handler)."""
        self._apply_handshake_timeout(socket)
        if not self.uses_curve(endpoint):
            return False
        import zmq

        from .zap import ZAP_DOMAIN

        socket.curve_secretkey = self.keypair.secret
        socket.curve_publickey = self.keypair.public
        socket.curve_server = True
        socket.zap_domain = ZAP_DOMAIN.encode("ascii")
        # Fail closed: with no ZAP handler running, nobody is admitted.
        socket.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
        return True

    def apply_client(
        self, socket: zmq.Socket, endpoint: str, server_key: Optional[Any] = None
    ) -> None:
        """Make ``socket``, about to connect to ``endpoint``, a CURVE client if
        it must be one.

        Arguments:
            server_key: the endpoint's public key (a host announces its own);
                default: the configured ``server_key``, else this side's own.
        """
        self._apply_handshake_timeout(socket)
        if not self.uses_curve(endpoint):
            import zmq

            # A socket connected elsewhere with CURVE before (one socket, many
            # hosts) must make this connection NULL: PLAIN_SERVER=0 does.
            if socket.getsockopt(zmq.MECHANISM) != zmq.NULL:
                socket.setsockopt(zmq.PLAIN_SERVER, 0)
            return
        key = server_key if server_key is not None else self._server_key()
        if isinstance(key, str):
            key = key.encode("ascii")
        socket.curve_secretkey = self.keypair.secret
        socket.curve_publickey = self.keypair.public
        socket.curve_serverkey = key if key is not None else self.keypair.public

    @staticmethod
    def _apply_handshake_timeout(socket: zmq.Socket) -> None:
        import zmq

        socket.setsockopt(zmq.HANDSHAKE_IVL, int(HANDSHAKE_TIMEOUT * 1000))

    def __repr__(self) -> str:
        if not self.enabled:
            return "<Security off>"
        where = f"key_file={self.key_file!r}" if self.key_file else "the user's key"
        return f"<Security {where}>"


#: What ``auth=`` accepts.
AuthLike = Union[bool, Security]


def _source_key(source: Any) -> Hashable:
    """A key file, folder or key list, as something to compare."""
    if source is None or isinstance(source, (str, bytes)):
        return source
    if isinstance(source, os.PathLike):
        return os.path.abspath(os.fspath(source))
    if isinstance(source, (list, tuple, set, frozenset)):
        return tuple(sorted(str(item) for item in source))
    return ("object", id(source))  # an iterator: never shared


def resolve(auth: AuthLike) -> Security:
    """The :class:`Security` an ``auth=`` argument means.

    Raises:
        TypeError: ``auth`` is neither a bool nor a :class:`Security`.
    """
    if isinstance(auth, Security):
        return auth
    if isinstance(auth, bool):
        return Security(enabled=auth)
    raise TypeError(f"auth is True, False or a broker.Security, not {auth!r}")


def is_private_ipc(endpoint: str) -> bool:
    """Whether ``endpoint`` is an ipc path only this user can reach: some
    folder above it belongs to this user and admits nobody else (mode 0700).

    Such a path needs no more authentication: the operating system refuses
    every other user's connection (root aside, which can read the key too).
    """
    if not endpoint.startswith("ipc://") or sys.platform == "win32":
        return False
    path = endpoint[len("ipc://") :]
    if path.startswith("@") or not path.startswith("/"):
        return False  # the abstract namespace, or relative: anyone may reach it
    uid = os.getuid()
    folder = os.path.dirname(os.path.realpath(path))
    for _ in range(64):  # bounded: a path has few parts
        try:
            status = os.stat(folder)
        except OSError:
            return False
        if status.st_uid == uid and not status.st_mode & 0o077:
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return False


def _public_keys(source: Any) -> FrozenSet[bytes]:
    """Public keys from a folder of ``.key`` files, a ``.key`` file, or Z85 strings."""
    if source is None:
        return frozenset()
    if isinstance(source, (str, bytes)) and len(source) == 40 and not os.path.exists(source):
        return frozenset([source.encode("ascii") if isinstance(source, str) else source])
    if isinstance(source, (str, os.PathLike)):
        return _keys_at(os.fspath(source))
    keys: Set[bytes] = set()
    for item in source:
        keys.update(_public_keys(item))
    return frozenset(keys)


def _keys_at(path: str) -> FrozenSet[bytes]:
    import zmq.auth

    try:
        if os.path.isdir(path):
            return frozenset(zmq.auth.load_certificates(path).keys())
        return frozenset([zmq.auth.load_certificate(path)[0]])
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read public keys from {path}: {exc}") from exc
