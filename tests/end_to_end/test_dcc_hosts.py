"""Stand-in DCC hosts in their own processes, driven by a UI in this process.

Each host (tests/helpers/dcc_host_process.py) has the stand-in DCC modules of
tests/helpers/standins loaded, as the DCC itself would (they are stand-ins, not the
real Maya, Nuke, Hiero, Houdini or Blender), and serves with no dispatcher:
``detect()`` must pick the DCC's own in GUI mode, and a queue served by
``HostAdapter.serve_forever()`` in batch mode (mayapy, ``nuke -t``, hython,
``blender -b``). Every method of the service asserts that it runs on the main
thread, and the host records any zmq operation made on its main thread.
"""

from __future__ import annotations

import signal
from typing import Any, Iterator, Tuple

import pytest

import broker
from tests.conftest import HELPERS, wait_until
from tests.helpers.script_process import ScriptProcess, ScriptProcesses

DCC_HOST = HELPERS / "dcc_host_process.py"

CASES = [
    ("maya", "gui", "MayaDispatcher"),
    ("nuke", "gui", "NukeDispatcher"),
    ("hiero", "gui", "HieroDispatcher"),
    ("houdini", "gui", "HoudiniDispatcher"),
    ("blender", "gui", "BlenderDispatcher"),
    ("maya", "batch", "MainThreadQueue"),
    ("nuke", "batch", "MainThreadQueue"),
    ("houdini", "batch", "MainThreadQueue"),
    ("blender", "batch", "MainThreadQueue"),
]

Host = Tuple[ScriptProcess, Any, str]


def start_host(start: Any, ui: Any, dcc: str, mode: str, expected: str) -> Host:
    process = start(DCC_HOST, dcc, mode, ui.endpoint)
    process.read_line(timeout=20)  # endpoint
    host_id = process.read_line()
    assert process.read_line() == expected  # what detect() picked
    return process, ui.wait_for_host(dcc, timeout=10), host_id


@pytest.fixture
def processes() -> Iterator[Any]:
    with ScriptProcesses() as start:
        yield start


@pytest.mark.parametrize(("dcc", "mode", "expected"), CASES, ids=lambda v: str(v))
def test_calls_run_on_the_main_thread_of_each_host(
    fast_ui: Any, processes: Any, dcc: str, mode: str, expected: str
) -> None:
    process, host, host_id = start_host(processes, fast_ui, dcc, mode, expected)
    assert [host.add(index, 10) for index in range(50)] == list(range(10, 60))
    with pytest.raises(broker.RemoteError) as info:
        host.boom("cannot delete the default camera")
    assert info.value.exception == "builtins.ValueError"
    assert "cannot delete the default camera" in str(info.value)
    assert host.rpc.with_timeout(5).reenter(1) == [1, "MainThread"]
    assert host.calls() == 50
    assert host.socket_ops() == []
    # quit() ends the host's loop from a call; the host departs and exits.
    assert host.quit() is True
    assert process.exit_status() == 0, process.stop()
    wait_until(lambda: all(info["id"] != host_id for info in fast_ui.hosts()), message="departure")


def test_nuke_keeps_serving_a_call_that_never_returns_as_busy(fast_ui: Any, processes: Any) -> None:
    _, nuke, host_id = start_host(processes, fast_ui, "nuke", "gui", "NukeDispatcher")
    with pytest.raises(broker.CallTimeout):
        nuke.rpc.with_timeout(0.3).hang()
    beats = set()

    def busy_heartbeats() -> bool:
        (info,) = [host for host in fast_ui.hosts() if host["id"] == host_id]
        assert info["state"] == "busy", info
        beats.add(info["last_seen"])
        return len(beats) >= 5

    wait_until(busy_heartbeats, timeout=10, message="five busy heartbeats")


def test_batch_host_stops_on_sigterm_while_idle(fast_ui: Any, processes: Any) -> None:
    process, maya, host_id = start_host(processes, fast_ui, "maya", "batch", "MainThreadQueue")
    assert maya.add(2, 2) == 4
    process.popen.send_signal(signal.SIGTERM)  # handler: adapter.stop()
    assert process.exit_status() == 0, process.stop()
    wait_until(lambda: all(info["id"] != host_id for info in fast_ui.hosts()), message="departure")
