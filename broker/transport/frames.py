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


def recv_message(socket: zmq.Socket, *, prefix: int = 0, flags: int = 0) -> List[Any]:
    """One multipart message: ``bytes`` for its envelope and body, memoryviews for the rest.

    Arguments:
        socket: where to receive from.
        prefix: leading frames the socket adds: 1 for a ROUTER (the peer's
            routing id), 0 otherwise. After them, a REQ-style envelope (the
            4-byte request id of ``REQ_CORRELATE``, the empty delimiter) is
            copied too: a body is never empty or 4 bytes long (it is at least
            5), so the first frame of another length is the body.
        flags: ``zmq.NOBLOCK`` to raise ``zmq.Again`` instead of waiting.

    Raises:
        zmq.Again: ``NOBLOCK`` and nothing to receive.
        zmq.ZMQError: the socket failed or was closed.
    """
    recv = socket.recv
    get = socket.get
    flags = int(flags)
    frames: List[Any] = []
    skip = prefix  # routing frames still to come
    copies = -1  # frames still to copy after the body; -1 while in the envelope
    while True:
        if skip:
            frames.append(recv(flags))
            skip -= 1
        elif copies < 0:
            frame = recv(flags)
            frames.append(frame)
            size = len(frame)
            if size and size != 4:
                copies = 0  # this frame is the body
        elif copies:
            frames.append(recv(flags))
            copies -= 1
        else:
            frames.append(recv(flags, copy=False).buffer.toreadonly())
        if not get(_RCVMORE):
            return frames
