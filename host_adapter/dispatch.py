"""Dispatchers: run a service call where the host wants it run.

A dispatcher is ``dispatch(func, *args, **kwargs) -> result``: it runs
``func`` (on the host's main thread, for a DCC) and returns its result or
raises its exception. The adapter's call thread calls it and waits; the
adapter's I/O and heartbeat threads never do, so a busy main thread makes a
host *busy*, never *dead*.

Built in here: :func:`immediate` (run on the calling thread: headless hosts
and tests) and :class:`MainThreadQueue` (the host pumps it from its idle loop
or a timer). DCC-specific dispatchers build on these.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Optional

__all__ = ["immediate", "MainThreadQueue"]


def immediate(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` at once on the calling thread."""
    return func(*args, **kwargs)


class _Job:
    __slots__ = ("func", "args", "kwargs", "done", "result", "error")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.result = self.func(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()


class MainThreadQueue:
    """A dispatcher whose calls run when the main thread pumps it.

    The host calls :meth:`process_pending` from its idle loop or a timer;
    other threads calling the queue wait until their function has run there.
    A call made *from* the main thread runs at once (waiting for ourselves
    would deadlock).

    Arguments:
        main_thread: the thread that pumps; the current thread by default.
    """

    def __init__(self, main_thread: Optional[threading.Thread] = None) -> None:
        self.main_thread = main_thread or threading.current_thread()
        self._jobs: Deque[_Job] = collections.deque()
        self._has_jobs = threading.Condition()

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self.main_thread:
            return func(*args, **kwargs)
        job = _Job(func, args, kwargs)
        with self._has_jobs:
            self._jobs.append(job)
            self._has_jobs.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def __len__(self) -> int:
        return len(self._jobs)

    def process_pending(
        self, budget: Optional[float] = 0.05, max_calls: Optional[int] = None
    ) -> int:
        """Run queued calls on this thread; return how many ran.

        Arguments:
            budget: stop starting new calls after this many seconds, so a
                flood of calls cannot freeze the host's UI; None for no limit.
            max_calls: run at most this many calls; None for no limit.
        """
        started = time.monotonic()
        ran = 0
        while max_calls is None or ran < max_calls:
            if ran and budget is not None and time.monotonic() - started >= budget:
                break
            try:
                job = self._jobs.popleft()
            except IndexError:
                break
            job.run()
            ran += 1
        return ran

    def wait_for_calls(self, timeout: Optional[float] = None) -> bool:
        """Block until a call is queued (or ``timeout``); True if one is.

        For hosts whose main thread has nothing else to do (batch mode).
        """
        with self._has_jobs:
            return self._has_jobs.wait_for(lambda: bool(self._jobs), timeout)
