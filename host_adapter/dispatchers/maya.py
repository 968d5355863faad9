"""Maya with its UI: ``maya.utils.executeInMainThreadWithResult(func, *args, **kwargs)``."""

from __future__ import annotations

from .host_function import HostFunctionDispatcher

__all__ = ["MayaDispatcher"]


class MayaDispatcher(HostFunctionDispatcher):
    """Maya with its UI: ``maya.utils.executeInMainThreadWithResult``.

    Runs each call at Maya's next idle event. Not for mayapy (batch mode).

    Arguments:
        execute: the function to call through; imported from Maya by default.
    """

    module = "maya.utils"
