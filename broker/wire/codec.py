"""Encoding and decoding bodies under one endpoint's limits, without I/O.

Nothing here imports zmq or starts a thread. The socket layer hands
:meth:`Codec.decode` the frames of one message (the ZeroMQ envelope already
removed, see :mod:`broker.wire.envelope`) and sends the frames
:meth:`Codec.encode_request` or :meth:`Codec.encode_response` return::

    [body, oob_0, oob_1, ...]

    body    msgpack, a message of broker.wire.messages
    oob_i   raw bytes of a large bytes-like value, referenced from the
            body by msgpack ExtType(1, <uint32 big-endian i>)

Strings are UTF-8 str, binary is bin (``use_bin_type=True``), map keys are
str, int or bin; tuples arrive as lists. What a body may carry, and what
:func:`default_hook` converts (datetimes to ISO 8601 str, sets to lists), is
in :mod:`broker.wire.values`.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import msgpack

from ..errors import MessageTooLarge, ProtocolError
from .messages import MSGID_LIMIT, REQUEST, RESPONSE, Request, Response
from .values import (
    MAX_DEPTH,
    OUT_OF_RANGE,
    default_hook,
    describe_int,
    describe_path,
    extra_packer_levels,
    find_bad_key,
    find_big_int,
    pack_nested,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_OOB_THRESHOLD",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_STR",
    "MAX_DEPTH",
    "Codec",
    "default_hook",
    "reject_ext",
]

#: Largest message (all frames together) a codec encodes or decodes.
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
#: Top-level bytes-like values at least this large travel as extra frames.
DEFAULT_OOB_THRESHOLD = 64 * 1024
#: Most items in one decoded array or map.
DEFAULT_MAX_ITEMS = 16 * 1024 * 1024
#: Longest decoded str, in bytes of UTF-8.
DEFAULT_MAX_STR = 64 * 1024 * 1024
_OOB_EXT = 1
_OOB_INDEX = struct.Struct(">I")
# What msgpack raises for bad input: ExtraData, FormatError, StackError and
# UnicodeDecodeError are ValueErrors; OutOfData is only an UnpackException.
_MSGPACK_ERRORS = (ValueError, msgpack.UnpackException)

Frame = Union[bytes, bytearray, memoryview]


def _nbytes(value: Any) -> int:
    return value.nbytes if isinstance(value, memoryview) else len(value)


_BYTES_LIKE = (bytes, bytearray, memoryview)


class _OobResolver:
    """msgpack ``ext_hook`` that resolves references to out-of-band frames."""

    __slots__ = ("frames", "copy")

    def __init__(self, frames: Sequence[Frame], copy: bool) -> None:
        self.frames = frames
        self.copy = copy

    def __call__(self, code: int, data: bytes) -> Any:
        if code != _OOB_EXT or len(data) != _OOB_INDEX.size:
            raise ProtocolError(f"unknown msgpack ext type {code}")
        (index,) = _OOB_INDEX.unpack(data)
        if index >= len(self.frames):
            raise ProtocolError(f"reference to out-of-band frame {index} that was not sent")
        frame = self.frames[index]
        # bytes(b) of a bytes object is that object: only buffers are copied.
        return bytes(frame) if self.copy else frame


class Codec:
    """Encodes and decodes messages under one endpoint's limits.

    A codec holds no per-message state: one can serve several threads.

    Arguments:
        max_message_size: bytes, all frames together; larger messages raise
            :class:`MessageTooLarge` on encode (before anything is sent)
            and on decode.
        max_items: most items in one decoded array or map.
        max_str: longest decoded str, in bytes of UTF-8.
        max_bin: longest decoded bin inside a body; None: as long as the
            message may be. (Out-of-band frames count only against
            ``max_message_size``.)
            A body over ``max_items``, ``max_str`` or ``max_bin``, or nested
            deeper than :data:`MAX_DEPTH`, raises :class:`ProtocolError` on
            decode, naming the limit (a value nested deeper is a
            ``TypeError`` on encode, whatever msgpack is installed); msgpack
            checks each declared length before it allocates. They bound one value; a whole decoded
            body can still take tens of times its size in memory (e.g. one
            of empty arrays): ``max_message_size`` bounds that. Fixed at
            construction.
        oob_threshold: top-level arguments, keyword values and results that
            are bytes-like and at least this large travel as extra frames
            instead of inside the body. None keeps everything in the body.
        default: msgpack ``default=`` hook for types msgpack cannot carry;
            :func:`default_hook` (datetimes become ISO 8601 str, sets
            lists; anything else is a ``TypeError``) unless given. Map keys
            may be str, int or bytes: a body with any other key is a
            :class:`ProtocolError` on decode, which names the key's type
            and where it is.
        zero_copy: out-of-band values are decoded as the frames that carried
            them: the sockets of this package receive those frames as
            read-only ``memoryview`` objects over ZeroMQ's buffers, so a
            large bytes value arrives without a copy, as a memoryview
            (``bytes(value)`` copies it). False copies each into ``bytes``.
    """

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_str: int = DEFAULT_MAX_STR,
        max_bin: Optional[int] = None,
        oob_threshold: Optional[int] = DEFAULT_OOB_THRESHOLD,
        default: Optional[Callable[[Any], Any]] = None,
        zero_copy: bool = True,
    ) -> None:
        self.max_message_size = max_message_size
        self._max_items = max_items
        self._max_str = max_str
        self._max_bin = max_bin
        # Bodies up to this long cannot break a limit (an item takes a byte).
        self._limits_floor = min(max_items, max_str, max_bin if max_bin is not None else max_str)
        self.oob_threshold = oob_threshold
        self._default = default or default_hook
        self.zero_copy = zero_copy
        # Arrays to wrap a message in, so that msgpack's encoder refuses what
        # nests deeper than MAX_DEPTH (see values.extra_packer_levels).
        self._wrap = _extra_levels()
        # Idle packers, taken and given back by one atomic list operation each,
        # so threads never share one: packb() would allocate a packer and its
        # 256 KiB buffer for every message, most of the cost of a small one.
        self._packers: List[Any] = []

    @property
    def default(self) -> Callable[[Any], Any]:
        """The ``default=`` hook for types msgpack cannot carry."""
        return self._default

    @property
    def max_items(self) -> int:
        """Most items in one decoded array or map."""
        return self._max_items

    @property
    def max_str(self) -> int:
        """Longest decoded str, in bytes."""
        return self._max_str

    @property
    def max_bin(self) -> Optional[int]:
        """Longest decoded bin inside a body; None: no limit below the message's."""
        return self._max_bin

    # -- encode ------------------------------------------------------------

    def encode_request(
        self,
        msgid: int,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Optional[Dict[str, Any]] = None,
    ) -> List[Frame]:
        """Frames of a request.

        Raises:
            MessageTooLarge: over ``max_message_size``; nothing should be sent.
            TypeError: an argument msgpack cannot carry (see ``default``).
        """
        oob: List[Frame] = []
        args = self._extract_oob_list(args, oob)
        message: list
        if kwargs:
            message = [REQUEST, msgid, method, args, self._extract_oob_map(kwargs, oob)]
        else:
            message = [REQUEST, msgid, method, args]
        return self._finish(message, oob)

    def encode_response(
        self, msgid: int, result: Any = None, error: Optional[Dict[str, Any]] = None
    ) -> List[Frame]:
        """Frames of a response carrying ``result``, or ``error`` when not None.

        Raises:
            MessageTooLarge: over ``max_message_size``.
            TypeError: a result msgpack cannot carry.
        """
        oob: List[Frame] = []
        if error is None:
            result = self._extract_oob_value(result, oob)
        return self._finish([RESPONSE, msgid, error, result], oob)

    def _finish(self, message: list, oob: List[Frame]) -> List[Frame]:
        packers, wrap = self._packers, self._wrap
        try:
            packer = packers.pop()
        except IndexError:
            packer = msgpack.Packer(use_bin_type=True, default=self._default)
        try:
            if wrap:
                body = packer.pack([message] if wrap == 1 else _wrapped(message, wrap))
                # Past the wrapping arrays' headers; a large body without a copy.
                body = body[wrap:] if len(body) < _VIEW_MIN else memoryview(body)[wrap:]
            else:
                body = packer.pack(message)
        except (ValueError, RecursionError):
            # msgpack's own nesting limit (or Python's, for its fallback): ours holds.
            packers.append(packer)  # msgpack empties a packer that failed
            body = None
        except (TypeError, OverflowError) as exc:
            packers.append(packer)
            raise TypeError(f"cannot encode {_what(message)}: {_explain(message, exc)}") from exc
        else:
            if len(body) <= _PACKER_KEEP:  # else its buffer grew to the message: dropped
                packers.append(packer)
        if body is None:
            body = _pack_nested(message, self._default)
        if oob:
            frames: List[Frame] = [body, *oob]
            size = len(body) + sum(_nbytes(frame) for frame in oob)
        else:
            frames = [body]
            size = len(body)
        if size > self.max_message_size:
            raise MessageTooLarge(
                f"{_what(message)} is {size} bytes, over the limit of {self.max_message_size}"
            )
        return frames

    def _extract_oob_value(self, value: Any, oob: List[Frame]) -> Any:
        threshold = self.oob_threshold
        if (
            threshold is not None
            and isinstance(value, (bytes, bytearray, memoryview))
            and _nbytes(value) >= threshold
        ):
            oob.append(value)
            return msgpack.ExtType(_OOB_EXT, _OOB_INDEX.pack(len(oob) - 1))
        return value

    def _extract_oob_list(self, values: Sequence[Any], oob: List[Frame]) -> Any:
        threshold = self.oob_threshold
        if threshold is None:
            return values
        for value in values:
            if isinstance(value, _BYTES_LIKE) and _nbytes(value) >= threshold:
                return [self._extract_oob_value(value, oob) for value in values]
        return values  # the common case: nothing to move, and a tuple packs as an array

    def _extract_oob_map(self, values: Dict[str, Any], oob: List[Frame]) -> Dict[str, Any]:
        if self.oob_threshold is None:
            return values
        return {key: self._extract_oob_value(value, oob) for key, value in values.items()}

    # -- decode ------------------------------------------------------------

    def decode(self, frames: Sequence[Frame]) -> Union[Request, Response]:
        """Decode and validate one message.

        Raises:
            MessageTooLarge: over ``max_message_size``.
            ProtocolError: anything that is not a well-formed message.
        """
        return self.decode_checked(self.check(frames))

    def decode_checked(self, frames: Sequence[Frame]) -> Union[Request, Response]:
        """:meth:`decode` for frames that :meth:`check` already checked."""
        body = frames[0]
        ext_hook = _OobResolver(frames[1:], not self.zero_copy) if len(frames) > 1 else reject_ext
        # Inline, not _nbytes(): this runs for every message.
        size = body.nbytes if type(body) is memoryview else len(body)
        try:
            if size <= self._limits_floor:  # inline: the common case, for every message
                message = msgpack.unpackb(body, raw=False, strict_map_key=True, ext_hook=ext_hook)
            else:
                message = self._unpack(body, size, ext_hook, True)
        except msgpack.StackError as exc:
            raise ProtocolError(f"body nests arrays and maps deeper than {MAX_DEPTH}") from exc
        except _MSGPACK_ERRORS as exc:
            if "map key" not in str(exc):
                raise ProtocolError(
                    f"body is not valid msgpack, or is over this codec's limits: {_detail(exc)}"
                ) from exc
            # A key that is not a str: decoded again, then every key checked.
            # Only such bodies pay for it; a str-keyed one never gets here.
            # (No closure here: it would slow every call of this method.)
            message = _with_keys_checked(self._unpack, body, size, ext_hook)
        return _validate(message)

    def _unpack(self, body: Frame, size: int, ext_hook: Any, strict_keys: bool) -> Any:
        if size <= self._limits_floor:
            # unpackb bounds every declared length by len(body) itself.
            return msgpack.unpackb(body, raw=False, strict_map_key=strict_keys, ext_hook=ext_hook)
        return msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=strict_keys,
            ext_hook=ext_hook,
            # Never above len(body): what unpackb would check by itself.
            max_array_len=min(self._max_items, size),
            max_map_len=min(self._max_items, size // 2),
            max_str_len=min(self._max_str, size),
            max_bin_len=size if self._max_bin is None else min(self._max_bin, size),
        )

    # -- check: limits without decoding ------------------------------------------

    def check(self, frames: Sequence[Frame]) -> List[Frame]:
        """``[body, *oob]``, once its size is checked; nothing is decoded.

        A relay (the broker) checks, rewrites the head with
        :func:`~broker.wire.envelope.rewrite_head` and passes the rest on,
        never decoding the arguments.

        Raises:
            MessageTooLarge: over ``max_message_size``.
            ProtocolError: no frames.
        """
        if not frames:
            raise ProtocolError("empty message")
        size = _nbytes(frames[0]) if len(frames) == 1 else sum(map(_nbytes, frames))
        if size > self.max_message_size:
            raise MessageTooLarge(
                f"message is {size} bytes, over the limit of {self.max_message_size}"
            )
        return list(frames)


