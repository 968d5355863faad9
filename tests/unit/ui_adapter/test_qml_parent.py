"""The host's requests to pyblish-qml's window, as its parent process writes them."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

pytest.importorskip("pyblish_qml")

from ui_adapter.qml.parent import PARENT_HEADER, WINDOW_METHODS, ParentChannel  # noqa: E402


def next_payload(channel: ParentChannel) -> Dict[str, Any]:
    """What pyblish-qml's Application.listen() reads from the line."""
    message = json.loads(channel.queue.get_nowait())
    assert message["header"] == PARENT_HEADER
    return message["payload"]  # type: ignore[no-any-return]


def test_every_window_method_queues_its_name_for_application_listen():
    channel = ParentChannel()
    service = channel.service()
    assert set(service) == {"show", "target", *WINDOW_METHODS}
    for name in WINDOW_METHODS:
        assert service[name]() is None
        assert next_payload(channel) == {"name": name, "args": [], "kwargs": {}}
    service["target"](["default", "farm"])
    assert next_payload(channel)["args"] == [["default", "farm"]]
    assert channel.queue.empty()


def test_show_fills_in_the_settings_a_host_leaves_out():
    from pyblish_qml import settings

    channel = ParentChannel()
    channel.show({"WindowTitle": "Pyblish (maya)", "autoPublish": True})
    (shown,) = next_payload(channel)["args"]
    assert shown["WindowTitle"] == "Pyblish (maya)" and shown["autoPublish"] is True
    # pyblish-qml's show() reads these three whatever the host sent.
    assert shown["WindowSize"] == list(settings.WindowSize)
    assert shown["WindowPosition"] == list(settings.WindowPosition)
    channel.show()
    assert next_payload(channel)["args"][0]["WindowTitle"] == settings.WindowTitle


@pytest.mark.parametrize(
    "settings, error",
    [
        ("big", TypeError),
        ({1: "x"}, TypeError),
        ({"WindowSize": [400]}, ValueError),
        ({"WindowPosition": [1.5, 2]}, ValueError),
        ({"WindowTitle": 3}, ValueError),
        ({"autoPublish": "yes"}, ValueError),
        ({"HiddenSections": "Collect"}, ValueError),
    ],
)
def test_bad_settings_are_refused_before_they_reach_the_window(settings, error):
    channel = ParentChannel()
    with pytest.raises(error):
        channel.show(settings)
    with pytest.raises(TypeError):
        channel.target("default")  # type: ignore[arg-type]
    assert channel.queue.empty()
