"""Stand-in for Blender's ``bpy`` (tests only; see ../README.md).

Only ``bpy.app.background`` and ``bpy.app.timers``; timers run on the
stand-in event loop, as Blender runs them on its main thread.
"""

import os
import threading
import types

from standin_loop import LOOP


def _main_thread_only():
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("bpy is not thread-safe: main thread only")


def _register(function, first_interval=0.0, persistent=False):
    _main_thread_only()
    LOOP.add_timer(function, first_interval)


def _unregister(function):
    _main_thread_only()
    if not LOOP.has_timer(function):
        raise ValueError("Error: function is not registered")
    LOOP.remove_timer(function)


def _is_registered(function):
    return LOOP.has_timer(function)


app = types.SimpleNamespace(
    background=os.environ.get("STANDIN_BATCH") == "1",
    timers=types.SimpleNamespace(
        register=_register, unregister=_unregister, is_registered=_is_registered
    ),
)
