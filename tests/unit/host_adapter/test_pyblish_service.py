"""PyblishService in this process: pyblish's own rules, one pair per call."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import msgpack
import pytest

pytest.importorskip("pyblish")

import pyblish  # noqa: E402
import pyblish.api  # noqa: E402
import pyblish.util  # noqa: E402

from host_adapter.pyblish import PyblishService  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV, install  # noqa: E402

Row = Tuple[str, Optional[str], bool, Optional[str]]


@pytest.fixture(autouse=True)
def clean_pyblish():
    with pyblish_plugins.isolated():
        yield


@pytest.fixture
def staging(tmp_path, monkeypatch):
    def directory(name: str) -> str:
        path = tmp_path / name
        path.mkdir()
        monkeypatch.setenv(STAGING_ENV, str(path))
        return str(path)

    return directory


def in_process(
    scenario: str, targets: Optional[List[str]] = None, setup: Callable[[str], Any] = install
) -> List[Row]:
    setup(scenario)
    context = pyblish.util.publish(targets=targets)
    return [
        (
            result["plugin"].__name__,
            result["instance"].name if result["instance"] is not None else None,
            result["success"],
            str(result["error"]) if result["error"] else None,
        )
        for result in context.data["results"]
    ]


def row(result: Dict[str, Any]) -> Row:
    return (
        result["plugin"]["name"],
        result["instance"]["name"] if result["instance"] else None,
        result["success"],
        result["error"]["message"] if result["error"] else None,
    )


def run(service: PyblishService, max_calls: int = 1000, **start: Any) -> List[Dict[str, Any]]:
    """Every reply of next() until done, bounded."""
    service.start(**start)
    replies = []
    for _ in range(max_calls):
        replies.append(service.next())
        if replies[-1]["done"]:
            return replies
    raise AssertionError(f"publish not done after {max_calls} calls")


def remote_rows(
    scenario: str, setup: Callable[[str], Any] = install, **start: Any
) -> Tuple[List[Row], Dict[str, Any]]:
    setup(scenario)
    service = PyblishService()
    service.reset()
    replies = run(service, **start)
    return [row(r) for reply in replies for r in reply["results"]], replies[-1]


@pytest.mark.parametrize(
    "scenario, targets", [("basic", None), ("failing", None), ("basic", ["default", "farm"])]
)
def test_step_by_step_equals_pyblish_util_publish(staging, scenario, targets):
    staging("in-process")
    expected = in_process(scenario, targets)
    staging("service")
    rows, last = remote_rows(scenario, targets=targets)
    assert rows == expected
    assert len(rows) > 5
    assert any(r[0] == "ExtractForFarm" for r in rows) == bool(targets)
    assert last["done"] and last["processed"] == len(rows) == last["estimate"]


def test_failed_validation_stops_extraction_as_pyblish_does(staging):
    directory = staging("service")
    rows, last = remote_rows("failing")
    assert last["stopped"] == "failed validation"
    assert ("ValidateNames", "sphere", False, "'sphere' must end in _GEO or _RIG") in rows
    assert not [r for r in rows if r[0].startswith(("Extract", "Integrate"))]
    assert os.listdir(directory) == []
    assert rows[-1][0] == "ValidateScene"  # the rest of validation still ran


def test_a_registered_test_decides_when_to_stop(staging):
    def no_extraction(**vars):
        return "extraction is off" if vars["nextOrder"] >= pyblish.api.ExtractorOrder else None

    def with_test(scenario):
        install(scenario)
        pyblish.api.register_test(no_extraction)

    staging("in-process")
    expected = in_process("basic", setup=with_test)
    staging("service")
    rows, last = remote_rows("basic", setup=with_test)
    assert rows == expected
    assert last["stopped"] == "extraction is off"
    assert rows[-1][0] == "ValidateScene"


def test_collect_only_then_publish_the_reviewed_context(staging):
    staging("service")
    install("basic")
    service = PyblishService()
    service.reset()
    collected = run(service, order=pyblish.api.CollectorOrder)
    names = [r["plugin"]["name"] for reply in collected for r in reply["results"]]
    assert names == ["CollectModels", "CollectFrames", "CollectFrames"]
    cube = next(i for i in service.context()["children"] if i["name"] == "cube")
    service.emit("instanceToggled", {"instance": cube["id"], "new_value": False, "old_value": True})
    scene = next(p for p in service.discover() if p["name"] == "ValidateScene")
    service.emit("pluginToggled", {"plugin": scene["id"], "new_value": False, "old_value": True})
    published = run(service, collect=False)
    rows = [row(r) for reply in published for r in reply["results"]]
    assert not [r for r in rows if r[0].startswith("Collect")], "collectors ran again"
    assert not [r for r in rows if r[1] == "cube"]
    assert not [r for r in rows if r[0] == "ValidateScene"]
    assert ("ExtractFiles", "sphere", True, None) in rows


def test_emit_gives_callbacks_the_real_objects():
    install("basic")
    service = PyblishService()
    service.reset()
    run(service, order=pyblish.api.CollectorOrder)
    seen = []
    pyblish.api.register_callback("commented", lambda **kwargs: seen.append(kwargs))
    instance = service.context()["children"][0]
    plugin = service.discover()[0]
    service.emit(
        "commented", {"context": True, "instance": instance["id"], "plugin": plugin, "text": "hi"}
    )
    (kwargs,) = seen
    assert isinstance(kwargs["context"], pyblish.api.Context)
    assert kwargs["instance"].id == instance["id"] and kwargs["instance"].name == "cube"
    assert kwargs["plugin"].id == plugin["id"] and kwargs["text"] == "hi"


def test_batches_give_the_same_sequence_in_fewer_calls(staging):
    staging("one")
    one, _ = remote_rows("basic")
    staging("batched")
    install("basic")
    service = PyblishService()
    service.reset()
    service.start()
    replies = []
    for _ in range(100):
        replies.append(service.next(limit=4))
        if replies[-1]["done"]:
            break
    assert [row(r) for reply in replies for r in reply["results"]] == one
    assert all(len(reply["results"]) <= 4 for reply in replies)
    assert len(replies) == -(-len(one) // 4) + (1 if len(one) % 4 == 0 else 0)
    staging("budget")
    service.reset()
    service.start()
    reply = service.next(limit=1000, budget=60.0)
    assert [row(r) for r in reply["results"]] == one and reply["done"]


def test_changes_report_what_the_pair_changed():
    install("basic")
    service = PyblishService()
    service.reset()
    assert service.context()["children"] == []
    service.start()
    collected = service.next()
    assert [r["plugin"]["name"] for r in collected["results"]] == ["CollectModels"]
    added = collected["changes"]["added"]
    assert [i["name"] for i in added] == ["cube", "sphere", "rig"]
    assert collected["changes"]["order"] == [i["id"] for i in added]
    context_id = service.context()["id"]
    assert collected["changes"]["updated"][context_id]["data"]["scene"] == {
        "fps": 25,
        "start": 1001,
    }
    frames = service.next()
    (result,) = frames["results"]
    assert result["instance"]["name"] == "cube"
    assert frames["changes"]["updated"] == {added[0]["id"]: {"data": {"frameCount": 10}}}
    assert frames["changes"]["added"] == [] and frames["changes"]["order"] is None


def test_process_and_repair_take_ids_or_maps():
    install("failing")
    service = PyblishService()
    service.reset()
    plugins = {p["name"]: p for p in service.discover()}
    collected = service.process(plugins["CollectModelsWithBadName"]["id"])
    assert collected["success"] and collected["instance"] is None
    sphere = next(i for i in service.context()["children"] if i["name"] == "sphere")
    failed = service.process(plugins["ValidateNames"], sphere)
    assert not failed["success"]
    assert failed["error"]["message"] == "'sphere' must end in _GEO or _RIG"
    assert failed["error"]["exception"] == "builtins.ValueError"
    assert failed["error"]["func"] == "process"
    assert failed["error"]["fname"].endswith("pyblish_plugins.py")
    assert isinstance(failed["error"]["line_number"], int)
    assert "ValueError" in failed["error"]["traceback"]
    assert [r["message"] for r in failed["records"]] == ["checking sphere"]
    repaired = service.repair(plugins["ValidateNames"]["id"], sphere["id"])
    assert repaired["success"] and repaired["records"][0]["message"] == "renamed to sphere_GEO"
    assert service.process(plugins["ValidateNames"]["id"], sphere["id"])["success"]


def test_actions_run_by_id():
    install("failing")
    service = PyblishService()
    service.reset()
    run(service)
    validate = next(p for p in service.discover() if p["name"] == "ValidateNames")
    select = next(a for a in validate["actions"] if a["name"] == "SelectInvalid")
    result = service.process(validate["id"], None, select["id"])
    assert result["success"] and result["action"] == select["id"]
    assert result["records"][0]["message"] == "selected sphere"
    assert service.context()["data"]["selected"] == ["sphere"]


def test_unknown_ids_and_misuse_are_clear_errors():
    install("basic")
    service = PyblishService()
    service.reset()
    validate = next(p for p in service.discover() if p["name"] == "ValidateNames")
    with pytest.raises(LookupError, match="no plug-in"):
        service.process("nope")
    with pytest.raises(LookupError, match="no instance"):
        service.process(validate["id"], "nope")
    with pytest.raises(LookupError, match="no action"):
        service.process(validate["id"], None, "nope")
    with pytest.raises(TypeError):
        service.process(42)
    with pytest.raises(RuntimeError, match="start"):
        service.next()
    service.start()
    with pytest.raises(ValueError):
        service.next(limit=0)
    assert service.cancel() is True
    assert service.cancel() is False
    with pytest.raises(RuntimeError):
        service.next()


def test_test_method_applies_the_registered_test():
    service = PyblishService()
    assert service.test({"nextOrder": 2, "ordersWithError": [1]}) == "failed validation"
    assert service.test({"nextOrder": 1.2, "ordersWithError": [1]}) is None
    assert service.test({"nextOrder": 3, "ordersWithError": [0, 2]}) is None


def test_test_takes_keywords_as_pyblish_qml_sends_them():
    service = PyblishService()
    assert service.test(nextOrder=2, ordersWithError=[1]) == "failed validation"
    assert service.test(nextOrder=2, ordersWithError=[]) is None
    with pytest.raises(TypeError, match="not both"):
        service.test({"nextOrder": 2}, nextOrder=2)
    with pytest.raises(TypeError, match="nextOrder"):
        service.test(ordersWithError=[1])


def test_update_writes_context_data_that_plugins_then_see():
    class ReadComment(pyblish.api.ContextPlugin):
        order = pyblish.api.ValidatorOrder

        def process(self, context):
            context.data["seen"] = context.data["comment"]

    service = PyblishService(find_plugins=lambda: [ReadComment])
    service.reset()
    service.update("comment", "first take")
    assert service.context()["data"]["comment"] == "first take"
    (reply,) = [r for r in run(service) if r["results"]]
    assert reply["results"][0]["success"], reply["results"][0]["error"]
    assert service.context()["data"]["seen"] == "first take"
    with pytest.raises(ValueError, match="results"):
        service.update("results", [])
    with pytest.raises(TypeError):
        service.update(1, "x")  # type: ignore[arg-type]
    assert service.stats()["requests"]["update"] == 3


def test_context_data_says_who_serves_it_without_storing_it():
    class Collect(pyblish.api.ContextPlugin):
        order = pyblish.api.CollectorOrder

        def process(self, context):
            context.data["keys seen"] = sorted(context.data)
            context.data["user"] = "collected-user"

    install("basic")
    pyblish.api.register_host("maya")
    service = PyblishService(find_plugins=lambda: [Collect])
    service.reset()
    data = service.context()["data"]
    assert data["host"] == "maya, python" and data["port"] == -1
    assert data["pyblishVersion"] == pyblish.__version__ and data["pythonVersion"] == sys.version
    assert data["connectTime"].endswith("Z") and data["connectTime"][:4].isdigit()
    assert data["user"] == service.context()["meta"]["user"]
    replies = run(service)
    # Only sent: the context holds none of it, and no step reports it deleted.
    assert all(
        not update.get("deleted")
        for reply in replies
        for update in reply["changes"]["updated"].values()
    )
    after = service.context()["data"]
    assert after["user"] == "collected-user"  # the context's own wins
    assert not {"host", "port", "connectTime"} & set(after["keys seen"])


def test_stats_count_requests():
    service = PyblishService()
    service.ping()
    service.reset()
    service.discover()
    stats = service.stats()
    assert stats["totalRequestCount"] == 4
    assert stats["requests"] == {"ping": 1, "reset": 1, "discover": 1, "stats": 1}
    assert stats["session"] is None
    service.start()
    assert service.stats()["session"] == {"processed": 0, "estimate": 0}


def test_everything_sent_is_plain_msgpack(staging):
    """No default= hook needed: sets, tuples, big ints and objects were converted."""
    staging("service")
    install("basic")
    service = PyblishService()
    service.reset()
    service.context()
    replies = run(service)
    for value in (replies, service.context(), service.discover(), service.stats()):
        assert msgpack.unpackb(msgpack.packb(value), raw=False) == value
    cube = replies[0]["changes"]["added"][0]["data"]
    assert cube["tags"] == ["a", "b"] and cube["frames"] == [1001, 1010]
    assert cube["big"] == 2**63 + 1 and cube["huge"] == str(2**70)
    assert cube["handle"] == "Opaque()"


def test_find_plugins_replaces_discovery():
    class Only(pyblish.api.ContextPlugin):
        order = pyblish.api.ValidatorOrder

        def process(self, context):
            context.data["ran"] = True

    service = PyblishService(find_plugins=lambda: [Only])
    service.reset()
    assert [p["name"] for p in service.discover()] == ["Only"]
    replies = run(service)
    assert [r["plugin"]["name"] for reply in replies for r in reply["results"]] == ["Only"]
    assert service.context()["data"]["ran"] is True
