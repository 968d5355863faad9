"""pyblish-qml's own window and ``Controller``, with a host reached over this transport.

:class:`PyblishQml` builds pyblish-qml's ``Application`` (its QML window, its
``Controller`` and its state machine, unchanged) around a
:class:`~ui_adapter.qml.proxy.QmlHostProxy`, and runs it. The host's
requests arrive through a :class:`~ui_adapter.qml.parent.ParentChannel`, as
pyblish-qml's parent process would write them.

Imports PyQt5 when a window is made, not before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from types import TracebackType
from typing import Any, Callable, Iterator, List, Optional, Type

from .parent import ParentChannel

__all__ = ["PyblishQml"]

log = logging.getLogger(__name__)


class PyblishQml:
    """pyblish-qml's window, its calls going to ``call``.

    Arguments:
        call: ``call(name, *args, **kwargs)`` sends one call to the host.
        parent: where the host's requests to the window arrive.
        targets: the pyblish targets to publish for (``["default"]``...).

    Attributes:
        application: pyblish-qml's ``Application`` (a ``QGuiApplication``).
        controller: its ``Controller``, which QML sees as ``app``.
        host: the :class:`~ui_adapter.qml.proxy.QmlHostProxy`.

    Raises:
        ImportError: pyblish-qml or PyQt5 is missing, or a system library
            that PyQt5 needs (see ``.ci/install-qt-system-packages``).
        RuntimeError: the QML did not load.
    """

    def __init__(self, call: Callable[..., Any], parent: ParentChannel, targets: List[str]) -> None:
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            # Without a GPU, Qt Quick's default renderer shows nothing offscreen.
            os.environ.setdefault("QT_QUICK_BACKEND", "software")
        from .importable import ensure_importable

        ensure_importable()
        from pyblish_qml import app, compat, ipc

        from .proxy import QmlHostProxy

        self.host = QmlHostProxy(call, parent.queue)
        compat.main()
        # Application() makes its own host link with ipc.client.Proxy(), a
        # stdin/stdout child process's; it gets this one instead.
        with _replaced(ipc.client, "Proxy", lambda: self.host):
            self.application = app.Application(app.APP_PATH, targets)
        self.controller = self.application.controller
        if self.application.window.status() == self.application.window.Error:
            errors = "; ".join(error.toString() for error in self.application.window.errors())
            raise RuntimeError(f"pyblish-qml's QML did not load: {errors}")
        self.application.listen()

    def run(self) -> int:
        """Run the window's event loop until it quits; returns Qt's exit code.

        While it runs, an exception that escapes one of pyblish-qml's slots
        is logged instead of aborting the process (PyQt5's default).
        """
        previous = sys.excepthook
        sys.excepthook = _log_uncaught
        try:
            return int(self.application.exec_())
        finally:
            sys.excepthook = previous

    def grab(self, path: str) -> bool:
        """Save what the window shows now as an image (PNG by the name); True if saved."""
        # Through the screen: QQuickWindow.grabWindow() gives a null image on
        # the offscreen platform with Qt Quick's software renderer.
        window = self.application.window
        picture = self.application.primaryScreen().grabWindow(window.winId())
        return not picture.isNull() and bool(picture.save(path))


def _log_uncaught(
    kind: Type[BaseException], error: BaseException, trace: Optional[TracebackType]
) -> None:
    log.error("uncaught in pyblish-qml", exc_info=(kind, error, trace))


@contextlib.contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)
