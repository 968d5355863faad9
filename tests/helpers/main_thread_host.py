"""What the host processes of the main-thread tests serve, and the proof they keep.

- :func:`watch_sockets` records every zmq socket operation (send, receive,
  poll) made on the main thread: the tests assert there are none, i.e. the
  main thread never waits on the network;
- :class:`MainThreadService`: every method asserts that it runs on the main
  thread (``threading.current_thread() is threading.main_thread()``), so a
  call that ran anywhere else comes back as a ``RemoteError``.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable, List

import zmq

#: zmq operations made on the main thread since :func:`watch_sockets`.
MAIN_THREAD_SOCKET_OPS: List[str] = []

_WATCHED = {
    zmq.Socket: ("send", "recv", "send_multipart", "recv_multipart", "poll"),
    zmq.Poller: ("poll",),
}


def watch_sockets() -> None:
    """Record zmq operations made on the main thread, and check the recording works."""
    for cls, names in _WATCHED.items():
        for name in names:
            setattr(cls, name, _recorded(cls.__name__, name, getattr(cls, name)))
    # Prove the watch sees a main-thread socket operation before trusting it.
    context = zmq.Context()
    try:
        socket = context.socket(zmq.PAIR)
        socket.linger = 0
        socket.poll(0)
        socket.close()
    finally:
        context.term()
    assert "Socket.poll" in MAIN_THREAD_SOCKET_OPS, MAIN_THREAD_SOCKET_OPS
    MAIN_THREAD_SOCKET_OPS.clear()


def _recorded(owner: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            MAIN_THREAD_SOCKET_OPS.append(f"{owner}.{name}")
        return method(self, *args, **kwargs)

    return wrapper


def stop_after_replies(adapter: Any, timeout: float = 2.0) -> None:
    """Stop the adapter once the replies of calls that already ran went out.

    The host's loop has just ended, maybe inside a call (quit): stopping at
    once could stop the I/O thread before that call's reply is sent.
    """
    deadline = time.monotonic() + timeout
    while adapter.state == "busy" and time.monotonic() < deadline:
        time.sleep(0.005)  # ok: bounded wait for a reply in flight
    adapter.stop()


def _main_thread_only(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        assert threading.current_thread() is threading.main_thread(), (
            f"{method.__name__} ran on {threading.current_thread().name}, not the main thread"
        )
        return method(*args, **kwargs)

    return wrapper


class MainThreadService:
    """The host's service; ``adapter`` and ``quit`` are set once the host runs."""

    def __init__(self) -> None:
        self._adapter: Any = None
        self._quit: Callable[[], None] = lambda: None
        self._calls = 0
        self._block_forever = threading.Event()  # never set: see hang()

    def attach(self, adapter: Any, quit: Callable[[], None]) -> None:
        self._adapter = adapter
        self._quit = quit

    @_main_thread_only
    def add(self, a, b):
        """Return a + b."""
        self._calls += 1
        return a + b

    @_main_thread_only
    def calls(self):
        """How many add() calls ran."""
        return self._calls

    @_main_thread_only
    def boom(self, message="boom"):
        """Raise ValueError(message) on the main thread."""
        raise ValueError(message)

    @_main_thread_only
    def reenter(self, value):
        """Call the dispatcher again from the main thread: it must run at once."""
        return self._adapter.dispatcher(lambda: (value, threading.current_thread().name))

    @_main_thread_only
    def hang(self, seconds=30.0):
        """Hold the main thread and never return within any test's timeout."""
        self._block_forever.wait(seconds)
        return "released"

    @_main_thread_only
    def dispatcher(self):
        """The adapter's dispatcher class."""
        return type(self._adapter.dispatcher).__name__

    @_main_thread_only
    def socket_ops(self):
        """zmq operations made on the main thread so far (expected: none)."""
        return list(MAIN_THREAD_SOCKET_OPS)

    @_main_thread_only
    def quit(self):
        """Stop the host's loop (the process then stops its adapter and exits)."""
        self._quit()
        return True