# A body at least this large is sent as a view past the wrapping headers (a
# copy would cost a tenth of packing it); the socket layer sends it without a copy.
_VIEW_MIN = 64 * 1024
# A packer whose buffer grew past msgpack's own default size is dropped.
_PACKER_KEEP = 256 * 1024
_EXTRA_LEVELS: List[int] = []


def _extra_levels() -> int:
    """:func:`~broker.wire.values.extra_packer_levels`, measured once per process."""
    if not _EXTRA_LEVELS:
        _EXTRA_LEVELS.append(extra_packer_levels())
    return _EXTRA_LEVELS[0]


def _pack_nested(message: list, default: Callable[[Any], Any]) -> bytes:
    try:
        return pack_nested(message, default)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"cannot encode {_what(message)}: {_explain(message, exc)}") from exc


def _wrapped(message: list, levels: int) -> Any:
    wrapped: Any = message
    for _ in range(levels):
        wrapped = [wrapped]
    return wrapped


def _explain(message: list, exc: Exception) -> str:
    """Why ``message`` could not be encoded; built only on failure."""
    if isinstance(exc, OverflowError):
        found = find_big_int(message)
        if found is not None:
            path, number = found
            return f"{describe_int(number)} in {_where(message, path)} {OUT_OF_RANGE}"
    return str(exc)


