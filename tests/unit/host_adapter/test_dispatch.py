"""Dispatchers: immediate, and the main-thread queue a host pumps."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

from host_adapter.dispatchers.core import MainThreadQueue, immediate
from tests.conftest import wait_until

JOIN_TIMEOUT = 10.0


class Caller:
    """Calls ``queue(func, *args, **kwargs)`` from its own thread and keeps the outcome."""

    def __init__(self, queue: MainThreadQueue, func: Callable[..., Any], *args: Any, **kwargs: Any):
        self.outcome: Dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(queue, func, args, kwargs))
        self.thread.daemon = True

    def _run(
        self, queue: MainThreadQueue, func: Callable[..., Any], args: Any, kwargs: Any
    ) -> None:
        try:
            self.outcome["result"] = queue(func, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.outcome["error"] = exc

    def start(self) -> Caller:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(timeout=JOIN_TIMEOUT)
        assert not self.thread.is_alive(), "caller thread did not finish"


@pytest.fixture
def queue() -> Iterator[MainThreadQueue]:
    q = MainThreadQueue()
    yield q
    # Release any caller a failed test left waiting (bounded).
    for _ in range(100):
        if not len(q):
            break
        q.process_pending(budget=None)


def start_callers(queue: MainThreadQueue, count: int, func: Callable[..., Any]) -> List[Caller]:
    callers = [Caller(queue, func, index).start() for index in range(count)]
    wait_until(lambda: len(queue) == count, message=f"{count} queued calls")
    return callers


# -- immediate ---------------------------------------------------------------------


def test_immediate_runs_on_calling_thread_with_args_and_kwargs() -> None:
    seen: Dict[str, Any] = {}

    def func(a: int, b: int, *, scale: int = 1) -> int:
        seen["thread"] = threading.current_thread()
        return (a + b) * scale

    assert immediate(func, 2, 3, scale=10) == 50
    assert seen["thread"] is threading.current_thread()
    assert immediate(func, 1, b=1) == 2


def test_immediate_raises_the_function_error() -> None:
    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        immediate(fail)


def test_immediate_passes_func_keyword_through() -> None:
    # ``func`` is positional-only, so a keyword named func reaches the function.
    assert immediate(lambda **kwargs: kwargs, func=1) == {"func": 1}


# -- MainThreadQueue ------------------------------------------------------------------


def test_queue_defaults_to_current_thread() -> None:
    assert MainThreadQueue().main_thread is threading.current_thread()
    other = threading.Thread(target=lambda: None)
    assert MainThreadQueue(other).main_thread is other


def test_call_from_other_thread_runs_on_pumping_thread(queue: MainThreadQueue) -> None:
    main = threading.current_thread()
    ran_on: List[threading.Thread] = []

    def func(a: int, b: int = 0) -> int:
        ran_on.append(threading.current_thread())
        return a * 10 + b

    caller = Caller(queue, func, 4, b=2).start()
    wait_until(lambda: len(queue) == 1, message="the call to be queued")
    assert ran_on == []  # nothing runs until the main thread pumps
    assert caller.thread.is_alive()
    assert queue.process_pending() == 1
    caller.join()
    assert ran_on == [main]
    assert caller.outcome == {"result": 42}
    assert len(queue) == 0


def test_exception_comes_back_to_the_caller_thread(queue: MainThreadQueue) -> None:
    main = threading.current_thread()
    ran_on: List[threading.Thread] = []

    def fail() -> None:
        ran_on.append(threading.current_thread())
        raise ValueError("bad input 7")

    caller = Caller(queue, fail).start()
    wait_until(lambda: len(queue) == 1, message="the call to be queued")
    assert queue.process_pending() == 1  # the pump itself does not raise
    caller.join()
    assert ran_on == [main]
    error = caller.outcome.get("error")
    assert isinstance(error, ValueError)
    assert str(error) == "bad input 7"
    assert "result" not in caller.outcome


class Rare(BaseException):
    """A BaseException that does not stop a process."""


def test_a_base_exception_comes_back_to_the_caller(queue: MainThreadQueue) -> None:
    def rare() -> None:
        raise Rare

    caller = Caller(queue, rare).start()
    wait_until(lambda: len(queue) == 1, message="the call to be queued")
    assert queue.process_pending() == 1
    caller.join()
    assert isinstance(caller.outcome.get("error"), Rare)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stop_raised_during_a_call_reaches_the_caller_and_stops_the_pump(
    queue: MainThreadQueue, stop: type
) -> None:
    # A SIGTERM handler that exits, Ctrl-C, or a call to sys.exit on the main
    # thread: the caller hears of it, and the host stops as it was asked to.
    def interrupted() -> None:
        raise stop

    caller = Caller(queue, interrupted).start()
    wait_until(lambda: len(queue) == 1, message="the call to be queued")
    with pytest.raises(stop):
        queue.process_pending()
    caller.join()
    assert isinstance(caller.outcome.get("error"), stop)


def test_call_from_main_thread_runs_at_once(queue: MainThreadQueue) -> None:
    ran_on: List[threading.Thread] = []

    def func(x: int) -> int:
        ran_on.append(threading.current_thread())
        return x + 1

    assert queue(func, 1) == 2
    assert ran_on == [threading.current_thread()]
    assert len(queue) == 0
    with pytest.raises(ZeroDivisionError):
        queue(lambda: 1 / 0)


def test_process_pending_with_nothing_queued(queue: MainThreadQueue) -> None:
    assert queue.process_pending() == 0
    assert queue.process_pending(budget=None, max_calls=None) == 0


def test_process_pending_runs_in_order(queue: MainThreadQueue) -> None:
    order: List[int] = []
    callers = []
    for index in range(3):
        callers.append(Caller(queue, order.append, index).start())
        wait_until(lambda n=index + 1: len(queue) == n, message="the call to be queued")
    assert queue.process_pending(budget=None) == 3
    for caller in callers:
        caller.join()
    assert order == [0, 1, 2]


def test_process_pending_respects_max_calls(queue: MainThreadQueue) -> None:
    ran: List[int] = []
    callers = start_callers(queue, 3, ran.append)
    assert queue.process_pending(budget=None, max_calls=2) == 2
    assert len(ran) == 2
    assert len(queue) == 1
    assert queue.process_pending(max_calls=0) == 0
    assert len(queue) == 1
    assert queue.process_pending(budget=None) == 1
    assert len(queue) == 0
    for caller in callers:
        caller.join()
    assert sorted(ran) == [0, 1, 2]
    assert all(caller.outcome == {"result": None} for caller in callers)


def test_process_pending_respects_budget_but_runs_at_least_one(queue: MainThreadQueue) -> None:
    ran: List[int] = []

    def slow(index: int) -> int:
        time.sleep(0.02)  # ok: the work being measured, not a wait for an event
        ran.append(index)
        return index

    callers = start_callers(queue, 3, slow)
    assert queue.process_pending(budget=0.01) == 1
    assert len(ran) == 1
    assert len(queue) == 2
    assert queue.process_pending(budget=0.01) == 1
    assert queue.process_pending(budget=0) == 1  # a zero budget still makes progress
    assert len(queue) == 0
    assert queue.process_pending(budget=0.01) == 0
    for caller in callers:
        caller.join()
    assert sorted(ran) == [0, 1, 2]
    assert sorted(caller.outcome["result"] for caller in callers) == [0, 1, 2]


def test_process_pending_without_budget_runs_everything(queue: MainThreadQueue) -> None:
    def slow(index: int) -> int:
        time.sleep(0.02)  # ok: the work being measured, not a wait for an event
        return index

    callers = start_callers(queue, 3, slow)
    assert queue.process_pending(budget=None) == 3
    for caller in callers:
        caller.join()


def test_wait_for_calls_times_out_on_empty_queue(queue: MainThreadQueue) -> None:
    started = time.monotonic()
    assert queue.wait_for_calls(timeout=0.05) is False
    assert time.monotonic() - started < 5
    assert queue.wait_for_calls(timeout=0) is False


def test_wait_for_calls_true_once_a_call_is_queued(queue: MainThreadQueue) -> None:
    caller = Caller(queue, lambda: "done").start()
    assert queue.wait_for_calls(timeout=JOIN_TIMEOUT) is True
    assert len(queue) == 1
    assert queue.wait_for_calls(timeout=0) is True  # still queued: returns at once
    assert queue.process_pending() == 1
    caller.join()
    assert caller.outcome == {"result": "done"}
    assert queue.wait_for_calls(timeout=0.01) is False


# -- MainThreadQueue.run / close (batch mode) ------------------------------------------


def test_close_fails_queued_and_later_calls(queue: MainThreadQueue) -> None:
    from broker.errors import Closed

    callers = start_callers(queue, 2, lambda index: index)
    queue.close()
    queue.close()  # idempotent
    assert queue.closed and len(queue) == 0
    for caller in callers:
        caller.join()
        assert isinstance(caller.outcome.get("error"), Closed)
    late = Caller(queue, lambda: "never").start()
    late.join()
    assert isinstance(late.outcome.get("error"), Closed)
    assert queue(lambda: "main thread still runs at once") == "main thread still runs at once"
    assert queue.wait_for_calls(timeout=JOIN_TIMEOUT) is False  # returns at once when closed


def test_run_serves_calls_until_closed_from_another_thread(queue: MainThreadQueue) -> None:
    ran_on: List[threading.Thread] = []

    def work(index: int) -> int:
        ran_on.append(threading.current_thread())
        return index * 2

    def client() -> None:
        results.extend(queue(work, index) for index in range(5))
        queue.close()

    results: List[int] = []
    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    queue.run()  # returns only once the client closed the queue
    thread.join(JOIN_TIMEOUT)
    assert results == [0, 2, 4, 6, 8]
    assert ran_on == [threading.current_thread()] * 5


def test_close_from_a_call_lets_that_call_finish(queue: MainThreadQueue) -> None:
    def last_call() -> str:
        queue.close()
        return "finished"

    caller = Caller(queue, last_call).start()
    queue.run()
    caller.join()
    assert caller.outcome == {"result": "finished"}


def test_run_refuses_a_thread_that_is_not_its_main_thread() -> None:
    other = MainThreadQueue(threading.Thread(target=lambda: None))
    with pytest.raises(RuntimeError, match="main thread"):
        other.run()
