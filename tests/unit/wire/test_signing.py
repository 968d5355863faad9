"""Per-message signatures in memory: sign, verify, tampering, windows, replays."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Dict, List

import msgpack
import pytest

from broker.errors import Unauthorized
from broker.wire.codec import Codec
from broker.wire.messages import Request, Response
from broker.wire.signing import Signer

KEY = b"k" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sign_verify_round_trip() -> None:
    clock = Clock()
    signer = make_signer(clock)
    frames = [b"body", b"oob"]
    signed = signer.sign(frames)
    assert len(signed) == 4
    assert len(signed[0]) == 32
    header = msgpack.unpackb(signed[1], raw=False)
    assert header["v"] == 1
    assert header["ts"] == clock.now
    assert isinstance(header["nonce"], bytes) and len(header["nonce"]) == 16
    assert signed[2:] == frames
    assert signer.verify(signed) == frames
    # The other side, with the same key, verifies too.
    assert make_signer(clock).verify(signed) == frames


def test_tampered_body_is_unauthorized() -> None:
    clock = Clock()
    signed = make_signer(clock).sign([b"body"])
    with pytest.raises(Unauthorized, match="signature"):
        make_signer(clock).verify([signed[0], signed[1], b"bodY"])


def test_tampered_header_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    mac, header, body = signer.sign([b"body"])
    fields = msgpack.unpackb(header, raw=False)
    fields["ts"] += 1
    forged = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(Unauthorized):
        signer.verify([mac, forged, body])
    flipped = bytes([header[0] ^ 1]) + header[1:]
    with pytest.raises(Unauthorized):
        signer.verify([mac, flipped, body])


def test_tampered_mac_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    mac, header, body = signer.sign([b"body"])
    with pytest.raises(Unauthorized):
        signer.verify([mac[:-1] + bytes([mac[-1] ^ 1]), header, body])
    with pytest.raises(Unauthorized):
        signer.verify([mac[:16], header, body])


def test_wrong_key_is_unauthorized() -> None:
    clock = Clock()
    signed = make_signer(clock, b"a" * 32).sign([b"body"])
    with pytest.raises(Unauthorized, match="key"):
        make_signer(clock, b"b" * 32).verify(signed)


def test_unsigned_message_is_unauthorized() -> None:
    signer = make_signer(Clock())
    with pytest.raises(Unauthorized, match="not signed"):
        signer.verify([b"body"])
    with pytest.raises(Unauthorized, match="not signed"):
        signer.verify([])


@pytest.mark.parametrize("offset", [-61.0, 61.0, -3600.0, 3600.0])
def test_timestamp_outside_window_is_unauthorized(offset: float) -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    clock.now += offset  # verify later (offset > 0: stale) or earlier (offset < 0: future)
    with pytest.raises(Unauthorized, match="timestamp"):
        signer.verify(signed)


@pytest.mark.parametrize("offset", [-59.0, 59.0])
def test_timestamp_inside_window_verifies(offset: float) -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    clock.now += offset
    assert signer.verify(signed) == [b"body"]


def test_replay_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    signed = signer.sign([b"body"])
    assert signer.verify(signed) == [b"body"]
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(list(signed))
    clock.now += 30
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(signed)


def test_nonce_memory_is_pruned_after_the_window() -> None:
    clock = Clock()
    signer = make_signer(clock)
    for _ in range(5):
        signer.verify(signer.sign([b"body"]))
    assert len(signer._seen) == 5
    clock.now += 61
    fresh = signer.sign([b"fresh"])
    assert signer.verify(fresh) == [b"fresh"]
    assert len(signer._seen) == 1
    assert len(signer._expiries) == 1
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify(fresh)


def test_short_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Signer(b"x" * 15)
    assert isinstance(Signer(b"x" * 16), Signer)


def test_mac_covers_oob_frames() -> None:
    clock = Clock()
    signer = make_signer(clock)
    codec = Codec(oob_threshold=10, signer=signer)
    signed = codec.encode_request(1, "put", [b"x" * 50])
    assert len(signed) == 4  # mac, header, body, oob
    tampered = [*signed[:3], b"y" * 50]
    with pytest.raises(Unauthorized):
        Codec(oob_threshold=10, signer=make_signer(clock)).decode(tampered)
    dropped = signed[:3]
    with pytest.raises(Unauthorized):
        Codec(oob_threshold=10, signer=make_signer(clock)).decode(dropped)
    assert codec.decode(signed).args == [b"x" * 50]


def test_signing_codec_round_trip_and_rejects_unsigned() -> None:
    clock = Clock()
    sender = Codec(signer=make_signer(clock))
    receiver = Codec(signer=make_signer(clock))
    frames = sender.encode_request(21, "add", [1, 2], {"c": 3})
    assert len(frames) == 3
    assert receiver.decode(frames) == Request(21, "add", [1, 2], {"c": 3})
    response = receiver.encode_response(21, 6)
    assert sender.decode(response) == Response(21, None, 6)
    unsigned = Codec().encode_request(22, "add", [1, 2])
    with pytest.raises(Unauthorized):
        receiver.decode(unsigned)


def test_signed_message_with_malformed_header_fields_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)

    def forge(header: Dict[str, Any]) -> List[bytes]:
        packed_header = msgpack.packb(header, use_bin_type=True)
        return [signer._mac(packed_header, [b"body"]), packed_header, b"body"]

    good = {"v": 1, "ts": clock.now, "nonce": b"n" * 16}
    assert signer.verify(forge(good)) == [b"body"]
    for bad in (
        {"v": 2, "ts": clock.now, "nonce": b"m" * 16},
        {"v": 1, "ts": "now", "nonce": b"m" * 16},
        {"v": 1, "ts": True, "nonce": b"m" * 16},
        {"v": 1, "ts": clock.now, "nonce": b"short"},
        {"v": 1, "ts": clock.now, "nonce": "m" * 16},
        {"v": 1, "nonce": b"m" * 16},
        [1, 2, 3],
    ):
        with pytest.raises(Unauthorized):
            signer.verify(forge(bad))  # type: ignore[arg-type]


def test_non_finite_timestamp_is_unauthorized() -> None:
    clock = Clock()
    signer = make_signer(clock)
    header = msgpack.packb({"v": 1, "ts": float("nan"), "nonce": b"n" * 16}, use_bin_type=True)
    with pytest.raises(Unauthorized):
        signer.verify([signer._mac(header, [b"body"]), header, b"body"])


def test_signature_header_is_the_msgpack_map_and_nonces_never_repeat() -> None:
    first = Signer(KEY, clock=lambda: 1234.5)
    headers = [first.sign([b"body"])[1] for _ in range(1000)]
    fields = [msgpack.unpackb(header, raw=False) for header in headers]
    assert all(f.keys() == {"v", "ts", "nonce"} and f["ts"] == 1234.5 for f in fields)
    # Byte for byte what msgpack makes of the same map.
    assert headers[0] == msgpack.packb(fields[0], use_bin_type=True)
    nonces = {f["nonce"] for f in fields}
    assert len(nonces) == 1000 and all(len(nonce) == 16 for nonce in nonces)
    other = msgpack.unpackb(Signer(KEY).sign([b"body"])[1], raw=False)["nonce"]
    assert other not in nonces  # another signer, another random prefix


def test_verify_reads_headers_laid_out_otherwise() -> None:
    # Another implementation may order the keys differently or send an int ts.
    now = 1_700_000_000
    signer = Signer(KEY, clock=lambda: now)
    header = msgpack.packb({"nonce": b"n" * 16, "ts": now, "v": 1}, use_bin_type=True)
    mac = signer._mac(header, [b"body"])
    assert signer.verify([mac, header, b"body"]) == [b"body"]
    with pytest.raises(Unauthorized, match="replayed"):
        signer.verify([mac, header, b"body"])


@pytest.mark.parametrize("key", [b"k" * 16, b"k" * 32, bytes(range(64)), b"long" * 40])
def test_mac_is_hmac_sha256_of_header_and_frames(key: bytes) -> None:

    frames = Signer(key).sign([b"body", b"x" * 70_000])
    expected = hmac.new(key, b"".join(frames[1:]), hashlib.sha256).digest()
    assert frames[0] == expected


def make_signer(clock: Clock, key: bytes = KEY) -> Signer:
    return Signer(key, clock=lambda: clock.now)
