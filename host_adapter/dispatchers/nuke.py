"""Nuke, NukeStudio and Hiero: ``executeInMainThreadWithResult(func, args, kwargs)``."""

from __future__ import annotations

from typing import Callable

from .host_function import HostFunctionDispatcher

__all__ = ["NukeDispatcher", "HieroDispatcher"]


class NukeDispatcher(HostFunctionDispatcher):
    """Nuke and NukeStudio: ``nuke.executeInMainThreadWithResult(func, args, kwargs)``.

    Nuke takes the arguments as a tuple and a dict, not as varargs.

    Arguments:
        execute: the function to call through; imported from Nuke by default.
    """

    module = "nuke"

    def _submit(self, run: Callable[[], None]) -> None:
        self._execute(run, (), {})


class HieroDispatcher(NukeDispatcher):
    """Hiero: ``hiero.core.executeInMainThreadWithResult(func, args, kwargs)``.

    Arguments:
        execute: the function to call through; imported from Hiero by default.
    """

    module = "hiero.core"
