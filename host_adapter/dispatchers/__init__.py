"""Dispatchers: run a service call on the host's main thread.

A dispatcher is ``dispatch(func, *args, **kwargs) -> result``. Built in:
:func:`immediate` and :class:`MainThreadQueue` (:mod:`.core`), Qt
(:mod:`.qt`), each DCC's own main-thread function (:mod:`.dcc`), and
:func:`detect` (:mod:`.detection`), which picks one for the running
application.
"""

from .core import DispatchError, MainThreadQueue, immediate
from .dcc import (
    BlenderDispatcher,
    HieroDispatcher,
    HoudiniDispatcher,
    MayaDispatcher,
    NukeDispatcher,
)
from .detection import detect
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
