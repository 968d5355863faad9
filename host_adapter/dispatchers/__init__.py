"""Dispatchers: run a service call on the host's main thread.

A dispatcher is ``dispatch(func, *args, **kwargs) -> result``: it runs
``func`` on the host's main thread and returns its result or raises its
exception.

=======================  ======================================================
:mod:`.core`             :func:`immediate`, :class:`MainThreadQueue` (pumped by
                         the host, or its batch-mode loop), the hand-off
:mod:`.host_function`    through a DCC's ``executeInMainThreadWithResult``
:mod:`.maya`             Maya
:mod:`.nuke`             Nuke, NukeStudio, Hiero
:mod:`.houdini`          Houdini
:mod:`.blender`          Blender (a ``bpy.app.timers`` pump)
:mod:`.qt`               any PySide6/PySide2 application
:mod:`.detection`        :func:`detect`: the one for the running application
=======================  ======================================================
"""

from .blender import BlenderDispatcher
from .core import DispatchError, MainThreadQueue, immediate
from .detection import detect
from .houdini import HoudiniDispatcher
from .maya import MayaDispatcher
from .nuke import HieroDispatcher, NukeDispatcher
from .qt import QtDispatcher

__all__ = [
    "detect",
    "immediate",
    "MainThreadQueue",
    "QtDispatcher",
    "MayaDispatcher",
    "NukeDispatcher",
    "HieroDispatcher",
    "HoudiniDispatcher",
    "BlenderDispatcher",
    "DispatchError",
]
