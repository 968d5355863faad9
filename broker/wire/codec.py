"""The wire protocol, without I/O: messages, encoding, signing and limits.

Nothing here imports zmq or starts a thread. The socket layer hands
:meth:`Codec.decode` the frames it received (the ZeroMQ envelope already
removed) and sends the frames :meth:`Codec.encode_request` or
:meth:`Codec.encode_response` return.

Frames of one message::

    unsigned    [body, oob_0, oob_1, ...]
    signed      [mac, header, body, oob_0, oob_1, ...]

    body        msgpack, one of
                  [0, msgid, method, args]            request
                  [0, msgid, method, args, kwargs]    request with keywords
                  [1, msgid, error, result]           response
    header      msgpack {"v": 1, "ts": <float unix time>, "nonce": <bin 16>}
    mac         HMAC-SHA256(key, header + body + oob_0 + oob_1 ...), 32 bytes
    oob_i       raw bytes of a large bytes-like value, referenced from the
                body by msgpack ExtType(1, <uint32 big-endian i>)

``msgid`` is a uint32 the responder echoes unchanged. ``error`` is nil or
``{"type", "message", "exception", "traceback"}`` with ``type`` one of
:data:`ERROR_TYPES`. Strings are UTF-8 str, map keys are str, binary is bin
(``use_bin_type=True``); tuples arrive as lists.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import struct
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Union

import msgpack

from ..errors import MessageTooLarge, ProtocolError, Unauthorized

__all__ = [
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "ERROR_TYPES",
    "RESERVED_PREFIX",
    "PING",
    "DESCRIBE",
    "ANNOUNCE",
    "HEARTBEAT",
    "DEPART",
    "HOSTS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_OOB_THRESHOLD",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_STR",
    "MAX_DEPTH",
    "Request",
    "Response",
    "Head",
    "read_head",
    "rewrite_head",
    "Codec",
    "Signer",
    "error_map",
    "exception_error_map",
    "salvage_msgid",
    "default_hook",
]

PROTOCOL_VERSION = 1
REQUEST = 0
RESPONSE = 1

#: The error ``type`` values a peer may send.
ERROR_TYPES = frozenset(
    {
        "ProtocolError",
        "Unauthorized",
        "MethodNotFound",
        "InvalidParams",
        "HostNotFound",
        "HostLost",
        "Timeout",
        "TooLarge",
        "Exception",
    }
)

RESERVED_PREFIX = "rpc."
PING = "rpc.ping"
DESCRIBE = "rpc.describe"
ANNOUNCE = "rpc.announce"
HEARTBEAT = "rpc.heartbeat"
DEPART = "rpc.depart"
HOSTS = "rpc.hosts"

#: Largest message (all frames together) a codec encodes or decodes.
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
#: Top-level bytes-like values at least this large travel as extra frames.
DEFAULT_OOB_THRESHOLD = 64 * 1024
#: Most items in one decoded array or map.
DEFAULT_MAX_ITEMS = 16 * 1024 * 1024
#: Longest decoded str, in bytes of UTF-8.
DEFAULT_MAX_STR = 64 * 1024 * 1024
#: Deepest nesting of arrays and maps a body may have, its own array
#: included: the fixed parse stack of msgpack's C decoder (not configurable;
#: msgpack's pure-Python fallback stops earlier, at Python's recursion limit).
#: msgpack's encoder stops at the same depth, so no codec sends deeper.
MAX_DEPTH = 1024

_OOB_EXT = 1
_OOB_INDEX = struct.Struct(">I")
_MAC_SIZE = 32
_NONCE_SIZE = 16
# The signature header as sign() lays it out: a msgpack map of three, keys
# in this order, ts a float64, nonce a bin8 of 16 bytes.
_HEADER_START = b"\x83\xa1v\x01\xa2ts\xcb"
_HEADER_TS = struct.Struct(">d")
_HEADER_NONCE = b"\xa5nonce\xc4\x10"
_HEADER_NONCE_AT = len(_HEADER_START) + _HEADER_TS.size + len(_HEADER_NONCE)
_HEADER_SIZE = _HEADER_NONCE_AT + _NONCE_SIZE
_NONCE_COUNTER = struct.Struct(">Q")
_COUNTER_MASK = 2**64 - 1
_MSGID_LIMIT = 2**32
# What msgpack raises for bad input: ExtraData, FormatError, StackError and
# UnicodeDecodeError are ValueErrors; OutOfData is only an UnpackException.
_MSGPACK_ERRORS = (ValueError, msgpack.UnpackException)

Frame = Union[bytes, bytearray, memoryview]


class Request(NamedTuple):
    """A decoded request: call ``method`` with ``args`` and ``kwargs``."""

    msgid: int
    method: str
    args: List[Any]
    kwargs: Dict[str, Any]


class Response(NamedTuple):
    """A decoded response: ``error`` is None or an error map."""

    msgid: int
    error: Optional[Dict[str, Any]]
    result: Any


def default_hook(obj: Any) -> Any:
    """The ``default=`` hook used unless a codec is given another.

    Sets and frozensets travel as lists. Anything else msgpack cannot carry
    raises ``TypeError``; pass your own hook to :class:`Codec` to convert
    custom objects (never pickle: the receiver would run the sender's code).
    """
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot serialize {type(obj).__module__}.{type(obj).__qualname__} object")


def error_map(
    type: str,
    message: str,
    exception: Optional[str] = None,
    traceback: Optional[str] = None,
) -> Dict[str, Any]:
    """The error map a response carries. ``type`` is one of :data:`ERROR_TYPES`."""
    if type not in ERROR_TYPES:
        raise ValueError(f"unknown error type {type!r}")
    return {"type": type, "message": message, "exception": exception, "traceback": traceback}


def exception_error_map(
    exc: BaseException, type: str = "Exception", skip_frames: int = 0
) -> Dict[str, Any]:
    """The error map for an exception raised by a called function.

    ``skip_frames`` leaves the caller's own outermost frames out of the
    traceback, so the remote user sees their code, not the server's.
    """
    cls = exc.__class__
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is None or tb.tb_next is None:
            break
        tb = tb.tb_next
    return error_map(
        type,
        str(exc),
        exception=f"{cls.__module__}.{cls.__qualname__}",
        traceback="".join(traceback.format_exception(cls, exc, tb)),
    )


def salvage_msgid(body: Frame) -> int:
    """Best-effort msgid of a body that failed to decode, for the error reply.

    Returns 0 when none can be read, so a REQ client still gets an answer.
    Reads only the first two items: a body refused for its limits, or for
    what follows its msgid, is not decoded again in full.
    """
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, max_buffer_size=max(_nbytes(body), 1)
    )
    try:
        unpacker.feed(body)
        if unpacker.read_array_header() < 2:
            return 0
        unpacker.skip()  # the kind
        msgid = unpacker.unpack()
    except (*_MSGPACK_ERRORS, msgpack.OutOfData):
        return 0
    if type(msgid) is int and 0 <= msgid < _MSGID_LIMIT:
        return msgid
    return 0


class Signer:
    """Signs and verifies frames with HMAC-SHA256 under a shared key.

    A verified message must carry a timestamp within ``window`` seconds of
    this side's clock and a nonce not seen within that window, so a captured
    message cannot be replayed. Thread-safe.

    Arguments:
        key: the shared secret, at least 16 bytes.
        window: seconds a message stays valid, either side of now.
        clock: returns unix time; tests inject their own.
    """

    def __init__(
        self, key: bytes, *, window: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 16:
            raise ValueError("a signing key must be at least 16 bytes")
        self._key = bytes(key)
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: Dict[bytes, float] = {}
        self._expiries: List[tuple] = []
        # Imported here: only signing endpoints need them, and importing
        # OpenSSL's hashes is a good part of what `import host_adapter` costs.
        import hashlib
        import hmac

        self._compare_digest = hmac.compare_digest
        # HMAC (RFC 2104) from its two keyed SHA-256 states, made once; each
        # message copies them. Copying hashlib's C objects costs 0.48 us per
        # mac where copying an hmac.HMAC (a Python wrapper) costs 0.80.
        block = self._key if len(self._key) <= 64 else hashlib.sha256(self._key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
        # A nonce must be unique, not secret (the mac makes it unforgeable):
        # a random prefix per signer and a counter, instead of a system call
        # for 16 random bytes per message.
        self._nonce_prefix = os.urandom(_NONCE_SIZE - 8)
        self._nonce_counter = itertools.count()

    def _mac(self, header: Frame, frames: Sequence[Frame]) -> bytes:
        inner = self._inner.copy()
        inner.update(header)
        for frame in frames:
            inner.update(frame)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def sign(self, frames: Sequence[Frame]) -> List[Frame]:
        """Return ``[mac, header, *frames]``."""
        # The header msgpack.packb({"v": 1, "ts": ts, "nonce": nonce}) would
        # make, byte for byte, without building a dict and a packer.
        nonce = self._nonce_prefix + _NONCE_COUNTER.pack(next(self._nonce_counter) & _COUNTER_MASK)
        header = b"".join((_HEADER_START, _HEADER_TS.pack(self._clock()), _HEADER_NONCE, nonce))
        return [self._mac(header, frames), header, *frames]

    def verify(self, frames: Sequence[Frame]) -> List[Frame]:
        """Check a signed message and return its frames without mac and header.

        Raises:
            Unauthorized: unsigned, bad mac, stale or future timestamp, or a
                nonce already seen.
        """
        if len(frames) < 3:
            raise Unauthorized("message is not signed (expected [mac, header, body, ...])")
        mac, header, rest = frames[0], frames[1], list(frames[2:])
        if len(mac) != _MAC_SIZE or not self._compare_digest(mac, self._mac(header, rest)):
            raise Unauthorized("bad signature: the peer does not hold this key")
        if (
            len(header) == _HEADER_SIZE
            and header[: len(_HEADER_START)] == _HEADER_START
            and header[_HEADER_NONCE_AT - len(_HEADER_NONCE) : _HEADER_NONCE_AT] == _HEADER_NONCE
        ):
            # The layout sign() makes: read it without unpacking a map.
            version = PROTOCOL_VERSION
            (ts,) = _HEADER_TS.unpack_from(header, len(_HEADER_START))
            nonce = bytes(header[_HEADER_NONCE_AT:])
        else:
            try:
                fields = msgpack.unpackb(header, raw=False)
                ts, nonce = fields["ts"], fields["nonce"]
                version = fields["v"]
            except (*_MSGPACK_ERRORS, TypeError, KeyError) as exc:
                raise Unauthorized(f"malformed signature header: {exc}") from exc
        if version != PROTOCOL_VERSION:
            raise Unauthorized(f"unsupported signature header version {version!r}")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not math.isfinite(ts):
            # NaN would pass the window check and never expire from memory.
            raise Unauthorized("signature header timestamp is not a finite number")
        if not isinstance(nonce, bytes) or len(nonce) != _NONCE_SIZE:
            raise Unauthorized("signature header nonce is not 16 bytes")
        now = self._clock()
        if abs(now - ts) > self._window:
            raise Unauthorized(
                f"message timestamp is {now - ts:+.1f} s from now, outside ±{self._window:g} s"
            )
        with self._lock:
            self._forget_expired(now)
            if nonce in self._seen:
                raise Unauthorized("replayed message: nonce already seen")
            expiry = ts + self._window
            self._seen[nonce] = expiry
            heapq.heappush(self._expiries, (expiry, nonce))
        return rest

    def _forget_expired(self, now: float) -> None:
        # A nonce only needs remembering while its timestamp would still pass.
        expiries = self._expiries
        while expiries and expiries[0][0] < now:
            _, nonce = heapq.heappop(expiries)
            self._seen.pop(nonce, None)


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
            decode, naming the limit; msgpack checks each declared length
            before it allocates. They bound one value; a whole decoded
            body can still take tens of times its size in memory (e.g. one
            of empty arrays): ``max_message_size`` bounds that. Fixed at
            construction.
        oob_threshold: top-level arguments, keyword values and results that
            are bytes-like and at least this large travel as extra frames
            instead of inside the body. None keeps everything in the body.
        default: msgpack ``default=`` hook for types msgpack cannot carry;
            :func:`default_hook` (sets become lists) unless given.
        signer: sign outgoing and verify incoming messages; None sends and
            accepts unsigned messages.
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
        signer: Optional[Signer] = None,
        zero_copy: bool = True,
    ) -> None:
        self.max_message_size = max_message_size
        self._max_items = max_items
        self._max_str = max_str
        self._max_bin = max_bin
        # Bodies up to this long cannot break a limit (an item takes a byte).
        self._limits_floor = min(max_items, max_str, max_bin if max_bin is not None else max_str)
        self.oob_threshold = oob_threshold
        self.default = default or default_hook
        self.signer = signer
        self.zero_copy = zero_copy

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
        try:
            body = msgpack.packb(message, use_bin_type=True, default=self.default)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"cannot encode {_what(message)}: {exc}") from exc
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
        return self.signer.sign(frames) if self.signer else frames

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
            Unauthorized: the codec signs and the message's signature fails.
            MessageTooLarge: over ``max_message_size``.
            ProtocolError: anything that is not a well-formed message.
        """
        return self.decode_unsealed(self.unseal(frames))

    def decode_unsealed(self, frames: Sequence[Frame]) -> Union[Request, Response]:
        """:meth:`decode` for frames that :meth:`unseal` already checked."""
        body = frames[0]
        ext_hook = _OobResolver(frames[1:], not self.zero_copy) if len(frames) > 1 else _reject_ext
        # Inline, not _nbytes(): this runs for every message.
        size = body.nbytes if type(body) is memoryview else len(body)
        try:
            if size <= self._limits_floor:
                # unpackb bounds every declared length by len(body) itself.
                message = msgpack.unpackb(body, raw=False, strict_map_key=True, ext_hook=ext_hook)
            else:
                message = msgpack.unpackb(
                    body,
                    raw=False,
                    strict_map_key=True,
                    ext_hook=ext_hook,
                    # Never above len(body): what unpackb would check by itself.
                    max_array_len=min(self._max_items, size),
                    max_map_len=min(self._max_items, size // 2),
                    max_str_len=min(self._max_str, size),
                    max_bin_len=size if self._max_bin is None else min(self._max_bin, size),
                )
        except msgpack.StackError as exc:
            raise ProtocolError(f"body nests arrays and maps deeper than {MAX_DEPTH}") from exc
        except _MSGPACK_ERRORS as exc:
            raise ProtocolError(
                f"body is not valid msgpack, or is over this codec's limits: {exc}"
            ) from exc
        return _validate(message)

    # -- seal / unseal: signatures and limits without decoding ----------------

    def seal(self, frames: Sequence[Frame]) -> List[Frame]:
        """Sign ``[body, *oob]`` when the codec signs; else return it unchanged."""
        return self.signer.sign(frames) if self.signer else list(frames)

    def unseal(self, frames: Sequence[Frame]) -> List[Frame]:
        """Check signature and size; return ``[body, *oob]``.

        A relay (the broker) unseals, rewrites the head with
        :func:`rewrite_head` and seals again, never decoding the arguments.

        Raises:
            Unauthorized, MessageTooLarge, ProtocolError (no frames).
        """
        if self.signer is not None:
            frames = self.signer.verify(frames)
        if not frames:
            raise ProtocolError("empty message")
        size = _nbytes(frames[0]) if len(frames) == 1 else sum(map(_nbytes, frames))
        if size > self.max_message_size:
            raise MessageTooLarge(
                f"message is {size} bytes, over the limit of {self.max_message_size}"
            )
        return list(frames)


class Head(NamedTuple):
    """The first items of a body: enough to route it without decoding the rest."""

    kind: int
    msgid: int
    method: Optional[str]  # None for a response
    length: int  # items in the body array (4 or 5)
    offset: int  # where the items after the head start in the body


def read_head(body: Frame) -> Head:
    """Read kind, msgid and (for a request) method; leave args and results packed.

    Raises:
        ProtocolError: the body does not start like a message.
    """
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=True, ext_hook=_reject_ext, max_buffer_size=max(_nbytes(body), 1)
    )
    unpacker.feed(body)
    try:
        length = unpacker.read_array_header()
        kind = unpacker.unpack()
        msgid = unpacker.unpack()
        method = unpacker.unpack() if kind == REQUEST else None
        offset = unpacker.tell()
    except (*_MSGPACK_ERRORS, msgpack.OutOfData) as exc:
        raise ProtocolError(f"body is not a message: {exc}") from exc
    if length not in (4, 5) or kind not in (REQUEST, RESPONSE):
        raise ProtocolError("message must be an array of 4 or 5 items of a known kind")
    if type(msgid) is not int or not 0 <= msgid < _MSGID_LIMIT:
        raise ProtocolError("msgid must be a uint32")
    if kind == REQUEST and type(method) is not str:
        raise ProtocolError("request method must be a str")
    if kind == RESPONSE and length != 4:
        raise ProtocolError("a response is an array of 4 items")
    return Head(kind, msgid, method, length, offset)


def rewrite_head(body: Frame, head: Head, msgid: int, method: Optional[str] = None) -> bytes:
    """``body`` with a new msgid (and, for a request, a new method name).

    The arguments or result after the head are copied byte for byte.
    """
    packer = msgpack.Packer(use_bin_type=True)
    parts = [packer.pack_array_header(head.length), packer.pack(head.kind), packer.pack(msgid)]
    if head.kind == REQUEST:
        parts.append(packer.pack(method if method is not None else head.method))
    parts.append(bytes(memoryview(body)[head.offset :]))
    return b"".join(parts)


def _what(message: list) -> str:
    """What a message being encoded is, for an error: built only on failure."""
    return f"request for {message[2]}" if message[0] == REQUEST else "response"


def _reject_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"unexpected msgpack ext type {code} (no out-of-band frames sent)")


def _validate(message: Any) -> Union[Request, Response]:
    if not isinstance(message, list) or len(message) not in (4, 5):
        raise ProtocolError("message must be an array of 4 or 5 items")
    kind, msgid = message[0], message[1]
    if type(msgid) is not int or not 0 <= msgid < _MSGID_LIMIT:
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
