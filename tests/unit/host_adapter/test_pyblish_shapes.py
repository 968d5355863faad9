"""The conversion rule and the maps the Pyblish service sends."""

from __future__ import annotations

import collections
import decimal
import enum
import logging
import numbers
import sys

import msgpack
import pytest

pytest.importorskip("pyblish")

import pyblish.api  # noqa: E402
import pyblish.plugin  # noqa: E402

from host_adapter.pyblish import shapes  # noqa: E402
from host_adapter.pyblish.shapes import to_wire  # noqa: E402
from tests.helpers import pyblish_plugins  # noqa: E402


class Color(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class Numpyish:
    """Registered as Integral, like numpy's integer scalars."""

    def __int__(self) -> int:
        return 7


numbers.Integral.register(Numpyish)


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (True, True),
        ("é", "é"),
        (b"\x00", b"\x00"),
        (1.5, 1.5),
        (-(2**63), -(2**63)),
        (2**64 - 1, 2**64 - 1),
        (2**64, str(2**64)),
        (-(2**63) - 1, str(-(2**63) - 1)),
        ((1, 2), [1, 2]),
        ({"b", "a", "c"}, ["a", "b", "c"]),
        (frozenset({3, 1}), [1, 3]),
        (collections.deque([1]), [1]),
        (collections.OrderedDict([("z", 1), ("a", (2,))]), {"z": 1, "a": [2]}),
        ({1: "one", (2, 3): "pair", None: 0}, {"1": "one", "(2, 3)": "pair", "None": 0}),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"cd"), b"cd"),
        (Color.RED, "red"),
        (Level.HIGH, 3),
        (Numpyish(), 7),
        (decimal.Decimal("1.5"), "Decimal('1.5')"),
        (object, "<class 'object'>"),
    ],
)
def test_conversion_rule(value, expected):
    converted = to_wire(value)
    assert converted == expected
    assert type(converted) is type(expected)
    msgpack.packb(converted)  # plain data: no default= hook needed


def test_mixed_sets_keep_their_order_and_nested_values_convert():
    assert sorted(to_wire({1, "a"}), key=str) == [1, "a"]
    assert to_wire({"k": [{"s": {2, 1}}]}) == {"k": [{"s": [1, 2]}]}


def test_cycles_depth_and_broken_reprs_never_fail():
    looped: list = []
    looped.append(looped)
    converted = to_wire(looped)
    msgpack.packb(converted)
    depth = 0
    node = converted
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert depth == shapes.MAX_DEPTH and node == "[[...]]"
    assert to_wire(BadRepr()) == f"<unrepresentable {__name__}.BadRepr>"
    long = to_wire(type("Long", (), {"__repr__": lambda self: "x" * 5000})())
    assert len(long) == shapes.MAX_REPR and long.endswith("...")


def test_pyblish_objects_inside_data_become_their_repr():
    context = pyblish.api.Context()
    instance = context.create_instance("cube")
    instance.data["context"] = context
    instance.data["self"] = instance
    context.data["first"] = instance
    context.data["results"] = [{"context": context}]
    data = shapes.entity_data(instance)
    assert data["self"] == 'pyblish.plugin.Instance("cube")'
    assert data["context"].startswith("[pyblish.plugin.Instance")
    assert shapes.entity_data(context) == {"first": 'pyblish.plugin.Instance("cube")'}


def test_instance_and_context_shapes():
    context = pyblish.api.Context()
    instance = context.create_instance("cube", family="model", tags={"x"})
    instance.append("|cube_GEO")
    formatted = shapes.format_context(context)
    assert formatted == {
        "name": "Context",
        "id": context.id,
        "data": {},
        "children": [
            {
                "name": "cube",
                "id": instance.id,
                "data": {"family": "model", "name": "cube", "tags": ["x"]},
                "children": ["|cube_GEO"],
            }
        ],
    }


