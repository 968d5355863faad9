"""A scriptable ROUTER in a thread, for client tests that need a peer that
answers late, out of order, or never."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Tuple

import zmq

from broker.wire.codec import Codec
from broker.wire.envelope import split_envelope
from broker.wire.messages import Request

Envelope = List[bytes]
#: ``handler(server, envelope, request)``: answer now with ``server.reply``, or keep it.
Handler = Callable[["RawServer", Envelope, Request], None]


class RawServer:
    """Receives requests on a ROUTER and lets ``handler`` decide when to answer.

    The handler runs on the server's thread, the only one that touches the
    socket; it may answer any request it kept earlier. Use as a context manager.
    """

    def __init__(self, handler: Handler, codec: Optional[Codec] = None) -> None:
        self.codec = codec or Codec()
        self.handler = handler
        self.received: List[Request] = []
        self.kept: List[Tuple[Envelope, Request]] = []
        self._context = zmq.Context()
        self._router = self._context.socket(zmq.ROUTER)
        self._router.linger = 0
        port = self._router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def reply(self, envelope: Envelope, msgid: int, result: Any = None, error: Any = None) -> None:
        self._router.send_multipart(envelope + self.codec.encode_response(msgid, result, error))

    def _run(self) -> None:
        while not self._stop.is_set():  # bounded: stop() ends it within one poll
            if not self._router.poll(20):
                continue
            envelope, message = split_envelope(self._router.recv_multipart())
            request = self.codec.decode(message)
            assert isinstance(request, Request)
            self.received.append(request)
            self.handler(self, envelope, request)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._router.close()
        self._context.term()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def echo_args(server: RawServer, envelope: Envelope, request: Request) -> None:
    """Answer at once with the first argument."""
    server.reply(envelope, request.msgid, request.args[0] if request.args else None)


def batches_of(size: int) -> Handler:
    """Keep requests until ``size`` are waiting, then answer them last first."""

    def handler(server: RawServer, envelope: Envelope, request: Request) -> None:
        server.kept.append((envelope, request))
        if len(server.kept) == size:
            for kept_envelope, kept in reversed(server.kept):
                server.reply(kept_envelope, kept.msgid, kept.args[0])
            server.kept.clear()

    return handler


def never(server: RawServer, envelope: Envelope, request: Request) -> None:
    """Keep every request unanswered, until a request for ``release`` comes:
    then answer everything kept (late), and that one."""
    if request.method == "release":
        for kept_envelope, kept in server.kept:
            server.reply(kept_envelope, kept.msgid, "late")
        server.kept.clear()
        server.reply(envelope, request.msgid, "released")
    else:
        server.kept.append((envelope, request))
