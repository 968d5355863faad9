"""What a pipeline TD sends and gets back: map keys, datetimes, big ints, deep
nesting, over real sockets (a host on ipc, a UI, the broker in its own process)."""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Dict, Iterator

import pytest

import broker
import host_adapter
import ui_adapter
from broker.wire.codec import MAX_DEPTH
from tests.conftest import ipc_endpoint, wait_until

INTERVAL = 0.1
FRAMES = {1001: "/shots/a.1001.exr", 1002: "/shots/a.1002.exr"}
UTC = datetime.timezone.utc


class Shots:
    """A host's service: what DCC code returns, and a count of the calls that ran."""

    def __init__(self) -> None:
        self.ran = 0

    def frames(self) -> Dict[int, str]:
        self.ran += 1
        return FRAMES

    def key_types(self, mapping: Dict[Any, Any]) -> list:
        self.ran += 1
        return sorted(type(key).__name__ for key in mapping)

    def echo(self, value: Any = None) -> Any:
        self.ran += 1
        return value

    def odd(self, kind: str) -> Any:
        self.ran += 1
        return {
            "float key": {1.5: "x"},
            "none key": {"ok": {None: 1}},
            "object": object(),
            "decimal": [decimal.Decimal("1.5")],
            "2**64": 2**64,
            "-2**63-1": {"frame": -(2**63) - 1},
            "dates": [
                datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
                datetime.datetime(2024, 5, 1, 12, 30, 15, 250000),
                datetime.date(2024, 5, 1),
                datetime.time(23, 59, 1),
            ],
        }[kind]

    def count(self) -> int:
        return self.ran


@pytest.fixture
def shots(tmp_path) -> Iterator[Any]:
    """(service, proxy): a host served on an ipc path, and a client connected to it."""
    service = Shots()
    with (
        host_adapter.serve(
            service,
            name="maya",
            ui=ipc_endpoint(tmp_path, "no-ui"),
            endpoint=ipc_endpoint(tmp_path, "host"),
            heartbeat_interval=INTERVAL,
        ) as adapter,
        broker.connect(adapter.endpoint, timeout=5) as proxy,
    ):
        yield service, proxy


def nested(depth: int) -> Any:
    """``depth`` lists, one inside the other, around a None."""
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


# -- map keys ------------------------------------------------------------------------------


def test_a_host_returns_a_dict_keyed_by_frame_numbers(shots):
    _, proxy = shots
    frames = proxy.frames()
    assert frames == FRAMES and all(type(key) is int for key in frames)


def test_a_client_sends_int_and_bytes_keys_as_arguments(shots):
    _, proxy = shots
    assert proxy.key_types({1001: "a", b"\x00id": "b", "name": "c"}) == ["bytes", "int", "str"]
    assert proxy.echo(value={-5: {2**64 - 1: [b"k"]}}) == {-5: {2**64 - 1: [b"k"]}}  # kwargs
    shot = {frame: f"/shots/a.{frame}.exr" for frame in range(1001, 6001)}  # a body of 100 KB
    assert proxy.echo(shot) == shot


def test_other_keys_are_refused_by_the_receiver_naming_type_and_place(shots):
    service, proxy = shots
    with pytest.raises(broker.ProtocolError, match=r"a key of args\[0\] is a float \(1\.5\)"):
        proxy.echo({1.5: "x"})
    with pytest.raises(broker.ProtocolError, match="is a bool"):
        proxy.echo({True: "x"})
    with pytest.raises(broker.ProtocolError, match="array or a map"):
        proxy.echo({(1, 2): "x"})  # a tuple travels as an array
    assert service.ran == 0  # the host refused each request before it ran
    with pytest.raises(broker.ProtocolError, match=r"a key of result\['ok'\] is a NoneType"):
        proxy.odd("none key")
    with pytest.raises(broker.ProtocolError, match="is a float"):
        proxy.odd("float key")
    assert proxy.frames() == FRAMES  # the host serves on, the proxy works on


