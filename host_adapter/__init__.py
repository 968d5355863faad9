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

from typing import TYPE_CHECKING, Any, List

from .adapter import HostAdapter, serve
from .dispatchers.core import DispatchError, MainThreadQueue, immediate

if TYPE_CHECKING:
    from .dispatchers import (
        BlenderDispatcher,
        HieroDispatcher,
        HoudiniDispatcher,
        MayaDispatcher,
        NukeDispatcher,
        QtDispatcher,
        detect,
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


def __getattr__(name: str) -> Any:
    # The DCC dispatchers load when first asked for: a host needs one at most.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import dispatchers

    value = getattr(dispatchers, name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
