"""The security settings of an endpoint or client, as one object.

Every factory and constructor that makes sockets (``broker.connect``,
``host_adapter.serve``, ``ui_adapter.listen`` / ``attach``, the broker) takes
one argument for them, ``auth``:

- ``True`` (the default): this user's own key, found with no configuration
  (:mod:`broker.security.keys`);
- ``False``: authentication off, for raw interop (logged as a warning);
- a :class:`Security`: another key file, or CURVE across machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from .keys import PathLike, make_codec

if TYPE_CHECKING:
    import zmq

    from ..transport.sockets import SocketFactory
    from ..wire.codec import Codec
    from .curve import Curve

__all__ = ["Security", "AuthLike", "resolve"]


class Security:
    """How an endpoint or client proves who it is and whom it admits.

    Arguments:
        key_file: the user's key file; default ``$BROKER_KEY_FILE`` or the
            user's own (see :mod:`broker.security.keys`).
        curve: CURVE settings for endpoints on other machines (see
            :mod:`broker.security.curve`).
        enabled: False turns authentication off (raw interop).
    """

    __slots__ = ("key_file", "curve", "enabled")

    def __init__(
        self,
        *,
        key_file: Optional[PathLike] = None,
        curve: Optional[Curve] = None,
        enabled: bool = True,
    ) -> None:
        self.key_file = key_file
        self.curve = curve
        self.enabled = enabled

    def codec(self, codec: Optional[Codec] = None) -> Codec:
        """The codec to use: ``codec`` if given, else one that signs with the
        user's key (or, disabled, an unsigned one, with a warning).

        Raises:
            KeyFileError: the key file is unusable.
        """
        return make_codec(codec, auth=self.enabled, key_file=self.key_file)

    def sockets(self, context: zmq.Context, codec: Codec) -> SocketFactory:
        """The factory for sockets under these settings and ``codec``'s limits."""
        from ..transport.sockets import SocketFactory

        return SocketFactory(context, max_message_size=codec.max_message_size, curve=self.curve)

    def __repr__(self) -> str:
        if not self.enabled:
            return "<Security off>"
        parts = [f"key_file={self.key_file!r}" if self.key_file else "the user's key"]
        if self.curve is not None:
            parts.append("CURVE")
        return f"<Security {', '.join(parts)}>"


#: What ``auth=`` accepts.
AuthLike = Union[bool, Security]


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
