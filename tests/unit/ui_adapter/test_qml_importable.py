"""pyblish-qml's vendored six, given the find_spec Python 3.12 asks for."""

from __future__ import annotations

import importlib
import sys

import pytest

pytest.importorskip("pyblish_qml")

from ui_adapter.qml.importable import ensure_importable  # noqa: E402


def test_the_vendored_six_moves_hook_answers_find_spec():
    ensure_importable()
    ensure_importable()  # idempotent
    (hook,) = [f for f in sys.meta_path if getattr(f, "name", None) == "pyblish_qml.vendor.six"]
    spec = hook.find_spec("pyblish_qml.vendor.six.moves.queue")
    assert spec is not None and spec.loader is hook
    assert hook.find_spec("pyblish_qml.vendor.six.nothing") is None
    assert hook.find_spec("json") is None
    queue = importlib.import_module("pyblish_qml.vendor.six.moves.queue")
    assert queue.Queue is importlib.import_module("queue").Queue
