"""Stand-in for ``hiero.core`` (tests only; see ../README.md)."""

from standin_loop import LOOP


def executeInMainThreadWithResult(call, args=(), kwargs=None):
    """Run ``call(*args, **kwargs)`` on the main thread; wait; return its result."""
    if not isinstance(args, tuple):
        raise TypeError("executeInMainThreadWithResult() argument 2 must be a tuple")
    return LOOP.call_in_main_thread(call, args, kwargs or {})
