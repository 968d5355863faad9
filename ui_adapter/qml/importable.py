"""pyblish-qml 1.11 importable on Python 3.12 and later.

pyblish-qml vendors an old ``six`` whose import hook for ``six.moves`` has
only ``find_module``, which Python 3.12 no longer calls: there
``from pyblish_qml.vendor.six.moves import queue`` (in ``pyblish_qml.ipc``)
fails with ``ModuleNotFoundError``. :func:`ensure_importable` gives that one
hook the ``find_spec`` newer Pythons ask for, answering for the same modules;
its ``load_module`` still loads them. Nothing else is touched, and nothing at
all where the hook has a ``find_spec`` already.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any, Optional

__all__ = ["ensure_importable"]

_VENDORED_SIX = "pyblish_qml.vendor.six"


def ensure_importable() -> None:
    """Make pyblish-qml's ``six.moves`` importable here; idempotent.

    Raises:
        ImportError: pyblish-qml is not installed.
    """
    import pyblish_qml.vendor.six  # noqa: F401 - installs the hook in sys.meta_path

    for finder in sys.meta_path:
        if getattr(finder, "name", None) == _VENDORED_SIX and not hasattr(finder, "find_spec"):
            finder.find_spec = _spec_finder(finder)  # type: ignore[method-assign]


def _spec_finder(hook: Any) -> Any:
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> Optional[Any]:
        if fullname in hook.known_modules:
            return importlib.util.spec_from_loader(fullname, hook)
        return None

    return find_spec