def test_plugin_shape():
    plugin = pyblish_plugins.ValidateNames
    formatted = shapes.format_plugin(plugin)
    assert formatted["id"] == plugin.id and formatted["name"] == "ValidateNames"
    assert formatted["label"] == "Validate names"
    assert formatted["order"] == 1 and formatted["type"] == "Validator"
    assert formatted["families"] == ["model", "rig"] and formatted["hosts"] == ["*"]
    assert formatted["targets"] == ["default"] and formatted["version"] == [0, 0, 0]
    assert formatted["doc"] == "Subsets end in _GEO (models) or _RIG (rigs)."
    assert formatted["instanceEnabled"] and not formatted["contextEnabled"]
    assert formatted["hasRepair"] is True
    assert formatted["process"] == {"args": ["instance"]}
    assert formatted["repair"] == {"args": ["instance"]}
    assert formatted["path"] == sys.modules[plugin.__module__].__file__
    category, select, always = formatted["actions"]
    assert category["type"] == "category" and category["label"] == "Fix"
    assert select["name"] == "SelectInvalid" and select["on"] == "failed"
    assert select["description"] == "Select the instances that failed."
    assert always["on"] == "all" and always["description"] is None
    assert always["label"] == "Always" and always["icon"] == ""
    scene = shapes.format_plugin(pyblish_plugins.ValidateScene)
    assert scene["hasRepair"] is False and scene["contextEnabled"]
    assert shapes.format_plugin(pyblish_plugins.ValidateDisabled)["doc"] is None
    assert shapes.plugin_type(pyblish_plugins.IntegrateRemoveRig) == "Integrator"
    msgpack.packb(formatted)


def test_plugin_and_action_maps_carry_the_names_pyblish_qml_reads():
    formatted = shapes.format_plugin(pyblish_plugins.ValidateNames)
    assert (formatted["__instanceEnabled__"], formatted["__contextEnabled__"]) == (True, False)
    assert formatted["__pre11__"] is formatted["pre11"] is False
    scene = shapes.format_plugin(pyblish_plugins.ValidateScene)
    assert (scene["__instanceEnabled__"], scene["__contextEnabled__"]) == (False, True)
    category, select, _ = formatted["actions"]
    assert (category["__type__"], select["__type__"]) == ("category", "action")
    assert select["__error__"] is None

    class Broken(pyblish.api.Action):
        icon = "wrench"
        on = "sometimes"  # pyblish records an error for an unknown "on"

    broken = shapes.format_action(Broken)
    assert broken["__error__"] == broken["error"] and "sometimes" in broken["__error__"]
    assert broken["icon"] == "wrench" and broken["label"] == "Broken"


def test_records_render_their_message_and_survive_bad_arguments():
    record = logging.LogRecord("pyblish.X", logging.INFO, "/p.py", 3, "a %s b", ("x",), None)
    bad = logging.LogRecord("pyblish.X", logging.WARNING, "/p.py", 4, "%d", ("x",), None)
    try:
        raise ValueError("inside")
    except ValueError:
        failing = logging.LogRecord(
            "pyblish.X", logging.ERROR, "/p.py", 5, "oops", (), sys.exc_info()
        )
    assert shapes.format_record(record)["message"] == "a x b"
    assert shapes.format_record(record)["levelname"] == "INFO"
    assert shapes.format_record(bad)["message"] == "'%d'"
    assert "ValueError: inside" in shapes.format_record(failing)["exc_text"]


def test_dates_in_data_are_iso_8601_text_as_in_every_call():
    import datetime

    from broker.wire.codec import Codec

    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    data = {
        "published": when,
        "day": when.date(),
        "at": when.time(),
        "naive": datetime.datetime(2024, 5, 1),
    }
    converted = to_wire(data)
    assert converted == {
        "published": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "at": "12:30:00",
        "naive": "2024-05-01T00:00:00",
    }
    codec = Codec()
    assert codec.decode(codec.encode_response(1, data)).result == converted  # one rule
