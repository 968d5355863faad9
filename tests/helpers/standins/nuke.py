"""Stand-in for Nuke's ``nuke`` module (tests only; see README.md here)."""

import os

from standin_loop import LOOP

env = {"gui": os.environ.get("STANDIN_BATCH") != "1"}

#: Set to "before" or "after" to make the next call raise SystemError before or
#: after it runs the function (Nuke did so under heavy load).
SYSTEM_ERROR = None


def executeInMainThreadWithResult(call, args=(), kwargs=None):
    """Run ``call(*args, **kwargs)`` on the main thread; wait; return its result.

    Like Nuke's: the arguments are a tuple and a dict, not varargs.
    """
    global SYSTEM_ERROR
    if not isinstance(args, tuple):
        raise TypeError("executeInMainThreadWithResult() argument 2 must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("executeInMainThreadWithResult() argument 3 must be a dict")
    failure, SYSTEM_ERROR = SYSTEM_ERROR, None
    if failure == "before":
        raise SystemError("error return without exception set")
    result = LOOP.call_in_main_thread(call, args, kwargs or {})
    if failure == "after":
        raise SystemError("error return without exception set")
    return result
