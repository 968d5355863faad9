"""Blender with its UI: a ``bpy.app.timers`` timer pumps a main-thread queue.

Blender has no function that runs code on its main thread. In batch mode
(``blender -b``, or ``bpy`` imported as a module) no timers run: use a
:class:`~host_adapter.MainThreadQueue` and ``HostAdapter.serve_forever()``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from .core import MainThreadQueue

__all__ = ["BlenderDispatcher"]

# How often the Blender timer looks for calls right after one ran.
_BURST_INTERVAL = 0.002


class BlenderDispatcher:
    """Blender with its UI: a ``bpy.app.timers`` timer pumps a main-thread queue.

    Blender has no function that runs code on its main thread, so calls wait
    in a :class:`MainThreadQueue` and a persistent timer (it survives loading
    another file) runs them: at most ``budget`` seconds of calls per run,
    then again at once while calls remain, every 2 ms for ``burst`` seconds
    after a call (a UI's calls come in runs), else after ``interval``.
    Make it on the main thread (an add-on's ``register()``); :meth:`close`
    stops the timer.

    ``bpy`` imported as a module (``pip install bpy``) and ``blender -b`` run
    no timers: there, call :meth:`pump` yourself or use batch mode
    (a :class:`MainThreadQueue` and ``HostAdapter.serve_forever()``).

    Arguments:
        interval: seconds between timer runs while idle: the longest a call
            waits to start.
        budget: seconds of calls per timer run.
        burst: seconds of quick timer runs after a call.

    Raises:
        RuntimeError: made on a thread that is not the main thread.
    """

    def __init__(
        self, interval: float = 0.02, budget: Optional[float] = 0.05, burst: float = 0.5
    ) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("make the BlenderDispatcher on Blender's main thread")
        import bpy

        self.interval = interval
        self.budget = budget
        self.burst = burst
        self._last_call = -burst
        self.queue = MainThreadQueue(threading.main_thread())
        self._timers = bpy.app.timers
        #: The function registered with ``bpy.app.timers``: :meth:`pump`, as one
        #: object, because Blender knows timers by identity and every access to
        #: a method makes a new one.
        self.timer: Callable[[], Optional[float]] = self.pump
        self._timers.register(self.timer, first_interval=0.0, persistent=True)

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self.queue(func, *args, **kwargs)

    def pump(self) -> Optional[float]:
        """Run queued calls; return the seconds until the next run, None once closed.

        This is the timer function Blender calls on its main thread.
        """
        if self.queue.closed:
            return None
        now = time.monotonic()
        if self.queue.process_pending(self.budget):
            self._last_call = now
        if len(self.queue):
            return 0.0
        if now - self._last_call < self.burst:
            return min(_BURST_INTERVAL, self.interval)
        return self.interval

    def close(self) -> None:
        """Fail waiting calls, stop the timer. Idempotent; any thread.

        From the main thread the timer is unregistered at once; from another
        thread it ends itself at its next run.
        """
        self.queue.close()
        if threading.current_thread() is threading.main_thread():
            if self._timers.is_registered(self.timer):
                self._timers.unregister(self.timer)

    def __repr__(self) -> str:
        return f"<BlenderDispatcher every {self.interval} s>"
