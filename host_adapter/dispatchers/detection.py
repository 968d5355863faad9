"""Which application is this Python running in: :func:`detect` picks its dispatcher.

Only modules the application has already imported are looked at (a DCC
imports its own at start-up), so detecting costs nothing outside a DCC and
never imports Qt or a DCC module that was not loaded already.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Optional

from .blender import BlenderDispatcher
from .core import MainThreadQueue
from .houdini import HoudiniDispatcher
from .maya import MayaDispatcher
from .nuke import HieroDispatcher, NukeDispatcher

__all__ = ["detect"]

log = logging.getLogger(__name__)

Dispatcher = Callable[..., Any]


def detect() -> Optional[Dispatcher]:
    """The dispatcher for the application this Python runs in.

    ===========================================  ==================================
    running in                                   dispatcher
    ===========================================  ==================================
    Maya with its UI                             :class:`MayaDispatcher`
    Nuke / NukeStudio with its UI                :class:`NukeDispatcher`
    Hiero                                        :class:`HieroDispatcher`
    Houdini with its UI (``hdefereval``)         :class:`HoudiniDispatcher`
    Blender with its UI                          :class:`BlenderDispatcher`
    mayapy, ``nuke -t``, hython, ``blender -b``  a :class:`MainThreadQueue` for
                                                 ``HostAdapter.serve_forever()``
    any other running Qt application (PySide6,   :class:`QtDispatcher`
    PySide2, PyQt6 or PyQt5: the binding it
    imported)
    anything else                                None: calls run on the
                                                 adapter's own call thread
    ===========================================  ==================================

    A batch-mode queue belongs to the main thread; nothing runs its calls
    until that thread calls ``adapter.serve_forever()`` (or pumps the queue).
    Call this from the main thread: the Blender dispatcher registers a timer.
    """
    for probe in (_maya, _nuke, _hiero, _houdini, _blender, _qt):
        dispatcher = probe()
        if dispatcher is not None:
            log.info("detected %r", dispatcher)
            return dispatcher
    return None


def _loaded(name: str) -> Optional[ModuleType]:
    """Module ``name`` if its package was already imported by the application."""
    if name.split(".")[0] not in sys.modules:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # a package that shares the name, not the DCC
        return None


def _batch() -> MainThreadQueue:
    return MainThreadQueue(threading.main_thread())


def _maya() -> Optional[Dispatcher]:
    # "maya" alone could be the date library of that name.
    cmds, utils = _loaded("maya.cmds"), _loaded("maya.utils")
    if cmds is None or utils is None:
        return None
    if cmds.about(batch=True):
        return _batch()
    return MayaDispatcher()


def _nuke() -> Optional[Dispatcher]:
    nuke = sys.modules.get("nuke")
    if nuke is None or not hasattr(nuke, "executeInMainThreadWithResult"):
        return None
    if not getattr(nuke, "env", {}).get("gui"):  # nuke -t: no event loop
        return _batch()
    return NukeDispatcher()


def _hiero() -> Optional[Dispatcher]:
    core = sys.modules.get("hiero.core")
    if core is None or not hasattr(core, "executeInMainThreadWithResult"):
        return None
    return HieroDispatcher()


def _houdini() -> Optional[Dispatcher]:
    hou = sys.modules.get("hou")
    if hou is None or not hasattr(hou, "isUIAvailable"):
        return None
    if not hou.isUIAvailable():  # hython
        return _batch()
    try:  # Houdini's own module, shipped with the graphical Houdini only
        importlib.import_module("hdefereval")
    except ImportError:
        return _batch()
    return HoudiniDispatcher()


def _blender() -> Optional[Dispatcher]:
    bpy = sys.modules.get("bpy")
    if bpy is None or not hasattr(bpy, "app"):
        return None
    if bpy.app.background:  # blender -b, or bpy imported as a module
        return _batch()
    return BlenderDispatcher()


def _qt() -> Optional[Dispatcher]:
    from .qt import BINDINGS

    for binding in BINDINGS:
        qtcore = sys.modules.get(f"{binding}.QtCore")
        if qtcore is not None and qtcore.QCoreApplication.instance() is not None:
            from .qt import QtDispatcher

            return QtDispatcher(qtcore.QCoreApplication.instance())
    return None
