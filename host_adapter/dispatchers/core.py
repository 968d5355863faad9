"""Dispatchers: run a service call where the host wants it run.

A dispatcher is ``dispatch(func, *args, **kwargs) -> result``: it runs
``func`` (on the host's main thread, for a DCC) and returns its result or
raises its exception. The adapter's call thread calls it and waits; the
adapter's I/O and heartbeat threads never do, so a busy main thread makes a
host *busy*, never *dead*.

Built in here: :func:`immediate` (run on the calling thread: headless hosts
and tests) and :class:`MainThreadQueue` (the host pumps it from its idle loop
or a timer, or serves on it in batch mode). Qt's and each DCC's have a module
of their own in :mod:`host_adapter.dispatchers`.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Any, Callable, Deque, Optional

from broker.errors import Closed, DispatchError

__all__ = ["immediate", "MainThreadQueue", "DispatchError", "Handoff"]

# How long the batch loop sleeps between checks for a signal where a blocked
# lock cannot be interrupted by one (Windows). On POSIX a signal handler runs
# while the loop waits, so the loop waits without a timeout.
_SIGNAL_SLICE = None if os.name == "posix" else 0.5


def immediate(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` at once on the calling thread."""
    return func(*args, **kwargs)


class Handoff:
    """One call handed to another thread; its caller waits for :meth:`outcome`.

    Every dispatcher that runs calls on the main thread hands them over this way.
    """

    __slots__ = ("func", "args", "kwargs", "done", "result", "error")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        """Run the call here; the outcome goes to the caller.

        Raises:
            KeyboardInterrupt, SystemExit: raised on this thread while the
                call ran (Ctrl-C, a SIGTERM handler, a call to ``sys.exit``):
                the process is being stopped, so they go on after the caller
                is told; any other exception goes to the caller alone.
        """
        try:
            self.result = self.func(*self.args, **self.kwargs)
        except (KeyboardInterrupt, SystemExit) as exc:
            self.error = exc
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()

    def fail(self, error: BaseException) -> None:
        """Give up on a call that never started."""
        self.error = error
        self.done.set()

    def outcome(self) -> Any:
        """Wait for the call; return its result or raise its exception."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


class MainThreadQueue:
    """A dispatcher whose calls run when the main thread pumps it.

    The host calls :meth:`process_pending` from its idle loop or a timer, or
    hands its main thread over with :meth:`run` (batch mode); other threads
    calling the queue wait until their function has run there. A call made
    *from* the main thread runs at once (waiting for ourselves would
    deadlock).

    Arguments:
        main_thread: the thread that pumps; the current thread by default.
    """

    def __init__(self, main_thread: Optional[threading.Thread] = None) -> None:
        self.main_thread = main_thread or threading.current_thread()
        self._jobs: Deque[Handoff] = collections.deque()
        self._has_jobs = threading.Condition()
        self._closed = False

    def __call__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self.main_thread:
            return func(*args, **kwargs)
        job = Handoff(func, args, kwargs)
        with self._has_jobs:
            if self._closed:
                raise Closed("this main-thread queue was closed: nothing runs its calls")
            self._jobs.append(job)
            self._has_jobs.notify_all()
        return job.outcome()

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

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
                job = self._jobs.popleft()  # atomic: close() cannot fail it as well
            except IndexError:
                break
            job.run()
            ran += 1
        return ran

    def wait_for_calls(self, timeout: Optional[float] = None) -> bool:
        """Block until a call is queued, the queue is closed, or ``timeout``.

        Returns True if a call is queued. For hosts whose main thread has
        nothing else to do (batch mode).
        """
        with self._has_jobs:
            self._has_jobs.wait_for(lambda: bool(self._jobs) or self._closed, timeout)
            return bool(self._jobs)

    def run(self, budget: Optional[float] = 0.05) -> None:
        """Run calls on this thread as they come until :meth:`close` (batch mode).

        The thread sleeps while nothing is queued. :meth:`close` may be
        called from any thread, from a signal handler, or from a call that
        this loop is running; the loop returns once that call is done.

        Arguments:
            budget: passed to :meth:`process_pending`.

        Raises:
            RuntimeError: called from a thread that is not ``main_thread``.
        """
        if threading.current_thread() is not self.main_thread:
            raise RuntimeError(
                f"run() must be called from the queue's main thread, {self.main_thread.name}"
            )
        while not self._closed:
            self.process_pending(budget)
            if not self._jobs:
                self.wait_for_calls(_SIGNAL_SLICE)

    def close(self) -> None:
        """Stop :meth:`run`; fail queued and later calls with ``Closed``. Idempotent.

        A call that is already running finishes normally.
        """
        with self._has_jobs:
            self._closed = True
            self._has_jobs.notify_all()
        while True:
            try:
                job = self._jobs.popleft()
            except IndexError:
                break
            job.fail(Closed("the host stopped before this call ran"))