def _where(message: Any, path: Tuple[Any, ...]) -> str:
    """Where ``path`` (from the message's own array) points, as the sender wrote it."""
    if type(message) is list and len(message) in (4, 5) and len(path) > 0 and path[0] >= 3:
        root = "result" if message[0] == RESPONSE else ("args", "kwargs")[path[0] - 3]
        return describe_path(root, path[1:])
    return describe_path("body", path)


def _with_keys_checked(unpack: Callable[..., Any], *args: Any) -> Any:
    """What ``unpack(*args, False)`` decodes, once every map key in it is a str, int or bytes."""
    try:
        message = unpack(*args, False)
    except TypeError as exc:  # an array or a map as a key: unhashable in Python
        raise ProtocolError(
            f"a map key is an array or a map ({exc}); keys are str, int or bytes"
        ) from exc
    except msgpack.StackError as exc:
        raise ProtocolError(f"body nests arrays and maps deeper than {MAX_DEPTH}") from exc
    except _MSGPACK_ERRORS as exc:
        raise ProtocolError(
            f"body is not valid msgpack, or is over this codec's limits: {exc}"
        ) from exc
    found = find_bad_key(message)
    if found is not None:
        path, key = found
        raise ProtocolError(
            f"{_where(message, path)} is a {type(key).__name__} ({key!r:.40}):"
            " map keys are str, int or bytes"
        )
    return message


