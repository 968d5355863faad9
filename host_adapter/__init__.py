"""Embed this in a host (a DCC, or any Python process) to serve it to UIs.

::

    import host_adapter

    adapter = host_adapter.serve({"add": lambda a, b: a + b}, name="maya")
    adapter.endpoint      # "tcp://127.0.0.1:54321"
    adapter.ui.show()     # call a method of the UI
    adapter.stop()

Calls run on the host's main thread through a dispatcher that ``serve()``
picks for the running application (:func:`detect`: Maya, Nuke, Hiero,
Houdini, Blender, any Qt application, or batch mode); see docs/dcc.md.

Importing this package opens no socket, starts no thread, and imports no Qt
or DCC module.
"""

from .adapter import HostAdapter, serve
from .dispatchers import (
    BlenderDispatcher,
    DispatchError,
    HieroDispatcher,
    HoudiniDispatcher,
    MainThreadQueue,
    MayaDispatcher,
    NukeDispatcher,
    QtDispatcher,
    detect,
    immediate,
)

__all__ = [
    "serve",
    "HostAdapter",
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
