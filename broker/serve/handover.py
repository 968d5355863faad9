"""Which of a server's two threads holds the sockets, and which calls wait.

A server (:mod:`broker.serve.server`) has two threads, each able to take
either role:

- the **leader** holds the sockets. It answers ``rpc.*`` itself and runs a
  service call itself when no other call is running: a small call so costs
  no hop between threads;
- the **standby** watches the leader. Once a single call has kept the leader
  busy for ``handover`` seconds, the standby takes the sockets over and
  becomes the leader, so ``rpc.ping`` is answered while a long call runs.
  The old leader finishes its call, hands the reply to the new leader, runs
  the calls that were queued meanwhile (handing their replies over too), and
  becomes the standby.

:class:`Handover` is that arrangement's shared state, under one lock (the
full memory barrier ZeroMQ asks for when sockets change threads); it holds
no sockets. The sockets change hands only while the thread giving them up is
inside a call and does not touch them.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Deque, Optional

__all__ = ["Handover", "DEFAULT_HANDOVER", "RUN", "QUEUED", "REFUSED"]

#: Seconds one call may keep the leader busy before the standby takes over.
DEFAULT_HANDOVER = 0.01

#: What :meth:`Handover.admit` decided for a call.
RUN, QUEUED, REFUSED = "run", "queued", "refused"


class Handover:
    """The state a server's leader and standby share.

    Arguments:
        handover: seconds one call may keep the leader busy before the
            standby takes the sockets over.
        max_pending: calls queued or running at once; more are refused.
    """

    def __init__(self, handover: float = DEFAULT_HANDOVER, max_pending: int = 10_000) -> None:
        self.handover = handover
        self.max_pending = max_pending
        self._mutex = threading.Lock()
        self._wakeup = threading.Condition(self._mutex)
        self._jobs: Deque[Any] = collections.deque()  # calls waiting their turn
        self._running = False  # a call runs, in the leader or in the old leader
        self._inline = False  # ...in the leader, which may be taken over
        self._taken_over = False  # the standby took the sockets during that call
        self._inline_calls = 0  # tells one long call from many short ones
        self._standby_asleep = False
        self.stopping = False

    @property
    def busy(self) -> bool:
        """Whether a call is running or queued."""
        return self._running or bool(self._jobs)

    @property
    def pending(self) -> int:
        """Calls running or queued."""
        return len(self._jobs) + self._running

    # -- the leader ------------------------------------------------------------

    def admit(self, job: Any) -> str:
        """Decide a new call's fate: :data:`RUN` it now in the leader, or it
        was :data:`QUEUED` behind the running one, or :data:`REFUSED` (too
        many pending)."""
        with self._mutex:
            if len(self._jobs) + self._running >= self.max_pending:
                return REFUSED
            if self._running:
                self._jobs.append(job)  # its turn comes
                return QUEUED
            self._running = self._inline = True
            self._inline_calls += 1
            if self._standby_asleep:
                self._wakeup.notify()
            return RUN

    def finish_inline(self) -> bool:
        """The leader's own call returned. True if the standby took the
        sockets over meanwhile: the caller must not touch them again, and
        runs the queued calls (:meth:`next_job`) instead."""
        with self._mutex:
            self._inline = False
            taken_over, self._taken_over = self._taken_over, False
            if not taken_over:
                self._running = False  # nothing was queued: only the leader queues
            return taken_over

    # -- the old leader, after a handover -----------------------------------------

    def next_job(self) -> Optional[Any]:
        """The next queued call to run, or None when there is none (this
        thread then stands by) or the server is stopping."""
        with self._mutex:
            if self.stopping or not self._jobs:
                if not self.stopping:
                    self._running = False
                return None
            return self._jobs.popleft()

    # -- the standby ----------------------------------------------------------------

    def stand_by(self) -> bool:
        """Wait until this thread must lead (True) or the server stops (False).

        Takes the sockets over once a single call has kept the leader busy
        for a whole ``handover`` period, or at once when stopping (so the
        sockets close even if that call never returns). Sleeps while no
        calls run.
        """
        with self._mutex:
            watched = -1  # the inline call seen running at the last look
            seen_calls = self._inline_calls
            while True:
                if self._inline and (self.stopping or self._inline_calls == watched):
                    # The sockets are idle in the leader's hands: it is inside
                    # the call and only looks at them again under this lock.
                    self._taken_over = True
                    self._inline = False
                    return True
                if self.stopping:
                    return False
                if self._inline:
                    watched = self._inline_calls
                elif self._inline_calls == seen_calls:
                    self._standby_asleep = True
                    self._wakeup.wait()  # until the leader runs a call, or stop
                    self._standby_asleep = False
                    continue
                seen_calls = self._inline_calls
                self._wakeup.wait(self.handover)

    # -- both ---------------------------------------------------------------------

    def stop(self) -> None:
        """Tell both threads to stop; wakes the standby."""
        with self._mutex:
            self.stopping = True
            self._wakeup.notify_all()
