"""Stand-in for ``maya.utils`` (tests only; see ../README.md)."""

from standin_loop import LOOP


def executeInMainThreadWithResult(callable, *args, **kwargs):
    """Run ``callable`` on the main thread at its next idle moment; wait; return its result."""
    return LOOP.call_in_main_thread(callable, args, kwargs)
