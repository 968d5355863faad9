"""Where a message's parts sit among the frames, without I/O.

What a ROUTER receives, and what it sends back (the envelope echoed)::

    [routing_id, (request_id,) b"", *message]   a REQ peer (REQ_CORRELATE adds request_id)
    [routing_id, *message]                      a DEALER peer that sends no delimiter

    message   [body, oob_0, ...]

This module says which frames are the envelope and which the body, reads a
body's head (kind, msgid, method) without decoding the rest, rewrites it for
a relay, and salvages the msgid of a message that cannot be decoded, so that
its sender is answered; a msgpack-rpc notification (``[2, method, params]``,
which this protocol does not use) is recognised so that it is not.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import msgpack

from ..errors import ProtocolError
from .codec import reject_ext
from .messages import MSGID_LIMIT, REQUEST, RESPONSE

__all__ = [
    "Head",
    "NOTIFICATION",
    "is_notification",
    "split_envelope",
    "body_of",
    "read_head",
    "rewrite_head",
    "salvage_msgid",
]

Frame = Union[bytes, bytearray, memoryview]
# What msgpack raises for bad input (see broker.wire.codec), and the
# TypeError of an array or a map as a map key (unhashable in Python).
_MSGPACK_ERRORS = (ValueError, TypeError, msgpack.UnpackException)


def split_envelope(frames: List[Any]) -> Tuple[List[Any], List[Any]]:
    """Split what a ROUTER received into ``(envelope, message)``.

    The envelope is the routing id and every frame up to and including the
    first empty one (REQ's delimiter); a DEALER that sends no delimiter has
    the routing id alone as its envelope, and is answered the same way.
    """
    for index in range(1, len(frames)):
        if not frames[index]:
            return frames[: index + 1], frames[index + 1 :]
    return frames[:1], frames[1:]


def body_of(message: Sequence[Frame]) -> Optional[Frame]:
    """The frame that holds the body of ``message`` (the first), or None."""
    return message[0] if message else None


def salvage_msgid(message: Sequence[Frame]) -> int:
    """Best-effort msgid of a message that was refused or failed to decode.

    Returns 0 when none can be read (no call uses msgid 0, see
    :mod:`broker.wire.calls`), so a REQ client still gets an answer. Reads
    only the first two items of the body: a body refused for its limits,
    or for what follows its msgid, is not decoded again in full.
    """
    body = body_of(message)
    if not body:
        return 0
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
    if type(msgid) is int and 0 <= msgid < MSGID_LIMIT:
        return msgid
    return 0


#: msgpack-rpc's notification kind: ``[2, method, params]`` expects no reply.
NOTIFICATION = 2


def is_notification(message: Sequence[Frame]) -> bool:
    """Whether ``message`` is a msgpack-rpc notification ``[2, method, params]``.

    This protocol has no notifications, so a server refuses one; but the
    msgpack-rpc spec says its sender expects no reply, so it is refused
    without one (a reply would sit unread in a DEALER's queue, or be taken
    for the answer to a later call). Reads only the first item of the body.
    """
    body = body_of(message)
    if not body:
        return False
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(_nbytes(body), 1))
    try:
        unpacker.feed(body)
        if unpacker.read_array_header() != 3:
            return False
        kind = unpacker.unpack()
    except (*_MSGPACK_ERRORS, msgpack.OutOfData):
        return False
    return type(kind) is int and kind == NOTIFICATION


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
        raw=False, strict_map_key=False, ext_hook=reject_ext, max_buffer_size=max(_nbytes(body), 1)
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
    if type(msgid) is not int or not 0 <= msgid < MSGID_LIMIT:
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


def _nbytes(value: Any) -> int:
    return value.nbytes if isinstance(value, memoryview) else len(value)
