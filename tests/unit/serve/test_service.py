"""Building a service's dispatch table from objects, dicts, lists and modules."""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any, Callable, List

import pytest

from broker.serve.service import Service, as_service, check_method_name


def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    The second defaults to two.
    """
    return a + b


def shout(text: str) -> str:
    return text.upper()


class Tool:
    """An object whose public methods are a service."""

    LIMIT = 10

    class Nested:
        def method(self) -> None:  # pragma: no cover - never exposed
            pass

    def __init__(self) -> None:
        self.property_reads = 0
        self.data = [1, 2]

    def greet(self, name: str) -> str:
        """Say hello."""
        return f"hello {name}"

    def _private(self) -> str:  # pragma: no cover - never exposed
        return "secret"

    def __dunder__(self) -> str:  # pragma: no cover - never exposed
        return "dunder"

    @staticmethod
    def static(x: int) -> int:
        return x * 2

    @classmethod
    def klass(cls) -> str:
        return cls.__name__

    @property
    def counted(self) -> Callable[[], str]:
        self.property_reads += 1
        return lambda: "from property"

    @property
    def exploding(self) -> Callable[[], str]:
        raise AssertionError("a property was evaluated")


# -- from an object --------------------------------------------------------------


def test_as_service_from_object_exposes_public_methods_only() -> None:
    tool = Tool()
    service = as_service(tool)
    assert service.names() == ["greet", "klass", "static"]
    assert service.name == "Tool"
    greet = service.get("greet")
    assert greet is not None and greet("ann") == "hello ann"
    static = service.get("static")
    assert static is not None and static(4) == 8
    klass = service.get("klass")
    assert klass is not None and klass() == "Tool"


def test_as_service_never_evaluates_properties() -> None:
    tool = Tool()
    service = as_service(tool)  # the exploding property would raise AssertionError
    assert tool.property_reads == 0
    assert "counted" not in service
    assert "exploding" not in service
    assert service.get("counted") is None


def test_as_service_does_not_expose_classes_private_names_or_data() -> None:
    service = as_service(Tool())
    for name in ("Nested", "LIMIT", "data", "property_reads", "_private", "__dunder__", "__init__"):
        assert name not in service, name
        assert service.get(name) is None, name


def test_as_service_exposes_callable_instance_attributes_but_not_class_valued_ones() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.run = lambda: "ran"  # type: ignore[attr-defined]
    holder.kind = dict  # type: ignore[attr-defined]
    service = as_service(holder, name="custom")
    assert service.names() == ["run"]
    assert service.name == "custom"


def test_as_service_never_evaluates_cached_properties() -> None:
    class Lazy:
        reads = 0

        @functools.cached_property
        def heavy(self) -> int:
            type(self).reads += 1
            return 1

        def work(self) -> str:
            return "worked"

    service = as_service(Lazy())
    assert service.names() == ["work"]
    assert Lazy.reads == 0


# -- from a dict, a list, None, a Service ----------------------------------------------


def test_as_service_from_dict() -> None:
    service = as_service({"plus": add, "loud": shout}, name="d")
    assert service.names() == ["loud", "plus"]
    assert len(service) == 2
    assert "plus" in service
    assert service.get("plus") is add
    assert service.name == "d"


def test_as_service_from_list_and_tuple_of_functions() -> None:
    service = as_service([add, shout])
    assert service.names() == ["add", "shout"]
    assert service.get("shout") is shout
    assert as_service((add,)).names() == ["add"]


def test_as_service_from_list_without_names_is_rejected() -> None:
    with pytest.raises(TypeError, match="__name__"):
        as_service([functools.partial(add, 1)])
    with pytest.raises(ValueError):
        as_service([lambda: None])  # "<lambda>" is not an identifier


def test_as_service_none_is_empty() -> None:
    service = as_service(None)
    assert len(service) == 0
    assert service.names() == []
    assert service.describe() == []
    assert service.get("anything") is None


def test_as_service_of_a_service_returns_it() -> None:
    service = Service({"add": add})
    assert as_service(service) is service


# -- from a module -------------------------------------------------------------------------


def make_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(source, module.__dict__)  # noqa: S102 - test fixture code
    return module


def test_as_service_from_module_with_all() -> None:
    module = make_module(
        "fake_tools_all",
        "__all__ = ['one', 'two', 'CONSTANT']\n"
        "CONSTANT = 3\n"
        "def one():\n    return 1\n"
        "def two():\n    return 2\n"
        "def three():\n    return 3\n",
    )
    service = as_service(module)
    assert service.names() == ["one", "two"]
    assert service.name == "fake_tools_all"
    one = service.get("one")
    assert one is not None and one() == 1


def test_as_service_from_module_without_all_skips_imports() -> None:
    module = make_module(
        "fake_tools_plain",
        "from os.path import join\n"
        "import json\n"
        "VALUE = 1\n"
        "def mine(x):\n    return x\n"
        "def _hidden():\n    return 0\n"
        "class Klass:\n    pass\n",
    )
    assert callable(module.join)
    service = as_service(module, name="plain")
    assert service.names() == ["mine"]
    assert "join" not in service
    assert "json" not in service
    assert service.name == "plain"


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.b", "_x", "__init__", "1x", "class", "", "a b", "rpc.ping"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        as_service({name: add})
    with pytest.raises(ValueError):
        check_method_name(name)


def test_valid_names_pass() -> None:
    assert check_method_name("do_it") == "do_it"
    assert check_method_name("Run2") == "Run2"


def test_a_method_named_rpc_is_refused_because_proxy_rpc_is_the_proxy_api() -> None:
    class WithRpc:
        def rpc(self) -> str:  # pragma: no cover - never exposed
            return "unreachable as proxy.rpc"

    for service in (WithRpc(), {"rpc": add}, [WithRpc().rpc]):
        with pytest.raises(ValueError, match="rpc is reserved"):
            as_service(service)
    assert as_service({"rpc_call": add, "call": add, "close": add}).names() == [
        "call",
        "close",
        "rpc_call",
    ]


@pytest.mark.parametrize("factory", ["serve", "listen", "attach"])
def test_a_str_where_the_service_goes_is_refused_by_every_factory(factory: str) -> None:
    from broker.serve.service import check_service

    with pytest.raises(TypeError, match=f"pass the endpoint by name: {factory}"):
        check_service("tcp://127.0.0.1:*", factory)  # a str: never bound
    check_service(None, factory)
    check_service({"add": add}, factory)


def test_non_callable_dict_value_is_rejected() -> None:
    with pytest.raises(TypeError, match="not callable"):
        as_service({"value": 5})


@pytest.mark.parametrize("name", ["nope", "__class__", "a.b", "__init__", "", "greet.__globals__"])
def test_get_only_exact_table_hits(name: str) -> None:
    service = as_service(Tool())
    assert service.get(name) is None
    assert name not in service


# -- describe and arguments_fit ------------------------------------------------------------------


def test_describe_lists_name_signature_doc_sorted() -> None:
    def zeta(*args: Any, **kwargs: Any) -> None:
        pass

    def alpha(a, b=2):  # type: ignore[no-untyped-def]
        """First line.

        More."""

    service = as_service({"zeta": zeta, "alpha": alpha, "greet": Tool().greet})
    description = service.describe()
    assert [entry["name"] for entry in description] == ["alpha", "greet", "zeta"]
    assert description[0] == {
        "name": "alpha",
        "signature": "(a, b=2)",
        "doc": "First line.\n\nMore.",
    }
    assert description[1]["signature"].startswith("(name")  # bound: no self
    assert "self" not in description[1]["signature"]
    assert description[1]["doc"] == "Say hello."
    assert description[2]["signature"].startswith("(*args")
    assert "**kwargs" in description[2]["signature"]
    assert description[2]["doc"] == ""
    assert set(description[0]) == {"name", "signature", "doc"}


def test_describe_builtin_without_signature() -> None:
    service = as_service({"biggest": max})
    assert service.describe() == [
        {"name": "biggest", "signature": "(...)", "doc": inspect.getdoc(max) or ""}
    ]


def _builtin_without_signature() -> Callable[..., Any]:
    for candidate in (max, min, getattr, next, iter):
        try:
            inspect.signature(candidate)
        except (TypeError, ValueError):
            return candidate
    raise AssertionError("every candidate builtin has a signature on this Python")


@pytest.mark.parametrize(
    ("args", "kwargs", "fits"),
    [
        ([1], {}, True),
        ([1, 3], {}, True),
        ([1], {"b": 3}, True),
        ([], {"a": 1}, True),
        ([], {}, False),
        ([1, 2, 3], {}, False),
        ([1], {"c": 1}, False),
        ([1], {"a": 1}, False),
    ],
)
def test_arguments_fit(args: List[Any], kwargs: dict, fits: bool) -> None:
    def f(a, b=2):  # type: ignore[no-untyped-def]
        return a

    service = as_service({"f": f})
    assert service.arguments_fit("f", args, kwargs) is fits


def test_arguments_fit_bound_method_excludes_self() -> None:
    service = as_service(Tool())
    assert service.arguments_fit("greet", ["ann"], {}) is True
    assert service.arguments_fit("greet", [], {}) is False
    assert service.arguments_fit("greet", ["a", "b"], {}) is False


def test_arguments_fit_is_true_for_builtin_without_signature() -> None:
    builtin = _builtin_without_signature()
    service = as_service({"builtin": builtin})
    assert service.arguments_fit("builtin", [], {}) is True
    assert service.arguments_fit("builtin", [1, 2, 3], {"x": 1}) is True


def test_module_all_skips_classes_and_rejects_missing_names() -> None:
    import types

    module = types.ModuleType("scene")
    module.ls = lambda: []  # type: ignore[attr-defined]
    module.Node = type("Node", (), {})  # type: ignore[attr-defined]
    module.__all__ = ["ls", "Node"]  # type: ignore[attr-defined]
    assert as_service(module).names() == ["ls"]
    module.__all__ = ["ls", "gone"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="gone"):
        as_service(module)
