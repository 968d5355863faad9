"""A man in the middle on loopback TCP: forwards ZMTP both ways, records
what the client sends, and can alter it.

    with Tap(("127.0.0.1", port), tamper=True) as tap:
        broker.connect(tap.endpoint)   # talks to the server through the tap
        tap.recorded                   # every byte the client sent, in order

With ``tamper``, the tap flips one byte in the first CURVE ``MESSAGE``
command the client sends (the first message after the handshake).
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import List, Optional, Tuple

GREETING_SIZE = 64
MESSAGE_COMMAND = b"\x07MESSAGE"


class _ClientStream:
    """Splits the client's byte stream into the greeting and whole frames."""

    def __init__(self, tamper: bool) -> None:
        self._buffer = bytearray()
        self._greeting_left = GREETING_SIZE
        self._tamper = tamper
        self.tampered = False

    def feed(self, data: bytes) -> bytes:
        """The bytes that may be forwarded now (possibly altered)."""
        self._buffer += data
        out = bytearray()
        if self._greeting_left:
            taken = bytes(self._buffer[: self._greeting_left])
            del self._buffer[: len(taken)]
            self._greeting_left -= len(taken)
            out += taken
        for _ in range(len(self._buffer) + 1):  # bounded: each pass takes one frame
            frame = self._take_frame()
            if frame is None:
                break
            out += frame
        return bytes(out)

    def _take_frame(self) -> Optional[bytes]:
        if self._greeting_left or len(self._buffer) < 2:
            return None
        flags = self._buffer[0]
        if flags & 0x02:  # a long frame: 8 bytes of size
            if len(self._buffer) < 9:
                return None
            (size,) = struct.unpack(">Q", bytes(self._buffer[1:9]))
            start = 9
        else:
            size, start = self._buffer[1], 2
        if len(self._buffer) < start + size:
            return None
        frame = bytearray(self._buffer[: start + size])
        del self._buffer[: start + size]
        body = frame[start:]
        if self._tamper and not self.tampered and body.startswith(MESSAGE_COMMAND):
            frame[-1] ^= 0x01  # one bit of the encrypted payload
            self.tampered = True
        return bytes(frame)


class Tap:
    """Listens on a free loopback port and relays each connection to ``server``."""

    def __init__(self, server: Tuple[str, int], tamper: bool = False) -> None:
        self._server = server
        self._tamper = tamper
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.endpoint = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"
        self.recorded = bytearray()
        self.streams: List[_ClientStream] = []
        self._closing = threading.Event()
        self._threads: List[threading.Thread] = []
        self._sockets: List[socket.socket] = []
        self._start(self._accept)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():  # ends when the tap closes
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self._server, timeout=5)
            for sock in (client, upstream):
                sock.settimeout(0.2)
                self._sockets.append(sock)
            stream = _ClientStream(self._tamper)
            self.streams.append(stream)
            self._start(self._pump, client, upstream, stream)
            self._start(self._pump, upstream, client, None)

    def _pump(self, source: socket.socket, sink: socket.socket, stream) -> None:
        while not self._closing.is_set():  # ends when either side closes, or the tap
            try:
                data = source.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            if stream is not None:
                self.recorded += data
                data = stream.feed(data)
            try:
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def tampered(self) -> bool:
        return any(stream.tampered for stream in self.streams)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def replay(server: Tuple[str, int], data: bytes, wait: float = 3.0) -> bytes:
    """Send ``data`` to ``server`` on a fresh connection, as an eavesdropper
    who recorded it would; return what the server answered before it closed
    (or ``wait`` seconds passed)."""
    import time

    answer = bytearray()
    with socket.create_connection(server, timeout=5) as sock:
        try:
            sock.sendall(data)
        except OSError:
            return bytes(answer)
        sock.settimeout(0.2)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:  # bounded by the deadline
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return bytes(answer)
