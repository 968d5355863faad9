"""The UI-side publish driver, against a service object and over the wire."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

import pytest

pytest.importorskip("pyblish")

import pyblish.api  # noqa: E402
import pyblish.util  # noqa: E402

import broker  # noqa: E402
import host_adapter  # noqa: E402
from host_adapter.pyblish import PyblishService  # noqa: E402
from tests.conftest import ipc_endpoint  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402
from tests.helpers.pyblish_plugins import STAGING_ENV, install  # noqa: E402
from ui_adapter.pyblish.publisher import Publisher, action_applies, publish  # noqa: E402


@pytest.fixture(autouse=True)
def clean_pyblish(tmp_path, monkeypatch):
    monkeypatch.setenv(STAGING_ENV, str(tmp_path))
    with pyblish_plugins.isolated():
        yield


@pytest.fixture(params=["object", "wire"])
def host(request, tmp_path):
    """The service itself, or a proxy to it served from this process."""
    service = PyblishService()
    if request.param == "object":
        yield service
        return
    with host_adapter.serve(
        service, name="maya", ui=ipc_endpoint(tmp_path, "nobody"), heartbeat_interval=0.1
    ) as adapter:
        with broker.connect(adapter.endpoint, timeout=10) as proxy:
            yield proxy


def rows(results: List[Dict[str, Any]]) -> List[tuple]:
    return [
        (
            r["plugin"]["name"],
            r["instance"]["name"] if r["instance"] else None,
            r["success"],
            r["error"]["message"] if r["error"] else None,
        )
        for r in results
    ]


def in_process(scenario: str) -> List[tuple]:
    install(scenario)
    context = pyblish.util.publish()
    return [
        (
            r["plugin"].__name__,
            r["instance"].name if r["instance"] is not None else None,
            r["success"],
            str(r["error"]) if r["error"] else None,
        )
        for r in context.data["results"]
    ]


def without_meta(context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    assert context is not None
    return {key: value for key, value in context.items() if key != "meta"}


@pytest.mark.parametrize("scenario", ["basic", "failing"])
def test_publish_yields_what_pyblish_util_gives_and_mirrors_the_context(host, scenario):
    expected = in_process(scenario)
    install(scenario)
    publisher = Publisher(host)
    seen = []
    for result in publisher.publish():
        seen.append(result)
        assert publisher.processed == len(seen) <= publisher.estimate
    assert rows(seen) == expected == rows(publisher.results)
    # The copy built from reported changes equals a fresh look at the host.
    assert without_meta(publisher.context) == without_meta(host.context())
    names = [instance["name"] for instance in publisher.instances()]
    if scenario == "basic":
        assert names == ["sphere", "cube"]  # the rig removed, the rest reordered
        assert publisher.instances()[0]["data"]["integrated"] is True
        assert publisher.stopped is None and not publisher.failed
    else:
        assert names == ["cube", "sphere", "rig"]
        assert publisher.stopped == "failed validation"
        (failed,) = publisher.failed
        assert failed["instance"]["name"] == "sphere"
    summary = publisher.summary()
    assert summary["pairs"] == len(expected)
    assert summary["failed"] == (0 if scenario == "basic" else 1)


def test_repair_then_publish_the_rest(host):
    install("failing")
    publisher = Publisher(host)
    list(publisher.publish())
    (failed,) = publisher.failed
    plugin = publisher.plugin(failed["plugin"]["id"])
    assert plugin["hasRepair"]
    repaired = publisher.repair(plugin, failed["instance"]["id"])
    assert repaired["success"]
    assert repaired["records"][0]["message"] == "renamed to sphere_GEO"
    assert publisher.instance(failed["instance"]["id"])["data"]["subset"] == "sphere_GEO"
    again = list(publisher.run(collect=False))
    assert all(result["success"] for result in again)
    assert {r["plugin"]["name"] for r in again} >= {"ValidateNames", "ExtractFiles"}
    assert publisher.stopped is None


def test_actions_by_their_on_rule_and_run_remotely(host):
    install("failing")
    publisher = Publisher(host)
    publisher.reset()
    validate = next(p for p in publisher.plugins if p["name"] == "ValidateNames")
    assert [a["name"] for a in publisher.actions(validate)] == ["AlwaysAvailable"]
    list(publisher.run())
    available = publisher.actions(validate["id"])
    assert [a["name"] for a in available] == ["SelectInvalid", "AlwaysAvailable"]
    result = publisher.run_action(validate, available[0])
    assert result["success"] and result["action"] == available[0]["id"]
    assert result["records"][0]["message"] == "selected sphere"
    assert publisher.context is not None
    assert publisher.context["data"]["selected"] == ["sphere"]


def test_toggles_reach_the_host(host):
    install("basic")
    publisher = Publisher(host)
    collected = list(publisher.collect())
    assert [r["plugin"]["name"] for r in collected] == ["CollectModels"] + ["CollectFrames"] * 2
    cube = next(i for i in publisher.instances() if i["name"] == "cube")
    publisher.toggle_instance(cube, False)
    publisher.toggle_plugin(
        next(p for p in publisher.plugins if p["name"] == "ValidateScene"), False
    )
    published = list(publisher.run(collect=False))
    assert published and not [r for r in published if r["instance"] and r["instance"] == cube]
    assert "ValidateScene" not in {r["plugin"]["name"] for r in published}
    assert publisher.instance(cube["id"])["data"]["publish"] is False


def test_leaving_early_cancels_the_publish_in_the_host(host):
    install("basic")
    for _ in publish(host):
        break
    stats = host.stats()
    assert stats["session"] is None and stats["requests"]["cancel"] == 1


def test_batches_need_fewer_calls(host):
    install("basic")
    one = Publisher(host)
    single = rows(list(one.publish()))
    calls_single = host.stats()["requests"]["next"]
    batched = Publisher(host, limit=5)
    assert rows(list(batched.publish())) == single
    calls_batched = host.stats()["requests"]["next"] - calls_single
    assert calls_single == len(single) + 1
    assert calls_batched == len(single) // 5 + 1


def test_a_timeout_applies_to_processing_calls(tmp_path, monkeypatch):
    release = threading.Event()

    class Blocker(pyblish.api.ContextPlugin):
        order = pyblish.api.CollectorOrder

        def process(self, context):
            release.wait(10)

    monkeypatch.setattr(Publisher, "_CANCEL_TIMEOUT", 0.05)
    with host_adapter.serve(
        PyblishService(find_plugins=lambda: [Blocker]),
        ui=ipc_endpoint(tmp_path, "nobody"),
        heartbeat_interval=0.1,
    ) as adapter:
        with broker.connect(adapter.endpoint, timeout=10) as proxy:
            assert Publisher(proxy)._worker is proxy
            publisher = Publisher(proxy, timeout=0.2)
            try:
                with pytest.raises(broker.CallTimeout, match="next"):
                    list(publisher.publish())
            finally:
                release.set()
            # The host ran the cancel once the blocked pair was over.
            assert proxy.stats()["requests"]["cancel"] == 1
            assert proxy.stats()["session"] is None


@pytest.mark.parametrize(
    "on, results, expected",
    [
        ("all", [], True),
        ("notProcessed", [], True),
        ("notProcessed", ["ok"], False),
        ("processed", ["ok"], True),
        ("succeeded", ["ok"], True),
        ("succeeded", ["error"], False),
        ("failed", ["ok", "error"], True),
        ("failed", ["ok"], False),
        ("warning", ["warning"], True),
        ("warning", ["warning", "error"], False),
        ("failedOrWarning", ["warning"], True),
        ("failedOrWarning", ["ok"], False),
        ("nonsense", [], False),
    ],
)
def test_action_applies(on, results, expected):
    def result(kind: str) -> Dict[str, Any]:
        return {
            "error": {"message": "x"} if kind == "error" else None,
            "records": [{"levelno": 30 if kind == "warning" else 20}],
        }

    action = {"type": "action", "active": True, "on": on}
    assert action_applies(action, [result(kind) for kind in results]) is expected
    assert action_applies(dict(action, active=False), []) is False
    assert action_applies(dict(action, type="separator"), []) is False
