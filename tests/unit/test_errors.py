"""The exception tree and error maps received from peers."""

from __future__ import annotations

from typing import Type

import pytest

from broker import errors
from broker.errors import (
    CallTimeout,
    Closed,
    EndpointInUse,
    HostLost,
    HostNotFound,
    InvalidParams,
    MessageTooLarge,
    MethodNotFound,
    ProtocolError,
    RemoteError,
    RpcError,
    Unauthorized,
    from_error_map,
)
from broker.wire.messages import ERROR_TYPES, error_map


@pytest.mark.parametrize(
    ("wire_type", "cls"),
    [
        ("Timeout", CallTimeout),
        ("TooLarge", MessageTooLarge),
        ("HostLost", HostLost),
        ("HostNotFound", HostNotFound),
        ("Unauthorized", Unauthorized),
        ("ProtocolError", ProtocolError),
        ("MethodNotFound", MethodNotFound),
        ("InvalidParams", InvalidParams),
        ("Exception", RemoteError),
        ("SomethingNew", RemoteError),
    ],
)
def test_from_error_map_maps_each_wire_type(wire_type: str, cls: Type[RpcError]) -> None:
    exc = from_error_map({"type": wire_type, "message": "the message"})
    assert type(exc) is cls
    assert "the message" in str(exc)


def test_every_protocol_error_type_has_a_class() -> None:
    for wire_type in ERROR_TYPES:
        exc = from_error_map(error_map(wire_type, "m"))
        assert isinstance(exc, RpcError)
        if wire_type != "Exception":
            assert type(exc) is not RemoteError, wire_type
            assert type(exc).wire_type == wire_type


def test_wire_types_of_classes() -> None:
    assert CallTimeout.wire_type == "Timeout"
    assert MessageTooLarge.wire_type == "TooLarge"
    assert MethodNotFound.wire_type == "MethodNotFound"
    assert RemoteError.wire_type == "Exception"


def test_remote_error_fields_from_map() -> None:
    exc = from_error_map(
        {
            "type": "Exception",
            "message": "division by zero",
            "exception": "builtins.ZeroDivisionError",
            "traceback": "Traceback (most recent call last):\n  File 'x.py', line 3, in f\n",
        },
        endpoint="ipc:///tmp/example-host",
        method="divide",
    )
    assert isinstance(exc, RemoteError)
    assert exc.type == "Exception"
    assert exc.message == "division by zero"
    assert exc.exception == "builtins.ZeroDivisionError"
    assert exc.remote_traceback is not None and "line 3, in f" in exc.remote_traceback
    assert exc.endpoint == "ipc:///tmp/example-host"
    assert exc.method == "divide"
    text = str(exc)
    assert "builtins.ZeroDivisionError" in text
    assert "division by zero" in text
    assert "Remote traceback:" in text
    assert "line 3, in f" in text
    assert "divide" in text and "ipc:///tmp/example-host" in text


def test_remote_error_str_without_traceback_or_exception() -> None:
    exc = RemoteError("went wrong", type="InvalidParams")
    assert str(exc) == "InvalidParams: went wrong"
    exc = RemoteError("went wrong", exception="pkg.Boom")
    assert str(exc) == "pkg.Boom: went wrong"
    exc = RemoteError("went wrong", exception="pkg.Boom", remote_traceback="TB line\n\n")
    assert str(exc) == "pkg.Boom: went wrong\n\nRemote traceback:\nTB line"


def test_method_not_found_keeps_remote_fields() -> None:
    exc = from_error_map(
        {"type": "MethodNotFound", "message": "no method 'x'", "exception": None},
        method="x",
    )
    assert isinstance(exc, MethodNotFound)
    assert exc.type == "MethodNotFound"
    assert exc.message == "no method 'x'"
    assert exc.method == "x"
    assert exc.exception is None
    assert "no method 'x'" in str(exc)


def test_transport_error_message_names_method_and_endpoint() -> None:
    exc = from_error_map({"type": "Timeout", "message": "slow"}, endpoint="ipc://ui", method="m")
    assert isinstance(exc, CallTimeout)
    assert str(exc) == "slow (m at ipc://ui)"
    assert str(from_error_map({"type": "HostLost", "message": "gone"})) == "gone"


@pytest.mark.parametrize(
    "error",
    [
        {},
        {"type": None},
        {"message": None},
        {"type": "Exception"},
        {"message": "only a message"},
        {"type": "MethodNotFound"},
        {"type": "Timeout"},
        {"type": 5, "message": 6, "exception": 7, "traceback": 8},
    ],
)
def test_missing_or_odd_fields_are_tolerated(error: dict) -> None:
    exc = from_error_map(error)
    assert isinstance(exc, RpcError)
    assert isinstance(str(exc), str)


def test_missing_fields_defaults() -> None:
    exc = from_error_map({})
    assert type(exc) is RemoteError
    assert exc.type == "Exception"
    assert exc.message == ""
    assert exc.exception is None
    assert exc.remote_traceback is None
    odd = from_error_map({"type": 5, "message": 6, "exception": 7, "traceback": 8})
    assert type(odd) is RemoteError
    assert odd.type == "5" and odd.message == "6"
    assert odd.exception == "7" and odd.remote_traceback == "8"
    assert from_error_map({"message": "just this"}).message == "just this"


def test_class_hierarchy() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, RpcError), name
    assert issubclass(RpcError, Exception)
    assert issubclass(MethodNotFound, RemoteError)
    assert issubclass(InvalidParams, RemoteError)
    for cls in (
        CallTimeout,
        HostLost,
        HostNotFound,
        Unauthorized,
        ProtocolError,
        MessageTooLarge,
        EndpointInUse,
        Closed,
    ):
        assert issubclass(cls, RpcError)
        assert not issubclass(cls, RemoteError), cls
    assert not issubclass(RemoteError, CallTimeout)
    assert not isinstance(CallTimeout("x"), RemoteError)
