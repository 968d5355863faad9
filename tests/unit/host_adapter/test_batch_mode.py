"""Batch mode: HostAdapter.serve_forever() runs calls on the calling (main) thread.

For hosts with no event loop (mayapy, hython, ``blender -b``, scripts). The
end-to-end batch hosts, stopped by a call and by SIGTERM, are in
test_dcc_hosts.py.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List

import pytest

import broker
import host_adapter

TIMEOUT = 10.0


def on_main_thread() -> str:
    assert threading.current_thread() is threading.main_thread()
    return threading.current_thread().name


def in_thread(work: Callable[[], None], stop: Callable[[], None]) -> threading.Thread:
    """Run ``work`` on another thread, then ``stop`` whatever happened (so
    serve_forever() always returns)."""
    failures: List[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            failures.append(exc)
        finally:
            stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.failures = failures  # type: ignore[attr-defined]
    thread.start()
    return thread


def finish(thread: threading.Thread) -> None:
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    for failure in thread.failures:  # type: ignore[attr-defined]
        raise failure


def test_serve_forever_runs_calls_on_main_thread_until_stopped_from_another_thread(
    fast_ui: Any,
) -> None:
    queue = host_adapter.MainThreadQueue()
    adapter = host_adapter.serve(
        {"where": on_main_thread, "add": lambda a, b: a + b},
        ui=fast_ui.endpoint,
        dispatcher=queue,
    )
    results: Dict[str, Any] = {}

    def client() -> None:
        with broker.connect(adapter.endpoint, timeout=5) as proxy:
            results["where"] = proxy.where()
            results["sums"] = [proxy.add(index, 1) for index in range(20)]

    thread = in_thread(client, adapter.stop)
    adapter.serve_forever()  # returns once the client thread stopped the adapter
    finish(thread)
    assert results == {"where": "MainThread", "sums": list(range(1, 21))}
    assert queue.closed
    with pytest.raises(broker.Closed):
        adapter.ui  # noqa: B018 - the property raises once stopped
    adapter.serve_forever()  # stopped: returns at once


def test_stop_from_a_call_answers_it_then_returns(fast_ui: Any) -> None:
    holder: List[Any] = []

    def quit() -> str:
        holder[0].stop()  # on the main thread, inside serve_forever()
        return "bye"

    adapter = host_adapter.serve(
        {"quit": quit}, ui=fast_ui.endpoint, dispatcher=host_adapter.MainThreadQueue()
    )
    holder.append(adapter)
    answers: List[str] = []

    def client() -> None:
        with broker.connect(adapter.endpoint, timeout=5) as proxy:
            answers.append(proxy.quit())

    thread = in_thread(client, lambda: None)
    adapter.serve_forever()
    finish(thread)
    assert answers == ["bye"]  # the reply went out before the adapter stopped
    with pytest.raises(broker.Closed):
        adapter.ui  # noqa: B018 - the property raises once stopped


def test_serve_forever_without_a_dispatcher_waits_until_stopped(fast_ui: Any) -> None:
    adapter = host_adapter.serve(
        {"thread": lambda: threading.current_thread().name},
        ui=fast_ui.endpoint,
        dispatcher=host_adapter.immediate,
    )
    names: List[str] = []

    def client() -> None:
        with broker.connect(adapter.endpoint, timeout=5) as proxy:
            names.append(proxy.thread())

    thread = in_thread(client, adapter.stop)
    adapter.serve_forever()
    finish(thread)
    assert names and names[0].startswith("broker-call")  # immediate: the call thread


def test_serve_forever_refuses_a_dispatcher_with_its_own_event_loop(fast_ui: Any) -> None:
    def elsewhere(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    with host_adapter.serve({}, ui=fast_ui.endpoint, dispatcher=elsewhere) as adapter:
        with pytest.raises(RuntimeError, match="serve_forever"):
            adapter.serve_forever()
