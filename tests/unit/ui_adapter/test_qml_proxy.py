"""pyblish-qml's own host proxy methods, over a msgpack round trip to a real PyblishService.

No Qt: pyblish-qml's ``ipc.client`` and ``ipc.formatting`` are plain Python.
"""

from __future__ import annotations

import queue
from typing import Any, List, Tuple

import msgpack
import pytest

pytest.importorskip("pyblish")
pytest.importorskip("pyblish_qml")

import pyblish.api  # noqa: E402
import pyblish.logic  # noqa: E402

from host_adapter.pyblish import PyblishService  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV, install  # noqa: E402
from ui_adapter.qml.proxy import QmlHostProxy, shown_context  # noqa: E402


@pytest.fixture(autouse=True)
def clean_pyblish(tmp_path, monkeypatch):
    monkeypatch.setenv(STAGING_ENV, str(tmp_path))
    with pyblish_plugins.isolated():
        yield


def over_the_wire(service: PyblishService, calls: List[Tuple[str, Any, Any]]) -> Any:
    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((name, args, kwargs))
        args, kwargs = msgpack.unpackb(msgpack.packb([args, kwargs]), raw=False)
        return msgpack.unpackb(msgpack.packb(getattr(service, name)(*args, **kwargs)), raw=False)

    return call


@pytest.fixture
def proxy() -> Tuple[QmlHostProxy, List[Tuple[str, Any, Any]]]:
    install("basic")
    calls: List[Tuple[str, Any, Any]] = []
    parent: queue.Queue = queue.Queue()
    return QmlHostProxy(over_the_wire(PyblishService(), calls), parent), calls


def test_pyblish_qml_collects_through_its_own_proxy_methods(proxy):
    host, calls = proxy
    host.reset()
    plugins = host.discover()
    collect = next(p for p in plugins if p.__name__ == "CollectModelsProxy")
    assert collect.__contextEnabled__ and not collect.__instanceEnabled__
    result = host.process(collect, host.context(), None)
    assert result["success"], result["error"]
    context = host.context()
    assert [instance.name for instance in context] == ["cube", "sphere", "rig"]
    assert host.cached_context is context
    # pyblish's own family matching, on pyblish-qml's proxy objects, as its UI runs it.
    frames = next(p for p in plugins if p.__name__ == "CollectFramesProxy")
    assert [i.name for i in pyblish.logic.instances_by_plugin(context, frames)] == [
        "cube",
        "sphere",
    ]
    result = host.process(frames, context, context[0])
    assert result["success"] and result["instance"]["name"] == "cube"
    assert [name for name, _, _ in calls] == [
        "reset",
        "discover",
        "context",
        "process",
        "context",
        "process",
    ]


def test_what_pyblish_qml_is_shown_is_its_whitelist(proxy):
    host, _ = proxy
    host.reset()
    collect = next(p for p in host.discover() if p.__name__ == "CollectModelsProxy")
    host.process(collect, host.context(), None)
    context = host.context()
    cube = context[0]
    # The plug-in also stored duration, hasError, subset, tags...: pyblish-qml
    # would copy those over its own item fields.
    assert cube.data == {"family": "model", "name": "cube"}
    shown = {key for key in context.data if key != "pyblishClientVersion"}
    assert shown == {"host", "user", "port", "connectTime", "pyblishVersion", "pythonVersion"}


def test_shown_context_leaves_the_host_s_map_whole():
    sent = {
        "name": "Context",
        "id": "c",
        "data": {"comment": "hi", "staging": "/tmp"},
        "children": [{"name": "a", "id": "i", "data": {"family": "x", "duration": "48"}}],
        "meta": {"pid": 1},
    }
    shown = shown_context(sent)
    assert shown["data"] == {"comment": "hi"} and shown["meta"] == {"pid": 1}
    assert shown["children"] == [{"name": "a", "id": "i", "data": {"family": "x"}}]
    assert sent["children"][0]["data"]["duration"] == "48"


def test_test_emit_and_update_reach_the_host_as_pyblish_qml_sends_them(proxy):
    host, calls = proxy
    host.reset()
    assert host.test(nextOrder=2.0, ordersWithError={1.0}) == "failed validation"
    assert host.test(nextOrder=1.5, ordersWithError=set()) is None
    assert calls[-1] == ("test", (), {"nextOrder": 1.5, "ordersWithError": []})
    host.update(key="comment", value="first take")
    assert host.context().data["comment"] == "first take"
    collect = next(p for p in host.discover() if p.__name__ == "CollectModelsProxy")
    host.process(collect, host.context(), None)
    sphere = host.context()[1]
    host.emit("instanceToggled", instance=sphere.id, new_value=False, old_value=True)
    assert host.context()[1].data["publish"] is False  # the host's instance follows
    assert host.stats()["totalRequestCount"] > 0
