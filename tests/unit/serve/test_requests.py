"""What a server answers, in memory: refusals, errors, rpc.*, and running a call."""

from __future__ import annotations

from typing import Any, List

import msgpack

from broker.serve.requests import Job, Reply, Requests, identity_handlers
from broker.serve.service import as_service
from broker.wire.codec import Codec

ENVELOPE = [b"peer", b""]


def service() -> Any:
    def add(a, b):
        return a + b

    def boom():
        raise ValueError("boom")

    def inner_type_error(x):
        return len(x)  # TypeError from inside, with the right arguments

    return as_service(
        {
            "add": add,
            "boom": boom,
            "inner_type_error": inner_type_error,
            "huge": lambda: "x" * 2000,
            "odd": lambda: object(),
        }
    )


def requests(codec: Codec = None, dispatcher: Any = None) -> Requests:
    svc = service()
    handlers = identity_handlers("maya", "maya-1", svc, lambda: "idle")
    handlers["rpc.strict"] = lambda value: value + 1
    return Requests(svc, codec or Codec(), handlers, dispatcher)


def call(handler: Requests, method: str, *args: Any, codec: Codec = None) -> List[Any]:
    frames = ENVELOPE + (codec or Codec()).encode_request(3, method, list(args))
    what = handler.handle(frames)
    return handler.run(what) if isinstance(what, Job) else what.frames


def response(frames: List[Any]) -> list:
    assert frames[:2] == ENVELOPE
    return msgpack.unpackb(frames[2])


def test_a_call_is_a_job_and_running_it_gives_the_reply() -> None:
    handler = requests()
    what = handler.handle(ENVELOPE + Codec().encode_request(3, "add", [5, 10]))
    assert isinstance(what, Job) and what.request.method == "add"
    assert response(handler.run(what)) == [1, 3, None, 15]


def test_the_dispatcher_runs_the_call() -> None:
    ran = []

    def dispatch(func):
        ran.append(func)
        return func()

    assert response(call(requests(dispatcher=dispatch), "add", 1, 2))[3] == 3
    assert len(ran) == 1


def test_errors_of_calls() -> None:
    handler = requests()
    boom = response(call(handler, "boom"))[2]
    assert (boom["type"], boom["exception"], boom["message"]) == (
        "Exception",
        "builtins.ValueError",
        "boom",
    )
    assert response(call(handler, "add", 1))[2]["type"] == "InvalidParams"
    assert response(call(handler, "inner_type_error", 5))[2]["type"] == "Exception"
    assert response(call(handler, "nope"))[2]["type"] == "MethodNotFound"
    odd = response(call(handler, "odd"))[2]
    assert odd["type"] == "Exception" and "could not be sent" in odd["message"]
    small = requests(Codec(max_message_size=1000))
    assert response(call(small, "huge"))[2]["type"] == "TooLarge"


def test_reserved_methods_are_answered_at_once() -> None:
    handler = requests()
    what = handler.handle(ENVELOPE + Codec().encode_request(3, "rpc.ping", []))
    assert isinstance(what, Reply)
    ping = response(what.frames)[3]
    assert (ping["name"], ping["id"], ping["state"], ping["protocol"]) == (
        "maya",
        "maya-1",
        "idle",
        1,
    )
    described = response(call(handler, "rpc.describe"))[3]
    assert [method["name"] for method in described["methods"]] == sorted(service().names())
    assert response(call(handler, "rpc.strict", 1))[3] == 2
    assert response(call(handler, "rpc.strict"))[2]["type"] == "InvalidParams"
    assert response(call(handler, "rpc.strict", "x"))[2]["type"] == "InvalidParams"
    assert response(call(handler, "rpc.nope"))[2]["type"] == "MethodNotFound"


def test_what_is_not_a_request_is_answered_with_a_protocol_error() -> None:
    handler = requests()
    answer = handler.handle(ENVELOPE + Codec().encode_response(4, "not a request"))
    assert response(answer.frames)[:2] == [1, 4]
    assert response(answer.frames)[2]["type"] == "ProtocolError"
    garbage = handler.handle(ENVELOPE + [b"\xc1"])
    assert response(garbage.frames)[2]["type"] == "ProtocolError"
