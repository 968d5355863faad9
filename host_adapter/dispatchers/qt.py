"""Run calls on the main thread of any Qt application (PySide6, PySide2, PyQt6, PyQt5).

::

    app = QtWidgets.QApplication(sys.argv)
    adapter = host_adapter.serve(service, dispatcher=host_adapter.QtDispatcher())
    app.exec()

A call from another thread waits in the dispatcher's queue, and an event
posted to a ``QObject`` living in the application's thread
(``QCoreApplication.postEvent`` is thread-safe) makes the event loop run it;
the calling thread waits for the outcome. A call made from the application's
thread runs at once. (A ``QTimer`` would need a ``QThread`` to start it from,
and the adapter's threads are plain Python threads.)

Importing this module imports no Qt: :func:`qt_core` picks the binding the
first time a dispatcher is made.
"""

from __future__ import annotations

import collections
import functools
import importlib
import logging
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Deque, Dict, Optional

from broker.errors import Closed

from .core import Handoff

__all__ = ["QtDispatcher", "qt_core", "BINDINGS"]

log = logging.getLogger(__name__)

#: The Qt bindings this module speaks, in order of preference when none is
#: imported yet (an application's own binding always wins: see qt_core).
BINDINGS = ("PySide6", "PySide2", "PyQt6", "PyQt5")

# One receiver class per binding: it can only be made once the binding is imported.
_receiver_types: Dict[str, type] = {}


def qt_core() -> ModuleType:
    """The ``QtCore`` module of the Qt binding this process uses.

    A binding that already runs an application wins, then one already
    imported (the host's), then the first of :data:`BINDINGS` that imports.

    Raises:
        ImportError: no binding is installed.
    """
    imported = [
        sys.modules[f"{name}.QtCore"] for name in BINDINGS if f"{name}.QtCore" in sys.modules
    ]
    for module in imported:
        if module.QCoreApplication.instance() is not None:
            return module
    if imported:
        return imported[0]
    for name in BINDINGS:
        try:
            return importlib.import_module(f"{name}.QtCore")
        except ImportError:
            continue
    raise ImportError(
        "no Qt binding found: install PySide6 (pip install PySide6-Essentials),"
        " PySide2, PyQt6 or PyQt5"
    )


def _receiver_type(qtcore: ModuleType) -> type:
    cached = _receiver_types.get(qtcore.__name__)
    if cached is not None:
        return cached

    class Receiver(qtcore.QObject):  # type: ignore[misc, name-defined]
        """Lives in the application's thread; each event posted to it runs one call."""

        def __init__(self, run_next: Callable[[], None]) -> None:
            super().__init__()
            self._run_next = run_next

        def customEvent(self, event: Any) -> None:
            self._run_next()

    Receiver.event_type = qtcore.QEvent.Type(qtcore.QEvent.registerEventType())
    _receiver_types[qtcore.__name__] = Receiver
    return Receiver


class QtDispatcher:
    """A dispatcher that runs calls in the Qt application's event loop.

    Make it once a ``QApplication`` (or ``QCoreApplication``) exists,
    preferably on the application's thread. The event loop need not run yet:
    calls wait in Qt's event queue until it does.

    Arguments:
        application: the application; ``QCoreApplication.instance()`` by
            default.

    Raises:
        ImportError: none of PySide6, PySide2, PyQt6 and PyQt5 is installed.
        RuntimeError: there is no application yet.
    """

    def __init__(self, application: Any = None) -> None:
        qtcore = qt_core()
        app = application if application is not None else qtcore.QCoreApplication.instance()
        if app is None:
            raise RuntimeError("no Qt application yet: create the QApplication first")
        self.binding = qtcore.__name__.split(".")[0]
        self._lock = threading.Lock()
        self._jobs: Deque[Handoff] = collections.deque()
        self._closed = False
        self._post_event = qtcore.QCoreApplication.postEvent
        receiver_type = _receiver_type(qtcore)
        self._event = functools.partial(qtcore.QEvent, receiver_type.event_type)  # type: ignore[attr-defined]
        self._receiver = receiver_type(self._run_next)
        if qtcore.QThread.currentThread() is app.thread():
            self._main_ident: Optional[int] = threading.get_ident()
        else:
            # Made on another thread: hand the receiver to the application's
            # thread, which in every DCC is the thread Python started on.
            self._receiver.moveToThread(app.thread())
            self._main_ident = threading.main_thread().ident
        # Calls still waiting when the application quits would wait forever.
        app.aboutToQuit.connect(self.close)

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == self._main_ident:
            return func(*args, **kwargs)
        job = Handoff(func, args, kwargs)
        with self._lock:
            if self._closed:
                raise Closed("this Qt dispatcher was closed (the application quit?)")
            self._jobs.append(job)
        # Qt owns the posted event and deletes it once delivered.
        self._post_event(self._receiver, self._event())
        return job.outcome()

    def _run_next(self) -> None:
        with self._lock:
            if not self._jobs:  # failed by close() meanwhile
                return
            job = self._jobs.popleft()
        job.run()

    def close(self) -> None:
        """Fail waiting and later calls with ``Closed``. Idempotent; any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._jobs)
            self._jobs.clear()
        for job in jobs:
            job.fail(Closed("the Qt application stopped before this call ran"))
        try:
            self._receiver.deleteLater()
        except RuntimeError:  # the application (and the receiver with it) is gone
            log.debug("Qt receiver already deleted")

    def __repr__(self) -> str:
        return f"<QtDispatcher {self.binding}{' closed' if self._closed else ''}>"
