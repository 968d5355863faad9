"""``python -m ui_adapter.qml``, plus what a user does with the mouse, for the tests.

    python tests/helpers/qml_ui_process.py [--toggle INSTANCE] ARGS...

Runs ``ui_adapter.qml``'s command line with ARGS. ``--toggle INSTANCE``:
once the first reset is over, unticks that instance in the window, through
the controller's ``toggleInstance`` slot, which the instance's checkbox
calls.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Tuple

# Polls of the window's state, 50 ms apart: at most 5 s.
_TRIES = 100
_STEP_MS = 50


def split_arguments(argv: List[str]) -> Tuple[Optional[str], List[str]]:
    if argv[:1] == ["--toggle"]:
        return argv[1], argv[2:]
    return None, list(argv)


def when_ready(window: Any, action: Any, tries: int = _TRIES) -> None:
    """Run ``action()`` once the controller is ready (or finished), polling."""
    from PyQt5 import QtCore

    if any(state in window.controller.states for state in ("ready", "finished")):
        action()
    elif tries > 0:
        QtCore.QTimer.singleShot(_STEP_MS, lambda: when_ready(window, action, tries - 1))
    else:
        print(f"the window never got ready: {window.controller.states}", file=sys.stderr)


def untick(window: Any, name: str) -> None:
    controller = window.controller
    instances = controller.data["proxies"]["instance"]
    for row in range(instances.rowCount()):
        if instances.item(row).name == name:
            controller.toggleInstance(row)
            return
    print(f"no instance {name!r} in the window", file=sys.stderr)


def main() -> int:
    from ui_adapter.qml.cli import main as qml_main

    toggle, arguments = split_arguments(sys.argv[1:])

    def on_window(window: Any) -> None:
        if toggle is None:
            return
        done: List[bool] = []

        def first_reset() -> None:
            if not done:
                done.append(True)
                when_ready(window, lambda: untick(window, toggle))

        window.controller.initialised.connect(first_reset)

    return qml_main(arguments, on_window=on_window)


if __name__ == "__main__":
    sys.exit(main())
