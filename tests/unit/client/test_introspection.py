"""What dir() and help() show of a proxy, in memory: signatures and descriptions."""

from __future__ import annotations

import pytest

from broker.client.introspection import RemoteMethod, methods_by_name, parse_signature


@pytest.mark.parametrize(
    "text",
    ["()", "(a, b)", "(a, b=2, *args, c: int = 3, **kw) -> str", "(a, /, b, *, c='x')"],
)
def test_signature_text_round_trips(text):
    assert str(parse_signature(text)) == text


def test_signature_text_is_never_evaluated():
    assert parse_signature("(a=__import__('os').system('false'))") is not None
    assert parse_signature("(not valid") is None


def test_a_foreign_description_with_odd_entries_keeps_the_good_ones():
    description = {
        "methods": [
            {"name": "add", "signature": "(a, b)", "doc": "Add."},
            {"name": 7},
            "not a map",
            {"signature": "()"},
        ]
    }
    assert list(methods_by_name(description)) == ["add"]
    assert methods_by_name(["not", "a", "map"]) == {}
    assert methods_by_name({"methods": None}) == {}


def test_a_remote_method_calls_through_its_owner_and_reads_its_description():
    calls = []
    described = {"add": {"name": "add", "signature": "(a, b=2)", "doc": "Add two numbers."}}
    method = RemoteMethod(
        lambda name, *args, **kwargs: calls.append((name, args, kwargs)) or "done",
        "add",
        lambda name: described.get(name, {}),
        "<owner>",
    )
    assert method(1, b=3) == "done"
    assert calls == [("add", (1,), {"b": 3})]
    assert method.__doc__ == "Add two numbers."
    assert str(method.__signature__) == "(a, b=2)"
    assert repr(method) == "<remote method add of '<owner>'>"
    unknown = RemoteMethod(lambda *a, **k: None, "nope", lambda name: {}, "<owner>")
    assert unknown.__doc__ is None and unknown.__signature__ is None
