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
:mod:`.qt`               any PySide6/PySide2/PyQt6/PyQt5 application
:mod:`.detection`        :func:`detect`: the one for the running application
=======================  ======================================================
"""

from typing import TYPE_CHECKING, Any, List

from .core import DispatchError, MainThreadQueue, immediate

if TYPE_CHECKING:
    from .blender import BlenderDispatcher
    from .detection import detect
    from .houdini import HoudiniDispatcher
    from .maya import MayaDispatcher
    from .nuke import HieroDispatcher, NukeDispatcher
    from .qt import QtDispatcher

_MODULES = {
    "detect": ".detection",
    "QtDispatcher": ".qt",
    "MayaDispatcher": ".maya",
    "NukeDispatcher": ".nuke",
    "HieroDispatcher": ".nuke",
    "HoudiniDispatcher": ".houdini",
    "BlenderDispatcher": ".blender",
}

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


def __getattr__(name: str) -> Any:
    # Each loads when first asked for: a host uses one dispatcher at most.
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_MODULES))
