"""DCC dispatchers against the stand-in DCC modules in tests/helpers/standins (not real DCCs).

The stand-ins queue each call to the main thread's event loop and block the
caller until it ran, as the real ``executeInMainThreadWithResult`` functions
do; the test's main thread runs that loop (``LOOP.run``) while another thread
calls the dispatcher. End-to-end tests with host processes are in
test_dcc_hosts.py.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List

import pytest

from broker.errors import Closed
from host_adapter import (
    BlenderDispatcher,
    DispatchError,
    HieroDispatcher,
    HoudiniDispatcher,
    MayaDispatcher,
    NukeDispatcher,
)
from tests.conftest import HELPERS

STANDINS = HELPERS / "standins"
STANDIN_MODULES = (
    "standin_loop",
    "maya",
    "maya.cmds",
    "maya.utils",
    "nuke",
    "hiero",
    "hiero.core",
    "hou",
    "hdefereval",
    "bpy",
)
TIMEOUT = 10.0

# dispatcher class -> (stand-in module, name of its main-thread function)
HOSTS = {
    MayaDispatcher: "maya.utils",
    NukeDispatcher: "nuke",
    HieroDispatcher: "hiero.core",
    HoudiniDispatcher: "hdefereval",
}


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-ins on sys.path (GUI mode); gone from sys.modules afterwards,
    so no other test detects a DCC."""
    monkeypatch.syspath_prepend(str(STANDINS))
    monkeypatch.setenv("STANDIN_BATCH", "0")
    try:
        yield importlib.import_module("standin_loop").LOOP
    finally:
        for name in STANDIN_MODULES:
            sys.modules.pop(name, None)


