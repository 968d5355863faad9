"""The calls in flight on one connection, without I/O: msgids, deadlines, replies.

A :class:`CallTable` is the part of a client that every way of calling
shares: the REQ proxy (one call at a time), the pipeline and the asyncio
proxy (many at once), and the announcer (one at a time, forever). It
allocates msgids, remembers what each call is and when it must end, matches
each reply to its call, blames a refused or undecodable reply on the call
it names, and times calls out. It does no I/O and never reads a clock of
its own accord: the driver owns the socket and says what arrived and when::

    table = CallTable("tcp://127.0.0.1:54321")
    call = table.open("add", timeout=30)            # msgid allocated
    frames = codec.encode_request(call.msgid, "add", [5, 10])
    ...                                              # send; receive a reply
    table.settle(codec.decode(reply_frames))         # -> call, now done
    call.result()                                    # 15, or raises

msgids run from 1 to 2**32 - 1 and wrap, skipping the ones still in flight;
0 is never used, because it is what a peer answers when it cannot read the
msgid of what it refused (:func:`broker.wire.envelope.salvage_msgid`).
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import CallTimeout, RpcError, from_error_map
from .messages import MSGID_LIMIT, Response

if TYPE_CHECKING:
    from .codec import Codec

__all__ = ["Call", "CallTable"]

_PENDING = object()


class Call:
    """One call: its msgid, method and deadline, then its outcome.

    ``waiter`` is the driver's: whatever it needs to hand the outcome on (an
    asyncio future, say).
    """

    __slots__ = ("msgid", "method", "timeout", "deadline", "waiter", "_outcome", "_failed")

    def __init__(
        self, msgid: int, method: str, timeout: Optional[float], deadline: Optional[float]
    ) -> None:
        self.msgid = msgid
        self.method = method
        self.timeout = timeout
        self.deadline = deadline
        self.waiter: Any = None
        self._outcome: Any = _PENDING
        self._failed = False

    @property
    def done(self) -> bool:
        """Whether the reply (or the error that ended the call) is here."""
        return self._outcome is not _PENDING

    def result(self) -> Any:
        """The result; raises the error the call ended with.

        Raises:
            RuntimeError: the call is not done yet.
        """
        if self._outcome is _PENDING:
            raise RuntimeError(f"call {self.msgid} ({self.method}) is not done")
        if self._failed:
            raise self._outcome
        return self._outcome

    def exception(self) -> Optional[BaseException]:
        """The error the call ended with, or None (also while not done)."""
        return self._outcome if self._failed else None

    def _succeed(self, result: Any) -> None:
        self._outcome = result

    def _fail(self, error: BaseException) -> None:
        self._outcome = error
        self._failed = True

    def __repr__(self) -> str:
        state = "pending" if not self.done else ("failed" if self._failed else "done")
        return f"<Call {self.msgid} {self.method} {state}>"


class CallTable:
    """The calls in flight on one connection.

    Arguments:
        endpoint: where the calls go, for error messages.
        clock: monotonic seconds; tests inject their own.
        first_msgid: the first msgid to allocate (tests of wrap-around).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_msgid: int = 1,
    ) -> None:
        if not 0 < first_msgid < MSGID_LIMIT:
            raise ValueError(f"msgids run from 1 to {MSGID_LIMIT - 1}, not {first_msgid}")
        self.endpoint = endpoint
        self._clock = clock
        self._next = first_msgid
        self._calls: Dict[int, Call] = {}  # in the order they were opened
        self._deadlines: List[Tuple[float, int, Call]] = []  # a heap; stale entries skipped
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, msgid: object) -> bool:
        return msgid in self._calls

    def __iter__(self) -> Iterator[Call]:
        """The calls in flight, oldest first."""
        return iter(list(self._calls.values()))

    def get(self, msgid: int) -> Optional[Call]:
        """The call in flight with that msgid, or None."""
        return self._calls.get(msgid)

    # -- opening ------------------------------------------------------------------

    def open(self, method: str, timeout: Optional[float] = None) -> Call:
        """Start a call: allocate its msgid and start its timeout.

        Arguments:
            method: the method called, for error messages.
            timeout: seconds until :meth:`expire` times it out; None: never.
        """
        msgid = self._allocate()
        deadline = None if timeout is None else self._clock() + timeout
        call = Call(msgid, method, timeout, deadline)
        self._calls[msgid] = call
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, next(self._order), call))
        return call

    def open_request(
        self,
        codec: Codec,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Tuple[Call, List[Any]]:
        """:meth:`open` a call and encode its request: ``(call, frames)``.

        Encoding comes first, so a call too large or that msgpack cannot
        carry opens nothing and nothing is sent.

        Raises:
            MessageTooLarge, TypeError: from :meth:`~broker.wire.codec.Codec.encode_request`.
        """
        call = self.open(method, timeout)
        try:
            return call, codec.encode_request(call.msgid, method, args, kwargs)
        except BaseException:
            self.discard(call)
            raise

    def _allocate(self) -> int:
        for _ in range(len(self._calls) + 1):  # one of these is free
            msgid = self._next
            self._next = msgid + 1 if msgid + 1 < MSGID_LIMIT else 1
            if msgid not in self._calls:
                return msgid
        raise AssertionError("unreachable: more calls in flight than msgids")  # pragma: no cover

    def discard(self, call: Call) -> None:
        """Forget a call whose request was never sent, or that its caller
        abandoned (Ctrl-C, a cancelled coroutine): a late reply finds nobody."""
        if self._calls.get(call.msgid) is call:
            del self._calls[call.msgid]

    # -- ending ---------------------------------------------------------------------

    def settle(self, response: Response) -> Optional[Call]:
        """End the call ``response`` answers, with its result or its error.

        Returns the call, now done; None for a reply no call waits for (one
        that came after its call timed out or was discarded).
        """
        call = self._calls.pop(response.msgid, None)
        if call is None:
            return None
        if response.error is not None:
            call._fail(from_error_map(response.error, endpoint=self.endpoint, method=call.method))
        else:
            call._succeed(response.result)
        return call

    def blame(self, msgid: int, error: RpcError, *, sole: bool = False) -> Optional[Call]:
        """End the call a reply that could not be accepted names.

        Arguments:
            msgid: what :func:`~broker.wire.envelope.salvage_msgid` read (0:
                nothing could be read).
            error: why the reply was not accepted (``Unauthorized``,
                ``ProtocolError``, ``MessageTooLarge``); the call fails with
                an error of the same class that names the call.
            sole: the connection carries one call at a time (REQ): a reply
                whose msgid names no call belongs to the one in flight.

        Returns the call, now failed; None when no call can be blamed.
        """
        call = self._calls.pop(msgid, None)
        if call is None and sole and len(self._calls) == 1:
            call = self._calls.pop(next(iter(self._calls)))
        if call is None:
            return None
        call._fail(type(error)(f"reply to {call.method} from {self.endpoint}: {error}"))
        return call

    def fail(self, call: Call, error: BaseException) -> None:
        """End one call with ``error`` (a lost host, a broken connection)."""
        if self._calls.get(call.msgid) is call:
            del self._calls[call.msgid]
        call._fail(error)

    def fail_all(self, error: BaseException) -> List[Call]:
        """End every call in flight with ``error``; returns them."""
        calls = list(self._calls.values())
        self._calls.clear()
        self._deadlines.clear()
        for call in calls:
            call._fail(error)
        return calls

    # -- time -------------------------------------------------------------------------

    def expire(self) -> List[Call]:
        """Time out the calls past their deadline; returns them, failed with
        :class:`~broker.errors.CallTimeout`."""
        now = self._clock()
        expired = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, call = heapq.heappop(deadlines)
            if self._calls.get(call.msgid) is not call:
                continue  # already ended
            del self._calls[call.msgid]
            call._fail(
                CallTimeout(f"{call.method} at {self.endpoint}: no reply within {call.timeout:g} s")
            )
            expired.append(call)
        return expired

    def next_deadline(self) -> Optional[float]:
        """When the next call times out (on the table's clock); None: no call has a deadline."""
        deadlines = self._deadlines
        while deadlines and self._calls.get(deadlines[0][2].msgid) is not deadlines[0][2]:
            heapq.heappop(deadlines)  # already ended
        return deadlines[0][0] if deadlines else None

    def wait_for(self, limit: Optional[float] = None) -> Optional[float]:
        """Seconds a driver may block before something is due: the next
        deadline, capped at ``limit`` (None: no cap). None: block freely."""
        deadline = self.next_deadline()
        wait = None if deadline is None else max(0.0, deadline - self._clock())
        if limit is not None and (wait is None or wait > limit):
            return limit
        return wait
