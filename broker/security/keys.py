"""The per-user signing key: where it lives, how it is made, who may read it.

Every message is signed with a key that only the user's own processes can
read. Whichever side starts first creates it; the others find
it with no configuration:

============  ==========================================================
POSIX         ``$XDG_CONFIG_HOME/zmq-host-broker/key``
              (``~/.config/zmq-host-broker/key``), file mode 0600 in a
              0700 folder; a key file anyone else can read is refused
macOS         ``~/Library/Application Support/zmq-host-broker/key``
Windows       ``%LOCALAPPDATA%\\zmq-host-broker\\key``: the profile's
              own ACL keeps other users out (mode bits mean nothing there)
anywhere      ``$BROKER_KEY_FILE``, or ``key_file=`` / ``--key-file``
============  ==========================================================

The file holds 32 random bytes as hex. It is created atomically: written
to a private temporary file, then linked into place only if no other
process got there first (in which case that process's key is used).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Optional, Union

from ..errors import KeyFileError
from ..wire.codec import Codec
from ..wire.signing import Signer

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["KEY_FILE_ENV", "KeyFileError", "default_key_path", "load_key", "make_codec"]

log = logging.getLogger(__name__)

KEY_FILE_ENV = "BROKER_KEY_FILE"
_APP = "zmq-host-broker"
_KEY_BYTES = 32

PathLike = Union[str, "os.PathLike[str]"]


def default_key_path() -> Path:
    """Where the key lives unless ``$BROKER_KEY_FILE`` or an argument says otherwise."""
    from pathlib import Path  # here, not at import: a DCC pays for every import at start-up

    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV])
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / _APP / "key"


def load_key(path: Optional[PathLike] = None, *, create: bool = True) -> bytes:
    """Read the signing key, creating it first if it does not exist.

    Arguments:
        path: the key file; :func:`default_key_path` when None.
        create: make a new key when the file is missing.

    Raises:
        KeyFileError: the file is readable by others, malformed, or missing
            with ``create=False``.
    """
    from pathlib import Path

    key_path = Path(path) if path is not None else default_key_path()
    if not key_path.exists():
        if not create:
            raise KeyFileError(f"no key file at {key_path}")
        _create(key_path)
    _check_private(key_path)
    try:
        text = key_path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read a hex key from {key_path}: {exc}") from exc
    if len(key) < 16:
        raise KeyFileError(f"the key in {key_path} is {len(key)} bytes; at least 16 are needed")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(str(temporary), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(os.urandom(_KEY_BYTES).hex() + "\n")  # what secrets.token_hex does
        try:
            if sys.platform == "win32":
                os.rename(temporary, path)  # fails if it exists: first writer wins
            else:
                os.link(temporary, path)  # fails if it exists: first writer wins
            log.info("created a new signing key at %s", path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        if temporary.exists():
            temporary.unlink()


def _check_private(path: Path) -> None:
    if sys.platform == "win32":
        return  # ACLs, not mode bits: %LOCALAPPDATA% is private to its user
    status = path.stat()
    if status.st_mode & 0o077:
        raise KeyFileError(
            f"{path} can be read by other users (mode {status.st_mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    if status.st_uid != os.getuid():
        raise KeyFileError(f"{path} belongs to another user (uid {status.st_uid})")


def make_codec(
    codec: Optional[Codec] = None,
    *,
    auth: bool = True,
    key_file: Optional[PathLike] = None,
) -> Codec:
    """The codec an endpoint uses: ``codec`` if given, else signed with the
    user's key, else (``auth=False``) unsigned, with a warning.

    Raises:
        KeyFileError: see :func:`load_key`.
    """
    if codec is not None:
        return codec
    if not auth:
        log.warning("authentication is OFF: any local process can call this endpoint")
        return Codec()
    return Codec(signer=Signer(load_key(key_file)))
