"""A plain TCP server in a thread, for tests of what is not ZeroMQ at an endpoint.

``PlainServer("http")`` answers every connection with HTTP bytes and closes
it, as an HTTP or XML-RPC server (pyblish-qml's old one on 9090) does to a
request it cannot parse; ``PlainServer("silent")`` accepts and never
answers, as a server that listens but is slow.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import List

HTTP_REPLY = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>Bad request</html>\r\n"
)


def free_tcp_endpoint() -> str:
    """A loopback port nobody listens at (the kernel chose it and it is closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


class PlainServer:
    """Listens on a free loopback port; ``endpoint`` is its ``tcp://`` address."""

    def __init__(self, mode: str) -> None:
        if mode not in ("http", "silent"):
            raise ValueError(mode)
        self.mode = mode
        self.accepted = 0  #: connections accepted so far
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.endpoint = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: List[socket.socket] = []
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:  # until close() writes to the wake-up pair
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_read in ready:
                    return
                connection, _ = self._listener.accept()
                self.accepted += 1
                if self.mode == "http":
                    try:
                        connection.sendall(HTTP_REPLY)
                    except OSError:  # the client hung up first
                        pass
                    connection.close()
                else:
                    self._held.append(connection)

    def close(self) -> None:
        self._wake_write.send(b"x")
        self._thread.join(5)
        for connection in self._held:
            connection.close()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()

    def __enter__(self) -> PlainServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
