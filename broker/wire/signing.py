"""Per-message signatures: HMAC-SHA256 under the user's key, timestamps, nonces. No I/O.

Frames of a signed message::

    [mac, header, body, oob_0, oob_1, ...]

    header  msgpack {"v": 1, "ts": <float unix time>, "nonce": <bin 16>}
    mac     HMAC-SHA256(key, header + body + oob_0 + oob_1 ...), 32 bytes
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import struct
import threading
import time
from typing import Callable, Dict, List, Sequence, Union

import msgpack

from ..errors import Unauthorized
from .messages import PROTOCOL_VERSION

__all__ = ["Signer", "MAC_SIZE", "SIGNED_HEAD"]

Frame = Union[bytes, bytearray, memoryview]

#: Bytes in a mac.
MAC_SIZE = 32
#: Frames before the body in a signed message: the mac and the header.
SIGNED_HEAD = 2
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
# What msgpack raises for bad input (see broker.wire.codec).
_MSGPACK_ERRORS = (ValueError, msgpack.UnpackException)


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
        if len(mac) != MAC_SIZE or not self._compare_digest(mac, self._mac(header, rest)):
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
