"""Make docs/pyblish-qml.png: pyblish-qml's window after a publish of the example host.

    python docs/make_qml_screenshot.py [PNG]

Runs the example host (examples/pyblish/host.py) in its own process and
pyblish-qml's real window in this one, offscreen, over ZeroMQ: asked to show
itself as a host's menu asks it, the window collects the host, publishes it as
its Publish button does (the publish stops at the example's failed
validation, "sphere"), and saves what it shows.
Needs ``pip install ".[qml]"`` (and, on a bare Debian, the libraries
``.ci/install-qt-system-packages`` installs). Exits 0 once the PNG is saved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, List, Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PNG = ROOT / "docs" / "pyblish-qml.png"
# Give the window this long to draw the last result before it is grabbed.
_PAINT_MS = 800
# The whole run ends after this long, saved or not.
_DEADLINE_MS = 60_000


def main(argv: Optional[List[str]] = None) -> int:
    png = Path((argv if argv is not None else sys.argv[1:] or [str(DEFAULT_PNG)])[0])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from ui_adapter.qml.cli import main as qml_main

    saved: List[bool] = []
    with tempfile.TemporaryDirectory() as scratch:
        endpoint = f"ipc://{scratch}/ui.sock"
        host = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "pyblish" / "host.py"), "--ui", endpoint],
            env=dict(os.environ, PYBLISH_EXAMPLE_ROOT=str(Path(scratch) / "publishes")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Shown as a host's menu shows it (host_adapter.pyblish.qml.show).
        asking = threading.Thread(target=_show, args=(endpoint,), daemon=True)
        asking.start()
        try:
            status = qml_main(
                ["--host", "maya", "--ui", endpoint],
                on_window=lambda window: _publish_then_grab(window, png, saved),
            )
        finally:
            host.terminate()
            host.wait(10)
    if not any(saved):
        print(f"no screenshot: the window quit with status {status}", file=sys.stderr)
        return 1
    print(f"saved {png}")
    return 0


def _show(endpoint: str) -> None:
    import broker

    with broker.connect(endpoint, timeout=_DEADLINE_MS / 1000) as ui:
        ui.call("show", {"WindowTitle": "Pyblish (maya)", "ContextLabel": "maya"})


def _publish_then_grab(window: Any, png: Path, saved: List[bool]) -> None:
    from PyQt5 import QtCore

    controller = window.controller
    publishing: List[bool] = []

    def grab_and_quit() -> None:
        saved.append(window.grab(str(png)))
        window.application.quit()

    def on_state(name: str) -> None:
        if name == "ready" and controller.data["models"]["item"].plugins and not publishing:
            # The first reset (collection) is over: press Publish.
            publishing.append(True)
            QtCore.QTimer.singleShot(0, controller.publish)
        elif name == "finished" and publishing:
            QtCore.QTimer.singleShot(_PAINT_MS, grab_and_quit)

    controller.state_changed.connect(on_state)
    QtCore.QTimer.singleShot(_DEADLINE_MS, window.application.quit)


if __name__ == "__main__":
    sys.exit(main())
