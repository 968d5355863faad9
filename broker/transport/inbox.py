"""An inproc mailbox that wakes a background thread from any other thread.

A thread that owns sockets waits in ``zmq.Poller.poll``; to stop it, or to
hand it a result, another thread posts frames to its inbox. This replaces
polling a flag: the owner wakes at once, and otherwise sleeps.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Sequence

import zmq

from .frames import send_message

_counter = itertools.count()


class Inbox:
    """The address of one thread's inproc PULL socket, and a way to post to it.

    Arguments:
        context: the zmq context shared by the owner and the posters.
        label: part of the inproc address, for debugging.
    """

    def __init__(self, context: zmq.Context, label: str) -> None:
        self.context = context
        self.address = f"inproc://{label}-{next(_counter)}"
        self._local = threading.local()  # each posting thread's own PUSH

    def bind(self) -> zmq.Socket:
        """Create and bind the PULL socket. Call this in the owning thread."""
        socket = self.context.socket(zmq.PULL)
        socket.linger = 0
        socket.bind(self.address)
        return socket

    def connect(self) -> zmq.Socket:
        """A PUSH socket to post from one thread many times (e.g. results)."""
        socket = self.context.socket(zmq.PUSH)
        socket.linger = 1000
        socket.connect(self.address)
        return socket

    def post(self, frames: Sequence[bytes]) -> None:
        """Post one message from any thread (e.g. a stop request)."""
        try:
            socket = self.connect()
        except zmq.ZMQError:  # the context is already terminated: nobody to wake
            return
        try:
            socket.send_multipart(list(frames), flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # the owner is gone or full; it has stopped listening
            pass
        finally:
            socket.close()

    def send(self, frames: Sequence[Any], timeout: float = 1.0) -> bool:
        """Post one message (large frames without a copy) from this thread's
        own PUSH, kept for the next time; False when the owner is gone.

        Blocks at most ``timeout`` seconds: an owner that stopped reading
        must not hold the sender forever.
        """
        try:
            socket = getattr(self._local, "socket", None)
            if socket is None:
                socket = self._local.socket = self.connect()
                socket.sndtimeo = int(timeout * 1000)
            send_message(socket, frames)
        except zmq.ZMQError:  # the owner stopped (its context too) meanwhile
            return False
        return True

    def close_sender(self) -> None:
        """Close this thread's PUSH, if :meth:`send` made one."""
        socket = getattr(self._local, "socket", None)
        if socket is not None:
            socket.close()
            self._local.socket = None
