"""The dispatchers of the DCCs that run code on their main thread for us.

Maya, Houdini, Nuke and Hiero each have an ``executeInMainThreadWithResult``;
:class:`HostFunctionDispatcher` calls through it, with one behaviour
whatever the host's function does with results and errors:

- a call made from the main thread runs at once, without the host's function
  (re-entrant calls into some of them deadlocked);
- the outcome is captured inside the main thread, so the function's own
  exception comes back as raised, and a result comes back even when the host's
  function fails after running it (Nuke raised ``SystemError`` there under load);
- when the host's function fails before the call ran, or returns without
  running it, the call raises :class:`DispatchError`.

Each looks its DCC's module up when made, never at import.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Callable, Optional

from .core import DispatchError, Handoff

__all__ = ["HostFunctionDispatcher", "Execute"]

log = logging.getLogger(__name__)

#: A DCC's ``executeInMainThreadWithResult``.
Execute = Callable[..., Any]


class HostFunctionDispatcher:
    """Calls through a DCC's ``executeInMainThreadWithResult`` (see the module docstring).

    Subclasses name the DCC's module in :attr:`module`.
    """

    module = ""

    def __init__(self, execute: Optional[Execute] = None) -> None:
        # Looked up once: a plug-in that later replaces the host's function
        # (a Maya plug-in once did, and froze every call) does not affect us.
        self._execute = execute if execute is not None else self._find()
        self._main_thread = threading.main_thread()

    def _find(self) -> Execute:
        return importlib.import_module(self.module).executeInMainThreadWithResult

    def _submit(self, run: Callable[[], None]) -> None:
        """Hand ``run`` to the host's function (whose signature differs per host)."""
        self._execute(run)

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self._main_thread:
            return func(*args, **kwargs)
        job = Handoff(func, args, kwargs)
        try:
            self._submit(job.run)
        except Exception as exc:
            if not job.done.is_set():
                raise DispatchError(
                    f"{self.module}.executeInMainThreadWithResult failed "
                    f"before the call ran: {exc!r}"
                ) from exc
            log.warning(
                "%s.executeInMainThreadWithResult raised %r after the call ran; "
                "answering with the call's own outcome",
                self.module,
                exc,
            )
        if not job.done.is_set():
            raise DispatchError(
                f"{self.module}.executeInMainThreadWithResult returned without running the call"
            )
        return job.outcome()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} via {self.module}.executeInMainThreadWithResult>"