class Caller:
    """Calls ``dispatcher(func, *args, **kwargs)`` from its own thread."""

    def __init__(
        self,
        loop: Any,
        dispatcher: Callable[..., Any],
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.outcome: Dict[str, Any] = {}
        self._loop = loop
        self.thread = threading.Thread(
            target=self._run, args=(dispatcher, func, args, kwargs), daemon=True
        )
        self.thread.start()

    def _run(self, dispatcher: Callable[..., Any], func: Any, args: Any, kwargs: Any) -> None:
        try:
            self.outcome["result"] = dispatcher(func, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.outcome["error"] = exc
        finally:
            self._loop.wake()

    def finish(self) -> Dict[str, Any]:
        """Run the main thread's loop until the call returned; its outcome."""
        assert self._loop.run(until=lambda: bool(self.outcome), timeout=TIMEOUT), "no outcome"
        self.thread.join(TIMEOUT)
        return self.outcome


def make(cls: type, **kwargs: Any) -> Any:
    """A dispatcher of ``cls`` over the stand-in's function, counting its uses."""
    execute = importlib.import_module(HOSTS[cls]).executeInMainThreadWithResult
    uses: List[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        uses.append(1)
        return execute(*args, **kwargs)

    dispatcher = cls(execute=counted)
    dispatcher.uses = uses
    return dispatcher


def on_main_thread(a: int, b: int = 0, *, scale: int = 1) -> Dict[str, Any]:
    assert threading.current_thread() is threading.main_thread()
    return {"sum": (a + b) * scale, "thread": threading.current_thread().name}


@pytest.mark.parametrize("cls", list(HOSTS), ids=lambda cls: cls.__name__)
def test_call_runs_on_main_thread_through_the_hosts_function(loop: Any, cls: type) -> None:
    dispatcher = make(cls)
    outcome = Caller(loop, dispatcher, on_main_thread, 2, b=3, scale=10).finish()
    assert outcome == {"result": {"sum": 50, "thread": "MainThread"}}
    assert dispatcher.uses == [1]


@pytest.mark.parametrize("cls", list(HOSTS), ids=lambda cls: cls.__name__)
def test_the_functions_exception_comes_back(loop: Any, cls: type) -> None:
    def fail() -> None:
        assert threading.current_thread() is threading.main_thread()
        raise KeyError("no such node")

    error = Caller(loop, make(cls), fail).finish()["error"]
    assert isinstance(error, KeyError) and error.args == ("no such node",)


@pytest.mark.parametrize("cls", list(HOSTS), ids=lambda cls: cls.__name__)
def test_call_from_main_thread_runs_at_once_without_the_hosts_function(
    loop: Any, cls: type
) -> None:
    dispatcher = make(cls)
    assert dispatcher(on_main_thread, 1, 1)["sum"] == 2
    # Re-entrant: a call on the main thread that calls the dispatcher again.
    assert dispatcher(lambda: dispatcher(on_main_thread, 3))["sum"] == 3
    assert dispatcher.uses == []


@pytest.mark.parametrize("cls", list(HOSTS), ids=lambda cls: cls.__name__)
def test_default_is_the_dcc_modules_own_function(loop: Any, cls: type) -> None:
    dispatcher = cls()
    assert Caller(loop, dispatcher, on_main_thread, 4).finish()["result"]["sum"] == 4
    assert HOSTS[cls] in repr(dispatcher)


def test_nuke_system_error_before_the_call_is_a_dispatch_error(loop: Any) -> None:
    nuke = importlib.import_module("nuke")
    ran: List[int] = []
    nuke.SYSTEM_ERROR = "before"
    error = Caller(loop, NukeDispatcher(), ran.append, 1).finish()["error"]
    assert isinstance(error, DispatchError) and isinstance(error.__cause__, SystemError)
    assert "before the call ran" in str(error)
    assert ran == []
    # The dispatcher is not broken by it.
    assert Caller(loop, NukeDispatcher(), on_main_thread, 5).finish()["result"]["sum"] == 5


def test_nuke_system_error_after_the_call_keeps_the_calls_result(loop: Any) -> None:
    nuke = importlib.import_module("nuke")
    ran: List[int] = []

    def create() -> str:
        ran.append(1)
        return "Blur1"

    nuke.SYSTEM_ERROR = "after"
    assert Caller(loop, NukeDispatcher(), create).finish() == {"result": "Blur1"}
    assert ran == [1]  # ran once: not retried


def test_a_host_function_that_swallows_errors_does_not_hide_them(loop: Any) -> None:
    def swallowing(func: Callable[[], Any], *args: Any, **kwargs: Any) -> None:
        # Some hosts print a call's traceback and return None.
        try:
            importlib.import_module("standin_loop").LOOP.call_in_main_thread(func, args, kwargs)
        except Exception:  # noqa: BLE001 - what the imagined host does
            return None

    def fail() -> None:
        raise ValueError("bad frame range")

    error = Caller(loop, MayaDispatcher(execute=swallowing), fail).finish()["error"]
    assert isinstance(error, ValueError) and str(error) == "bad frame range"


def test_a_host_function_that_never_runs_the_call_is_a_dispatch_error(loop: Any) -> None:
    error = Caller(loop, HoudiniDispatcher(execute=lambda func: None), print).finish()["error"]
    assert isinstance(error, DispatchError)
    assert "returned without running the call" in str(error)


def test_the_hosts_function_is_looked_up_once(loop: Any) -> None:
    utils = importlib.import_module("maya.utils")
    dispatcher = MayaDispatcher()
    # A plug-in replacing Maya's function later (one froze every call) is ignored.
    utils.executeInMainThreadWithResult = lambda func, *a, **k: None
    assert Caller(loop, dispatcher, on_main_thread, 6).finish()["result"]["sum"] == 6


def test_missing_dcc_module_raises_import_error(loop: Any) -> None:
    sys.modules["nuke"] = None  # type: ignore[assignment]  # "import nuke" now fails
    try:
        with pytest.raises(ImportError):
            NukeDispatcher()
    finally:
        del sys.modules["nuke"]


# -- Blender (stand-in bpy.app.timers) ---------------------------------------------------


def test_blender_timer_runs_calls_on_the_main_thread(loop: Any) -> None:
    bpy = importlib.import_module("bpy")
    dispatcher = BlenderDispatcher(interval=0.01)
    try:
        assert bpy.app.timers.is_registered(dispatcher.timer)
        outcome = Caller(loop, dispatcher, on_main_thread, 7, scale=2).finish()
        assert outcome == {"result": {"sum": 14, "thread": "MainThread"}}
        assert dispatcher(on_main_thread, 1)["sum"] == 1  # main thread: at once
    finally:
        dispatcher.close()
    assert not bpy.app.timers.is_registered(dispatcher.timer)


def test_blender_pump_keeps_to_its_budget_and_comes_back_at_once(loop: Any) -> None:
    dispatcher = BlenderDispatcher(interval=5.0, budget=0.0, burst=0.0)
    try:
        assert dispatcher.pump() == 5.0  # nothing queued: the idle interval
        callers = [Caller(loop, dispatcher, on_main_thread, index) for index in range(3)]
        loop.run(until=lambda: len(dispatcher.queue) == 3, timeout=TIMEOUT)
        assert dispatcher.pump() == 0.0  # one call ran, two remain: run again at once
        assert len(dispatcher.queue) == 2
        assert dispatcher.pump() == 0.0
        assert dispatcher.pump() == 5.0  # nothing left, no burst: the idle interval
        assert sorted(caller.finish()["result"]["sum"] for caller in callers) == [0, 1, 2]
    finally:
        dispatcher.close()


def test_blender_looks_again_soon_after_a_call(loop: Any) -> None:
    dispatcher = BlenderDispatcher(interval=5.0, burst=60.0)
    try:
        assert dispatcher.pump() == 5.0  # idle
        caller = Caller(loop, dispatcher, on_main_thread, 1)
        loop.run(until=lambda: len(dispatcher.queue) == 1, timeout=TIMEOUT)
        assert dispatcher.pump() == 0.002  # a call ran: more may follow
        assert caller.finish()["result"]["sum"] == 1
    finally:
        dispatcher.close()


def test_blender_close_from_another_thread_fails_waiting_calls(loop: Any) -> None:
    bpy = importlib.import_module("bpy")
    dispatcher = BlenderDispatcher(interval=5.0)
    caller = Caller(loop, dispatcher, on_main_thread, 1)
    loop.run(until=lambda: len(dispatcher.queue) == 1, timeout=TIMEOUT)
    closer = threading.Thread(target=dispatcher.close)
    closer.start()
    closer.join(TIMEOUT)
    caller.thread.join(TIMEOUT)  # failed without the main thread's help
    assert isinstance(caller.outcome["error"], Closed)
    assert bpy.app.timers.is_registered(dispatcher.timer)  # bpy is main-thread only...
    assert dispatcher.pump() is None  # ...so the timer ends itself at its next run


def test_blender_dispatcher_must_be_made_on_the_main_thread(loop: Any) -> None:
    errors: List[BaseException] = []

    def make_it() -> None:
        try:
            BlenderDispatcher()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=make_it)
    thread.start()
    thread.join(TIMEOUT)
    assert len(errors) == 1 and "main thread" in str(errors[0])
