"""The per-user key: where it lives, how it is made, who may read it.

Every process of one user shares one key, a CURVE keypair (Curve25519):
the secret half never leaves the user's key file, the public half is what
every endpoint of the user admits (:mod:`broker.security.options`).
Whichever side starts first creates the file; the others find it with no
configuration:

============  ==========================================================
POSIX         ``$XDG_CONFIG_HOME/zmq-host-broker/key``
              (``~/.config/zmq-host-broker/key``), mode 0600, in a folder
              only the user may write
macOS         ``~/Library/Application Support/zmq-host-broker/key``
Windows       ``%LOCALAPPDATA%\\zmq-host-broker\\key``: the profile's
              own ACL keeps other users out (mode bits mean nothing there)
anywhere      ``$BROKER_KEY_FILE``, ``Security(key_file=...)``, ``--key-file``:
              that file, which must exist (it is never created there)
============  ==========================================================

The file holds the 32 bytes of the secret key as 64 hex digits (a file an
earlier release wrote, its signing key, is the same format and keeps
working). A ``.key_secret`` certificate of pyzmq's ``zmq.auth`` is read as
well. The file is opened without following a link and without blocking,
and must be a regular file of at most 4 KiB owned by the user, that nobody
else can read, in a folder nobody else can write: anything else is a
:class:`~broker.errors.KeyFileError` whose message says how to fix it.
A new file is made atomically: written to a private temporary file, then
linked into place only if no other process got there first (in which case
that process's key is used).
"""

from __future__ import annotations

import binascii
import logging
import os
import stat
import sys
from typing import TYPE_CHECKING, NamedTuple, Optional, Tuple, Union

from ..errors import KeyFileError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "KEY_FILE_ENV",
    "KeyPair",
    "default_key_path",
    "load_key",
    "create_key",
    "public_key_of",
    "create_certificate",
]

log = logging.getLogger(__name__)

KEY_FILE_ENV = "BROKER_KEY_FILE"
_APP = "zmq-host-broker"
_KEY_BYTES = 32
_MAX_SIZE = 4096

PathLike = Union[str, "os.PathLike[str]"]


class KeyPair(NamedTuple):
    """A CURVE keypair, each half as 40 characters of Z85 (what ZeroMQ takes)."""

    public: bytes
    secret: bytes
    path: str


def default_key_path() -> Path:
    """The user's own key file (``$BROKER_KEY_FILE`` is an explicit path, not this)."""
    from pathlib import Path  # here, not at import: a DCC pays for every import at start-up

    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / _APP / "key"


def load_key(path: Optional[PathLike] = None) -> KeyPair:
    """The user's keypair.

    Arguments:
        path: the key file. None: ``$BROKER_KEY_FILE`` if set, else the
            user's own file (:func:`default_key_path`), made if missing.
            A path given either way must exist.

    Raises:
        KeyFileError: missing (where given), unsafe or malformed; the
            message says how to fix it.
    """
    from pathlib import Path

    explicit = path if path is not None else os.environ.get(KEY_FILE_ENV) or None
    key_path = Path(explicit) if explicit is not None else default_key_path()
    if explicit is None and not os.path.lexists(key_path):
        create_key(key_path, exist_ok=True)
    secret = _parse(key_path, _read_private(key_path))
    import zmq

    return KeyPair(zmq.curve_public(secret), secret, str(key_path))


