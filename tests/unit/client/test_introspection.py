"""What dir(), help() and describe show of an endpoint: signatures and descriptions,
in memory and from a foreign (raw) server."""

from __future__ import annotations

import pytest

import broker
from broker.client.introspection import (
    RemoteMethod,
    describe_lines,
    methods_by_name,
    parse_signature,
)
from tests.helpers.rawserver import RawServer

#: What a foreign endpoint might answer to rpc.describe: odd types everywhere.
ODD = {
    "name": 7,
    "methods": [
        {"name": "add", "signature": "(a, b)", "doc": "Add.\nMore."},
        {"name": "weird", "signature": None, "doc": 42},
        {"name": "listed", "signature": ["(x)"], "doc": ["not", "text"]},
        {"name": ["not", "a", "name"], "doc": {"a": 1}},
        {"doc": b"bytes doc"},
        "not a map",
        {"name": "close", "signature": "()", "doc": ""},
    ],
}


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


def test_describe_lines_of_odd_types_print_instead_of_crashing():
    lines = describe_lines(ODD)
    assert lines[0] == "7 (protocol ?)"
    assert lines[1] == "  add(a, b)  - Add."
    assert lines[2] == "  weird  - 42"
    assert lines[3] == "  listed['(x)']  - ['not', 'text']"
    assert lines[4] == "  ['not', 'a', 'name']  - {'a': 1}"
    assert lines[5] == "  ?  - b'bytes doc'"
    assert lines[6] == "  not a map"
    assert lines[7] == "  close()"
    assert describe_lines(["not", "a", "map"]) == ["not a description: ['not', 'a', 'map']"]
    assert describe_lines({"name": "x", "protocol": 1, "methods": "oops"}) == [
        "x (protocol 1)",
        "  methods: oops",
    ]


def test_describe_warns_about_methods_the_proxy_hides():
    description = {
        "name": "maya",
        "protocol": 1,
        "methods": [{"name": name, "signature": "()", "doc": ""} for name in ("call", "ls")],
    }
    (warning,) = [line for line in describe_lines(description) if line.startswith("warning")]
    assert warning == (
        "warning: call is hidden by the proxy's own call: reach it with proxy.call('call')"
    )


def test_describe_and_help_of_a_foreign_endpoint_with_odd_types(capsys):
    import pydoc

    from broker.relay.cli import main

    def handler(server, envelope, request):
        if request.method == "rpc.describe":
            server.reply(envelope, request.msgid, ODD)
        else:
            server.reply(envelope, request.msgid, request.method)

    with RawServer(handler) as raw:
        assert main(["describe", raw.endpoint, "--no-auth", "--timeout", "5"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[:3] == ["7 (protocol ?)", "  add(a, b)  - Add.", "  weird  - 42"]
        assert out[-1] == (
            "warning: close is hidden by the proxy's own close: reach it with proxy.call('close')"
        )
        with broker.connect(raw.endpoint, timeout=5, auth=False) as proxy:
            assert "weird" in dir(proxy) and "listed" in dir(proxy)
            assert proxy.weird.__doc__ is None and proxy.listed.__signature__ is None
            assert "weird" in pydoc.render_doc(proxy.weird, renderer=pydoc.plaintext)
            assert proxy.weird() == "weird"
