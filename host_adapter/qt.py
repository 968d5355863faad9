"""Run calls on the main thread of any Qt application (PySide6 or PySide2).

::

    app = QtWidgets.QApplication(sys.argv)
    adapter = host_adapter.serve(service, dispatcher=host_adapter.QtDispatcher())
    app.exec()

A call from another thread is posted to a ``QObject`` living in the
application's thread through a queued signal, and runs when the event loop
gets to it; the calling thread waits for the outcome. A call made from the
application's thread runs at once. (A ``QTimer`` would need a ``QThread`` to
start it from, and the adapter's threads are plain Python threads.)

Importing this module imports no Qt: :func:`qt_core` picks the binding the
first time a dispatcher is made.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Set

from broker.errors import Closed

from .dispatch import _Job

__all__ = ["QtDispatcher", "qt_core", "BINDINGS"]

log = logging.getLogger(__name__)

#: The Qt bindings this module speaks, in order of preference.
BINDINGS = ("PySide6", "PySide2")

# One receiver class per binding: a Signal must be declared on a class, and
# the class can only be made once the binding is imported.
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
        "no Qt binding found: install PySide6 (pip install PySide6-Essentials) or PySide2"
    )


def _receiver_type(qtcore: ModuleType) -> type:
    cached = _receiver_types.get(qtcore.__name__)
    if cached is not None:
        return cached
    connection = getattr(qtcore.Qt, "ConnectionType", qtcore.Qt).QueuedConnection

    class Receiver(qtcore.QObject):  # type: ignore[misc, name-defined]
        """Lives in the application's thread and runs what is posted to it."""

        posted = qtcore.Signal(object)

        def __init__(self) -> None:
            super().__init__()
            # Queued whichever thread emits: the callback always runs from
            # the receiver's event loop, never inside emit().
            self.posted.connect(self._run, connection)

        def _run(self, callback: Callable[[], None]) -> None:
            callback()

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
        ImportError: neither PySide6 nor PySide2 is installed.
        RuntimeError: there is no application yet.
    """

    def __init__(self, application: Any = None) -> None:
        qtcore = qt_core()
        app = application if application is not None else qtcore.QCoreApplication.instance()
        if app is None:
            raise RuntimeError("no Qt application yet: create the QApplication first")
        self.binding = qtcore.__name__.split(".")[0]
        self._lock = threading.Lock()
        self._pending: Set[_Job] = set()
        self._closed = False
        self._receiver = _receiver_type(qtcore)()
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
        job = _Job(func, args, kwargs)
        with self._lock:
            if self._closed:
                raise Closed("this Qt dispatcher was closed (the application quit?)")
            self._pending.add(job)
        self._receiver.posted.emit(functools.partial(self._start, job))
        return job.outcome()

    def _start(self, job: _Job) -> None:
        with self._lock:
            if job not in self._pending:  # failed by close() meanwhile
                return
            self._pending.discard(job)
        job.run()

    def close(self) -> None:
        """Fail waiting and later calls with ``Closed``. Idempotent; any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._pending)
            self._pending.clear()
        for job in jobs:
            job.fail(Closed("the Qt application stopped before this call ran"))
        try:
            self._receiver.deleteLater()
        except RuntimeError:  # the application (and the receiver with it) is gone
            log.debug("Qt receiver already deleted")

    def __repr__(self) -> str:
        return f"<QtDispatcher {self.binding}{' closed' if self._closed else ''}>"