def test_int_keys_through_a_ui_a_host_process_and_the_broker(tmp_path, spawn):
    """Both directions between processes: the UI calls a host, the host calls
    the UI, and a client calls the host through the broker."""
    with ui_adapter.listen(
        endpoint=ipc_endpoint(tmp_path),
        service={"first_frame": lambda frames: min(frames)},
        heartbeat_interval=INTERVAL,
    ) as ui:
        spawn("host", ui.endpoint, "maya")
        maya = ui.wait_for_host("maya", timeout=10)
        assert maya.echo(FRAMES) == FRAMES
        assert maya.call_ui("first_frame", FRAMES) == 1001  # host -> UI -> host
    broker_process = spawn("broker", "tcp://127.0.0.1:*")
    endpoint = broker_process.read_line()
    spawn("host", endpoint, "nuke")
    with broker.connect(endpoint, timeout=10) as via_broker:
        wait_until(lambda: via_broker.rpc.hosts(), timeout=10, message="nuke registered")
        assert via_broker.call("nuke/echo", {b"k": FRAMES}) == {b"k": FRAMES}


# -- datetimes, unknown types, big ints ----------------------------------------------------


def test_datetimes_travel_as_iso_8601_strings(shots):
    _, proxy = shots
    assert proxy.odd("dates") == [
        "2024-05-01T12:30:00+00:00",
        "2024-05-01T12:30:15.250000",
        "2024-05-01",
        "23:59:01",
    ]
    when = datetime.datetime(
        2024, 5, 1, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert proxy.echo(when) == "2024-05-01T08:00:00+02:00"
    assert datetime.datetime.fromisoformat(proxy.echo(when)) == when


def test_what_cannot_be_sent_fails_at_the_sender_and_the_host_serves_on(shots):
    service, proxy = shots
    with pytest.raises(TypeError, match=r"cannot send decimal\.Decimal: send str, int, float"):
        proxy.echo(decimal.Decimal("1.5"))
    with pytest.raises(TypeError, match="cannot send object"):
        proxy.echo(value=[object()])
    assert service.ran == 0  # nothing was sent
    with pytest.raises(broker.RemoteError, match=r"could not be sent: .*cannot send object"):
        proxy.odd("object")
    with pytest.raises(broker.RemoteError, match=r"cannot send decimal\.Decimal"):
        proxy.odd("decimal")
    assert proxy.frames() == FRAMES


def test_ints_beyond_64_bits_say_so_as_argument_and_as_result(shots):
    service, proxy = shots
    out_of_range = "is out of the 64-bit range msgpack can carry"
    with pytest.raises(TypeError, match=rf"int 18446744073709551616 in args\[0\] {out_of_range}"):
        proxy.echo(2**64)
    with pytest.raises(TypeError, match=r"int -9223372036854775809 in kwargs\['value'\]"):
        proxy.echo(value=-(2**63) - 1)
    with pytest.raises(TypeError, match=rf"int of 201 bits in args\[0\]\[1\] {out_of_range}"):
        proxy.echo([0, 2**200])
    assert service.ran == 0
    with pytest.raises(
        broker.RemoteError, match=rf"int 18446744073709551616 in result {out_of_range}"
    ):
        proxy.odd("2**64")
    with pytest.raises(broker.RemoteError, match=r"int -9223372036854775809 in result\['frame'\]"):
        proxy.odd("-2**63-1")
    assert proxy.echo([2**64 - 1, -(2**63)]) == [2**64 - 1, -(2**63)]  # the limits travel


# -- nesting ---------------------------------------------------------------------------------


def test_nesting_up_to_the_limit_travels_on_any_msgpack(shots):
    service, proxy = shots
    # The request's own array and its args count: MAX_DEPTH - 2 more fit.
    deepest = nested(MAX_DEPTH - 2)
    echoed = proxy.echo(deepest)
    for _ in range(MAX_DEPTH - 3):
        echoed = echoed[0]
    assert echoed == [None]
    ran = service.ran
    with pytest.raises(TypeError, match=f"deeper than {MAX_DEPTH}"):
        proxy.echo([deepest])
    assert service.ran == ran
