"""Stand-in for Houdini's ``hdefereval`` (tests only; see README.md here).

Like the real one, it exists only in the graphical Houdini, not in hython.
"""

import hou
from standin_loop import LOOP

if not hou.isUIAvailable():
    raise ImportError("hdefereval is only available in the graphical Houdini")


def executeInMainThreadWithResult(code, *args, **kwargs):
    """Run ``code(*args, **kwargs)`` on the main thread; wait; return its result."""
    return LOOP.call_in_main_thread(code, args, kwargs)
