"""Messages in memory: error maps and the error map of an exception."""

from __future__ import annotations

import pytest

from broker.wire.messages import ERROR_TYPES, error_map, exception_error_map


def test_error_map_fields_and_rejects_unknown_type() -> None:
    assert error_map("Timeout", "slow", "x.Y", "tb") == {
        "type": "Timeout",
        "message": "slow",
        "exception": "x.Y",
        "traceback": "tb",
    }
    for wire_type in ERROR_TYPES:
        assert error_map(wire_type, "m")["type"] == wire_type
    with pytest.raises(ValueError, match="Bogus"):
        error_map("Bogus", "m")


def test_exception_error_map() -> None:
    exc = _caught()
    error = exception_error_map(exc)
    assert error["type"] == "Exception"
    assert error["exception"] == "builtins.ValueError"
    assert error["message"] == "bad value 42"
    assert isinstance(error["traceback"], str)
    assert "_inner_raiser" in error["traceback"]
    assert "in _caught" in error["traceback"]
    assert "ValueError: bad value 42" in error["traceback"]
    assert exception_error_map(exc, type="InvalidParams")["type"] == "InvalidParams"


def test_exception_error_map_skip_frames() -> None:
    exc = _caught()
    one = exception_error_map(exc, skip_frames=1)["traceback"]
    assert "in _caught" not in one
    assert "in _outer_caller" in one
    assert "in _inner_raiser" in one
    two = exception_error_map(exc, skip_frames=2)["traceback"]
    assert "in _outer_caller" not in two
    assert "in _inner_raiser" in two
    # More frames than exist: the innermost one is always kept.
    many = exception_error_map(exc, skip_frames=50)["traceback"]
    assert "in _inner_raiser" in many
    assert "ValueError: bad value 42" in many


def test_exception_error_map_of_custom_exception_class() -> None:
    class Oops(RuntimeError):
        pass

    error = exception_error_map(Oops("boom"))
    assert error["exception"] == f"{__name__}.{Oops.__qualname__}"
    assert error["exception"].endswith(".<locals>.Oops")
    assert error["message"] == "boom"


def _inner_raiser() -> None:
    raise ValueError("bad value 42")


def _outer_caller() -> None:
    _inner_raiser()


def _caught() -> BaseException:
    try:
        _outer_caller()
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")
