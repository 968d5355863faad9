"""Houdini with its UI: ``hdefereval.executeInMainThreadWithResult(func, *args, **kwargs)``."""

from __future__ import annotations

from .host_function import HostFunctionDispatcher

__all__ = ["HoudiniDispatcher"]


class HoudiniDispatcher(HostFunctionDispatcher):
    """Houdini with its UI: ``hdefereval.executeInMainThreadWithResult``.

    ``hdefereval`` exists only in the graphical Houdini, not in hython.

    Arguments:
        execute: the function to call through; imported from Houdini by default.
    """

    module = "hdefereval"