def _what(message: list) -> str:
    """What a message being encoded is, for an error: built only on failure."""
    return f"request for {message[2]}" if message[0] == REQUEST else "response"


def _detail(exc: Exception) -> str:
    # msgpack's FormatError (a byte no value starts with, such as 0xc1) has no text.
    return str(exc) or f"msgpack raised {type(exc).__name__}"


def reject_ext(code: int, data: bytes) -> Any:
    """msgpack ``ext_hook`` for a message without out-of-band frames: no ext type is valid."""
    raise ProtocolError(f"unexpected msgpack ext type {code} (no out-of-band frames sent)")


def _validate(message: Any) -> Union[Request, Response]:
    if not isinstance(message, list) or len(message) not in (4, 5):
        raise ProtocolError("message must be an array of 4 or 5 items")
    kind, msgid = message[0], message[1]
    if type(msgid) is not int or not 0 <= msgid < MSGID_LIMIT:
        raise ProtocolError("msgid must be a uint32")
    if kind == REQUEST:
        method, args = message[2], message[3]
        if type(method) is not str:
            raise ProtocolError("request method must be a str")
        if type(args) is not list:
            raise ProtocolError("request args must be an array")
        if len(message) == 5:
            kwargs = message[4]
            if type(kwargs) is not dict or not all(type(key) is str for key in kwargs):
                raise ProtocolError("request kwargs must be a map with str keys")
        else:
            kwargs = {}
        return Request(msgid, method, args, kwargs)
    if kind == RESPONSE and len(message) == 4:
        error = message[2]
        if error is not None and type(error) is not dict:
            raise ProtocolError("response error must be nil or a map")
        return Response(msgid, error, message[3])
    raise ProtocolError(f"unknown message kind {kind!r}")
