"""An inproc mailbox that wakes a background thread from any other thread.

A thread that owns sockets waits in ``zmq.Poller.poll``; to stop it, or to
hand it a result, another thread posts frames to its inbox. This replaces
polling a flag: the owner wakes at once, and otherwise sleeps.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import zmq

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