def create_key(path: PathLike, *, exist_ok: bool = False) -> Path:
    """Make a new key file at ``path`` (and its folder, mode 0700).

    Arguments:
        exist_ok: a file already there is kept (another process made it
            first); otherwise it is an error.

    Raises:
        KeyFileError: the file exists (without ``exist_ok``), or cannot be made.
    """
    from pathlib import Path

    key_path = Path(path)
    try:
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_folder(key_path)
        temporary = key_path.with_name(f".{key_path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        descriptor = os.open(str(temporary), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(os.urandom(_KEY_BYTES).hex() + "\n")
            try:
                if sys.platform == "win32":
                    os.rename(temporary, key_path)  # fails if it exists: first writer wins
                else:
                    os.link(temporary, key_path)  # fails if it exists: first writer wins
                log.info("created a new key at %s", key_path)
            except FileExistsError:
                if not exist_ok:
                    raise KeyFileError(
                        f"{key_path} exists already: remove it first to make a new key"
                    ) from None
        finally:
            if temporary.exists():
                temporary.unlink()
    except OSError as exc:
        raise KeyFileError(
            f"cannot make a key file at {key_path}: {exc.strerror or exc}; "
            f"choose a folder of your own (--key-file or ${KEY_FILE_ENV})"
        ) from exc
    return key_path


def public_key_of(path: Optional[PathLike] = None) -> str:
    """The public key of the key file (see :func:`load_key`), as Z85 text."""
    return load_key(path).public.decode("ascii")


def create_certificate(directory: PathLike, name: str) -> Tuple[Path, Path]:
    """A keypair of its own for one machine (or process), in ``zmq.auth``'s format.

    Writes ``NAME.key`` (the public key: copy it into the ``authorized``
    folder of the endpoints that must admit this one) and ``NAME.key_secret``
    (mode 0600: this side's ``key_file``) in ``directory`` (made 0700).

    Raises:
        KeyFileError: the folder cannot be made or written.
    """
    from pathlib import Path

    import zmq.auth

    folder = Path(directory)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        public, secret = zmq.auth.create_certificates(str(folder), name)
        Path(secret).chmod(0o600)
    except OSError as exc:
        raise KeyFileError(f"cannot write a certificate in {folder}: {exc}") from exc
    return Path(public), Path(secret)


def _read_private(path: Path) -> bytes:
    """The file's bytes, if it is a small regular file private to this user."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    hint = f"(set {KEY_FILE_ENV} or --key-file to a key file of your own)"
    try:
        descriptor = os.open(str(path), flags)
    except FileNotFoundError:
        raise KeyFileError(
            f"no key file at {path}: make one with 'python -m broker key --new {path}', "
            f"or leave {KEY_FILE_ENV} and --key-file unset to use your own"
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot open the key file {path}: {exc.strerror or exc} {hint}"
        ) from exc
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"{path} is not a regular file {hint}")
        if status.st_size > _MAX_SIZE:
            raise KeyFileError(f"{path} is {status.st_size} bytes: not a key file {hint}")
        _check_owner(path, status)
        _check_folder(path)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(_MAX_SIZE + 1)
    finally:
        os.close(descriptor)


def _check_owner(path: Path, status: os.stat_result) -> None:
    if sys.platform == "win32":
        return  # ACLs, not mode bits: %LOCALAPPDATA% is private to its user
    if status.st_uid != os.getuid():
        raise KeyFileError(
            f"{path} belongs to another user (uid {status.st_uid}): use a key file of your own"
        )
    if status.st_mode & 0o077:
        raise KeyFileError(
            f"{path} can be read by other users (mode {status.st_mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )


def _check_folder(path: Path) -> None:
    """Nobody else may replace the key: its folder must be writable by this user alone."""
    if sys.platform == "win32":
        return
    folder = path.parent
    status = folder.stat()
    if status.st_uid not in (os.getuid(), 0) or status.st_mode & 0o022:
        raise KeyFileError(
            f"the folder {folder} can be written by other users "
            f"(mode {status.st_mode & 0o777:o}, uid {status.st_uid}), who could replace "
            f"the key; run: chmod go-w {folder}, or keep the key in a folder of your own"
        )


def _parse(path: Path, data: bytes) -> bytes:
    """The Z85 secret key a key file holds: 64 hex digits, or a zmq.auth certificate."""
    text = data.decode("ascii", "replace")
    if "secret-key" in text:  # a .key_secret certificate of zmq.auth
        for line in text.splitlines():
            name, _, value = line.strip().partition("=")
            if name.strip() == "secret-key":
                secret = value.strip().strip('"').encode("ascii")
                if len(secret) == 40:
                    return secret
        raise KeyFileError(f"{path} is a certificate without a usable secret-key")
    if "public-key" in text:
        raise KeyFileError(f"{path} holds only a public key: the key file is its .key_secret twin")
    try:
        raw = binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise KeyFileError(
            f"{path} does not hold a key (64 hex digits): remove it to have a new one "
            "made, or point --key-file at another"
        )
    import zmq.utils.z85

    return zmq.utils.z85.encode(raw)
