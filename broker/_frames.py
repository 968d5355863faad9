"""Send and receive one message: cheap for small frames, zero-copy for large ones.

pyzmq either copies every frame into ``bytes`` (``copy=True``: cheap for
small frames; for large ones a fresh allocation and a copy) or wraps every
frame in a ``zmq.Frame`` (``copy=False``: no copy, but about a microsecond of
overhead per frame). A message of this protocol has both kinds: a routing
envelope and a body that are small, then out-of-band frames that may be
hundreds of megabytes. So:

- :func:`recv_message` copies the envelope and the body, and returns the
  frames after them as read-only memoryviews over ZeroMQ's own buffers;
- :func:`send_message` sends small frames by copy and large ones without.

Both loop over the frames themselves with plain ``int`` flags: pyzmq's
``send_multipart``/``recv_multipart`` combine ``IntFlag`` members per frame,
which costs more than the send itself for a small message (measured in
docs/performance.md).
"""

from __future__ import annotations

from typing import Any, List, Sequence

import zmq

__all__ = ["recv_message", "send_message", "ZERO_COPY_MIN"]

#: Frames at least this large are sent without a copy (pyzmq's own threshold).
ZERO_COPY_MIN = 65536

_MORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


def send_message(socket: zmq.Socket, frames: Sequence[Any], flags: int = 0) -> None:
    """Send ``frames`` as one multipart message.

    Large frames go without a copy: ZeroMQ reads them from the caller's
    buffer while it sends, so a caller must not change a ``bytearray`` or
    writable memoryview it sent until the call it belongs to has returned.
    """
    send = socket.send
    flags = int(flags)
    more = flags | _MORE
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        send(frame, more if index < last else flags, copy=len(frame) < ZERO_COPY_MIN)


def recv_message(socket: zmq.Socket, head: int, *, envelope: bool, flags: int = 0) -> List[Any]:
    """One multipart message: ``bytes`` for its head, memoryviews for the rest.

    Arguments:
        socket: where to receive from.
        head: frames to copy after the envelope: 1 (the body), or 3 for a
            signed message (mac, header, body).
        envelope: the socket delivers a routing envelope that ends with an
            empty frame (ROUTER; a DEALER talking to REQ-style peers): copy
            it too. From a ROUTER peer that sends no empty frame every frame
            is copied, which is correct, only slower for large frames.
        flags: ``zmq.NOBLOCK`` to raise ``zmq.Again`` instead of waiting.

    Raises:
        zmq.Again: ``NOBLOCK`` and nothing to receive.
        zmq.ZMQError: the socket failed or was closed.
    """
    recv = socket.recv
    get = socket.get
    flags = int(flags)
    frame = recv(flags)
    frames: List[Any] = [frame]
    # Frames still to copy: -1 until the envelope's empty frame, whose
    # position is not known in advance.
    remaining = (head if not frame else -1) if envelope else head - 1
    while get(_RCVMORE):
        if remaining:
            frame = recv(flags)
            frames.append(frame)
            if remaining > 0:
                remaining -= 1
            elif not frame:
                remaining = head
        else:
            frames.append(recv(flags, copy=False).buffer.toreadonly())
    return frames
