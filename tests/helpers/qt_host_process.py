"""A Qt application host for the Qt dispatcher tests, run as its own process.

    python tests/helpers/qt_host_process.py UI_ENDPOINT [BINDING]

A real ``QApplication`` (offscreen) of BINDING (PySide6 by default, or
PyQt5, PyQt6, PySide2) with its event loop running;
the adapter is made with no dispatcher, so ``host_adapter.detect()`` must
pick the Qt one. Prints the host's endpoint, id and dispatcher class, then
serves :class:`tests.helpers.main_thread_host.MainThreadService` until its ``quit``
method (or a kill) ends it.
"""

from __future__ import annotations

import importlib
import os
import sys


def main(ui_endpoint: str, binding: str = "PySide6") -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from tests.helpers.main_thread_host import MainThreadService, stop_after_replies, watch_sockets

    watch_sockets()
    QtWidgets = importlib.import_module(f"{binding}.QtWidgets")

    import host_adapter

    app = QtWidgets.QApplication([sys.argv[0]])
    service = MainThreadService()
    adapter = host_adapter.serve(service, name="qt", ui=ui_endpoint, heartbeat_interval=0.1)
    service.attach(adapter, app.quit)
    print(adapter.endpoint, flush=True)
    print(adapter.id, flush=True)
    print(type(adapter.dispatcher).__name__, flush=True)
    try:
        return app.exec()
    finally:
        stop_after_replies(adapter)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
