"""Dispatchers over each DCC's own way of running code on its main thread.

==========  =====================================================================
Maya        ``maya.utils.executeInMainThreadWithResult(func, *args, **kwargs)``
Nuke        ``nuke.executeInMainThreadWithResult(func, args, kwargs)``
Hiero       ``hiero.core.executeInMainThreadWithResult(func, args, kwargs)``
Houdini     ``hdefereval.executeInMainThreadWithResult(func, *args, **kwargs)``
Blender     a ``bpy.app.timers`` timer that pumps a :class:`MainThreadQueue`
==========  =====================================================================

Each imports its DCC module when made, never before. The first four share
one behaviour, whatever the host's function does with results and errors:

- a call made from the main thread runs at once, without the host's function
  (re-entrant calls into some of them deadlocked);
- the outcome is captured inside the main thread, so the function's own
  exception comes back as raised, and a result comes back even when the host's
  function fails after running it (Nuke raised ``SystemError`` there under load);
- when the host's function fails before the call ran, or returns without
  running it, the call raises :class:`DispatchError`.

In batch mode (mayapy, hython, ``nuke -t``, ``blender -b``) there is no event
loop to post to: use a :class:`MainThreadQueue` and
``HostAdapter.serve_forever()`` (:func:`host_adapter.detect` does).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any, Callable, Optional

from .core import DispatchError, MainThreadQueue, _Job

__all__ = [
    "MayaDispatcher",
    "NukeDispatcher",
    "HieroDispatcher",
    "HoudiniDispatcher",
    "BlenderDispatcher",
]

log = logging.getLogger(__name__)

# How often the Blender timer looks for calls right after one ran.
_BURST_INTERVAL = 0.002

Execute = Callable[..., Any]


class _HostFunctionDispatcher:
    """Calls through a DCC's ``executeInMainThreadWithResult``."""

    module = ""

    def __init__(self, execute: Optional[Execute] = None) -> None:
        # Looked up once: a plug-in that later replaces the host's function
        # (a Maya plug-in once did, and froze every call) does not affect us.
        self._execute = execute if execute is not None else self._find()
        self._main_thread = threading.main_thread()

    def _find(self) -> Execute:
        return importlib.import_module(self.module).executeInMainThreadWithResult

    def _submit(self, run: Callable[[], None]) -> None:
        """Hand ``run`` to the host's function (whose signature differs per host)."""
        self._execute(run)

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self._main_thread:
            return func(*args, **kwargs)
        job = _Job(func, args, kwargs)
        try:
            self._submit(job.run)
        except Exception as exc:
            if not job.done.is_set():
                raise DispatchError(
                    f"{self.module}.executeInMainThreadWithResult failed "
                    f"before the call ran: {exc!r}"
                ) from exc
            log.warning(
                "%s.executeInMainThreadWithResult raised %r after the call ran; "
                "answering with the call's own outcome",
                self.module,
                exc,
            )
        if not job.done.is_set():
            raise DispatchError(
                f"{self.module}.executeInMainThreadWithResult returned without running the call"
            )
        return job.outcome()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} via {self.module}.executeInMainThreadWithResult>"


class MayaDispatcher(_HostFunctionDispatcher):
    """Maya with its UI: ``maya.utils.executeInMainThreadWithResult``.

    Runs each call at Maya's next idle event. Not for mayapy (batch mode).

    Arguments:
        execute: the function to call through; imported from Maya by default.
    """

    module = "maya.utils"


class HoudiniDispatcher(_HostFunctionDispatcher):
    """Houdini with its UI: ``hdefereval.executeInMainThreadWithResult``.

    ``hdefereval`` exists only in the graphical Houdini, not in hython.

    Arguments:
        execute: the function to call through; imported from Houdini by default.
    """

    module = "hdefereval"


class NukeDispatcher(_HostFunctionDispatcher):
    """Nuke and NukeStudio: ``nuke.executeInMainThreadWithResult(func, args, kwargs)``.

    Nuke takes the arguments as a tuple and a dict, not as varargs.

    Arguments:
        execute: the function to call through; imported from Nuke by default.
    """

    module = "nuke"

    def _submit(self, run: Callable[[], None]) -> None:
        self._execute(run, (), {})


class HieroDispatcher(NukeDispatcher):
    """Hiero: ``hiero.core.executeInMainThreadWithResult(func, args, kwargs)``.

    Arguments:
        execute: the function to call through; imported from Hiero by default.
    """

    module = "hiero.core"


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
