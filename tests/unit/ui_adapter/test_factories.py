"""listen(), attach() and serve() take the service the same way, and fail at once as themselves."""

from __future__ import annotations

import threading
import time

import pytest

import broker
import host_adapter
import ui_adapter
from tests.conftest import ipc_endpoint

INTERVAL = 0.1


class Window:
    def show(self):
        return "shown"

    @staticmethod
    def hide():
        return "hidden"


def show():
    return "shown"


def hide():
    return "hidden"


#: The same two methods in every form a factory takes.
FORMS = {
    "instance": Window(),
    "dict": {"show": show, "hide": hide},
    "list": [show, hide],
}


class Broken:
    """dir() names a method the object does not have."""

    def __dir__(self):
        return ["ghost"]


class WithRpc:
    def rpc(self):  # pragma: no cover - never served
        return "unreachable as proxy.rpc"


def methods_of(endpoint):
    with broker.connect(endpoint, timeout=5) as proxy:
        return sorted(m["name"] for m in proxy.rpc.describe()["methods"])


@pytest.mark.parametrize("form", sorted(FORMS))
def test_listen_attach_and_serve_take_the_service_alike(form, tmp_path):
    service = FORMS[form]
    with broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=INTERVAL) as hub:
        with (
            ui_adapter.listen(service, endpoint=ipc_endpoint(tmp_path)) as listened,
            ui_adapter.attach(service, broker=hub.endpoint) as attached,
            host_adapter.serve(service, ui=listened.endpoint) as served,
        ):
            # Positional, like serve(): the UI's methods are those of the service.
            assert methods_of(listened.endpoint) == ["hide", "show"]
            assert methods_of(attached.endpoint) == ["hide", "show"]
            assert methods_of(served.endpoint) == ["hide", "show"]
            assert served.wait_connected(5)
            assert served.ui.show() == "shown"


def test_listen_an_instance_then_a_host_calls_it(tmp_path):
    with ui_adapter.listen(Window(), endpoint=ipc_endpoint(tmp_path)) as ui:
        with host_adapter.serve({}, ui=ui.endpoint, heartbeat_interval=INTERVAL) as adapter:
            assert adapter.wait_connected(5)
            assert adapter.ui.hide() == "hidden"


def test_listen_on_an_endpoint_in_use_raises_endpoint_in_use_at_once(tmp_path):
    threads = threading.active_count()
    for endpoint in (ipc_endpoint(tmp_path), "tcp://127.0.0.1:*"):
        with ui_adapter.listen(Window(), endpoint=endpoint) as first:
            started = time.monotonic()
            with pytest.raises(broker.EndpointInUse):
                ui_adapter.listen(Window(), endpoint=first.endpoint)
            assert time.monotonic() - started < 5
    with broker.start_broker(["tcp://127.0.0.1:*"]) as hub:
        with pytest.raises(broker.EndpointInUse):
            ui_adapter.listen(Window(), endpoint=hub.endpoint)
    assert threading.active_count() == threads  # nothing left running by the failures


def test_a_bad_endpoint_is_a_value_error_at_once():
    started = time.monotonic()
    with pytest.raises(ValueError):
        ui_adapter.listen(Window(), endpoint="bogus://nowhere")
    with pytest.raises(ValueError):
        host_adapter.serve(Window(), endpoint="bogus://nowhere")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("factory", ["listen", "attach", "serve"])
def test_a_broken_service_raises_its_own_error_from_the_factory(factory, tmp_path):
    make = {
        "listen": lambda service: ui_adapter.listen(service, endpoint=ipc_endpoint(tmp_path)),
        "attach": lambda service: ui_adapter.attach(service, broker=ipc_endpoint(tmp_path)),
        "serve": lambda service: host_adapter.serve(service, ui=ipc_endpoint(tmp_path)),
    }[factory]
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(AttributeError, match="ghost"):
        make(Broken())
    with pytest.raises(ValueError, match="rpc is reserved"):
        make(WithRpc())
    with pytest.raises(TypeError, match=f"{factory}\\(\\) takes the service first"):
        make("tcp://127.0.0.1:*")
    assert time.monotonic() - started < 5
    assert threading.active_count() == threads
