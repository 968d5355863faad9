"""Any Qt application: serve its own functions to UIs. Run: python examples/qt/qt_app.py

A small window with a list of "nodes". The adapter is made once the
QApplication exists, so ``host_adapter.serve()`` picks the Qt dispatcher:
every call runs on the application's main thread, between its events, and
may touch widgets. Works with PySide6 (``pip install ".[qt]"``)
or PySide2.

    python examples/qt/qt_app.py                          # announces to BROKER_UI_ENDPOINT / 9090
    python -m broker call tcp://127.0.0.1:PORT create '"tree"'
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import host_adapter  # noqa: E402
from host_adapter.dispatchers.qt import qt_core  # noqa: E402


def main() -> int:
    binding = qt_core().__name__.split(".")[0]
    widgets = importlib.import_module(f"{binding}.QtWidgets")
    app = widgets.QApplication(sys.argv)
    window = widgets.QMainWindow()
    window.setWindowTitle("Qt host")
    scene = widgets.QListWidget()
    scene.setSelectionMode(widgets.QAbstractItemView.SelectionMode.ExtendedSelection)
    scene.addItems(["camera", "light", "ground"])
    window.setCentralWidget(scene)

    def nodes():
        """The names in the list."""
        return [scene.item(row).text() for row in range(scene.count())]

    def select(names):
        """Select exactly these names; return the selection."""
        for row in range(scene.count()):
            scene.item(row).setSelected(scene.item(row).text() in names)
        return [item.text() for item in scene.selectedItems()]

    def create(name):
        """Add a name to the list; return the list."""
        scene.addItem(name)
        return nodes()

    def title():
        """The window's title."""
        return window.windowTitle()

    def quit():
        """Close the application."""
        app.quit()
        return True

    adapter = host_adapter.serve([nodes, select, create, title, quit], name="qt-app")
    print(f"serving at {adapter.endpoint}, announcing to {adapter.ui_endpoint}", flush=True)
    window.show()
    try:
        return app.exec()
    finally:
        adapter.stop()


if __name__ == "__main__":
    sys.exit(main())
