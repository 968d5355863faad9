"""The event loop of the stand-in DCCs: the main thread runs it, any thread posts to it.

Stand-in only (see README.md in this directory). A DCC runs callbacks posted
from other threads when its main thread is idle; :data:`LOOP` does the same
for the stand-in modules, and runs ``bpy.app.timers`` timers.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

_STOP = object()


class EventLoop:
    def __init__(self) -> None:
        # SimpleQueue: put() is safe from a signal handler.
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._timers: List[Tuple[float, int, Callable[[], Optional[float]]]] = []
        self._order = itertools.count()

    def post(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the main thread at its next idle moment. Any thread."""
        self._events.put(callback)

    def wake(self) -> None:
        """Make ``run`` look at its ``until`` condition again."""
        self._events.put(None)

    def stop(self) -> None:
        """Make ``run`` return. Any thread, or a signal handler."""
        self._events.put(_STOP)

    def call_in_main_thread(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """What every stand-in ``executeInMainThreadWithResult`` does."""
        if threading.current_thread() is threading.main_thread():
            return func(*args, **kwargs)
        done = threading.Event()
        outcome: Dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = func(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                outcome["error"] = exc
            finally:
                done.set()

        self.post(run)
        done.wait()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    # -- timers (bpy.app.timers) ------------------------------------------------

    def add_timer(self, function: Callable[[], Optional[float]], delay: float) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), function))
        self.wake()

    def remove_timer(self, function: Callable[[], Optional[float]]) -> None:
        # By identity, as Blender does.
        self._timers = [entry for entry in self._timers if entry[2] is not function]
        heapq.heapify(self._timers)

    def has_timer(self, function: Callable[[], Optional[float]]) -> bool:
        return any(entry[2] is function for entry in self._timers)

    # -- the loop ---------------------------------------------------------------------

    def run(self, until: Optional[Callable[[], bool]] = None, timeout: float = 3600.0) -> bool:
        """Run callbacks and timers on this (the main) thread.

        Returns True once ``until()`` is true (checked after every event and
        ``wake()``), False after :meth:`stop` or ``timeout`` seconds.
        """
        assert threading.current_thread() is threading.main_thread(), "the main thread runs it"
        deadline = time.monotonic() + timeout
        while True:
            if until is not None and until():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if self._timers and self._timers[0][0] <= now:
                _, _, function = heapq.heappop(self._timers)
                again = function()
                if again is not None:
                    self.add_timer(function, again)
                continue
            wait = deadline - now
            if self._timers:
                wait = min(wait, self._timers[0][0] - now)
            try:
                event = self._events.get(timeout=max(wait, 0))
            except queue.Empty:
                continue
            if event is _STOP:
                return False
            if event is not None:
                event()


LOOP = EventLoop()
