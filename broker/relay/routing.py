"""The broker's routing, without I/O: where each call goes, what waits, what fails.

:class:`Routing` is a state machine. The broker's loop (:mod:`broker.relay.broker`)
feeds it what happened (a client's request, a host's reply, a host coming,
lost, back or gone, the passing of time) and performs the actions it
returns: :class:`Forward` a request to a host, :class:`Deliver` a reply to a
client, :class:`Refuse` a call with an error. It never touches a socket or
reads a clock of its own accord, so its rules are tested in memory.

The rules:

- ``TARGET/METHOD``: TARGET is a host id (that host) or a host name (the
  least recently used idle live host of that name, chosen per call; a
  ``silent`` host, inside a call that holds its GIL, is not chosen); a bare
  ``METHOD`` goes to the most recently attached live UI;
- nothing is sent to a host before the broker's connection to it is made
  (:meth:`Routing.linked`): calls wait for it as for a busy host;
- a host runs one service call at a time, so it is sent one at a time; the
  others wait, in arrival order, in the host's queue (calls by id) or the
  name's queue (calls by name), at most ``queue_limit`` in all; ``rpc.*``
  calls go at once (hosts answer them while busy);
- the broker itself answers ``HostNotFound`` (no such target), ``HostLost``
  (the host was lost or left while the call waited or ran: a call is never
  sent to another host, calls may not be idempotent), ``Timeout`` (queued
  longer than ``queue_timeout``) and a full queue (``Exception``).

Arguments and results stay packed: only the head of a body (kind, msgid,
method) is read and rewritten; out-of-band frames pass as they came.
"""

from __future__ import annotations

import collections
import itertools
import time
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Union

from ..wire.envelope import Head, rewrite_head
from ..wire.messages import MSGID_LIMIT, RESERVED_PREFIX, RESPONSE, UI

__all__ = ["Routing", "Forward", "Deliver", "Refuse", "Action"]


class Forward(NamedTuple):
    """Send ``frames`` (``[body, *oob]``, unsealed) to the host ``host_id``;
    ``msgid`` is the broker's own for this call (see :meth:`Routing.unreachable`)."""

    host_id: str
    msgid: int
    frames: List[Any]


class Deliver(NamedTuple):
    """Send ``frames`` (a host's reply, rewritten for the client) to ``client``."""

    client: Any
    frames: List[Any]


class Refuse(NamedTuple):
    """Answer ``client``'s call ``msgid`` with an error of wire type ``kind``."""

    client: Any
    msgid: int
    kind: str
    message: str


Action = Union[Forward, Deliver, Refuse]


class _Call:
    """A client's request, queued or in flight to a host."""

    __slots__ = ("client", "head", "frames", "target", "method", "seq", "arrived")

    def __init__(
        self, client: Any, head: Head, frames: List[Any], target: str, method: str, seq: int
    ) -> None:
        self.client = client
        self.head = head
        self.frames = frames  # [body, *oob]
        self.target = target
        self.method = method
        self.seq = seq
        self.arrived = 0.0

    @property
    def reserved(self) -> bool:
        return self.method.startswith(RESERVED_PREFIX)


class _Host:
    """One registered host (or attached UI), as routing sees it."""

    __slots__ = (
        "id",
        "name",
        "is_ui",
        "inflight",
        "queue",
        "busy",
        "lost",
        "silent",
        "linked",
        "last_used",
        "order",
    )

    def __init__(self, info: Dict[str, Any], order: int) -> None:
        self.id = str(info["id"])
        self.name = str(info["name"])
        self.is_ui = info.get("role") == UI
        self.inflight: Dict[int, _Call] = {}  # by the broker's msgid
        self.queue: Deque[_Call] = collections.deque()  # calls for this host's id
        self.busy = False  # a service call is in flight
        self.lost = False
        self.silent = False  # alive, its Python quiet: not chosen by name
        self.linked = False  # the broker's connection to it is made
        self.last_used = 0.0
        self.order = order  # of arrival, for "the latest UI"


class Routing:
    """The broker's routing state (see the module docstring).

    Arguments:
        queue_limit: calls waiting for busy hosts, across all hosts; more are
            refused at once.
        queue_timeout: seconds a call may wait in a queue before it is
            answered ``Timeout``; None waits as long as the host lives.
        clock: monotonic seconds; tests inject their own.
    """

    def __init__(
        self,
        *,
        queue_limit: int = 10_000,
        queue_timeout: Optional[float] = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue_limit = queue_limit
        self.queue_timeout = queue_timeout
        self._clock = clock
        self._hosts: Dict[str, _Host] = {}
        self._name_queues: Dict[str, Deque[_Call]] = {}
        self.queued = 0
        self._seq = itertools.count()
        self._msgids = itertools.count(1)
        self._order = itertools.count()

    @property
    def busy(self) -> bool:
        """Whether any host has a service call in flight."""
        return any(host.busy for host in self._hosts.values())

    def __contains__(self, host_id: object) -> bool:
        return host_id in self._hosts

    # -- calls ----------------------------------------------------------------------------

    def request(self, client: Any, head: Head, frames: List[Any]) -> List[Action]:
        """A client's request (not ``rpc.*`` for the broker itself), ``frames``
        being ``[body, *oob]``. ``head.method`` is ``TARGET/METHOD``, or a
        bare ``METHOD`` for the attached UI."""
        method = head.method or ""
        target, slash, inner = method.partition("/")
        if not slash:
            ui = self._latest_ui()
            if ui is None:
                text = f"no UI is attached to this broker to answer {method!r}"
                return [Refuse(client, head.msgid, "HostNotFound", text)]
            target, inner = ui.id, method
        call = _Call(client, head, frames, target, inner, next(self._seq))
        call.arrived = self._clock()
        return self._route(call)

    def reply(self, host_id: str, head: Head, frames: List[Any]) -> List[Action]:
        """A host's reply, ``frames`` being ``[body, *oob]``."""
        host = self._hosts.get(host_id)
        call = host.inflight.pop(head.msgid, None) if host is not None else None
        if host is None or call is None or head.kind != RESPONSE:
            return []  # a late reply to a call already answered HostLost
        body = rewrite_head(frames[0], head, call.head.msgid)
        actions: List[Action] = [Deliver(call.client, [body, *frames[1:]])]
        if not call.reserved:
            host.busy = False
            actions += self._next_for(host)
        return actions

    def unreachable(self, host_id: str, msgid: int, why: str) -> List[Action]:
        """The loop could not send the :class:`Forward` of ``msgid`` to the host."""
        host = self._hosts.get(host_id)
        call = host.inflight.pop(msgid, None) if host is not None else None
        if host is None or call is None:
            return []
        if not call.reserved:
            host.busy = False
        return [self._fail(call, "HostLost", f"cannot reach host {host_id}: {why}")]

    def tick(self) -> List[Action]:
        """Answer ``Timeout`` to the calls queued longer than ``queue_timeout``."""
        if self.queue_timeout is None or not self.queued:
            return []
        oldest = self._clock() - self.queue_timeout
        queues = [host.queue for host in self._hosts.values()] + list(self._name_queues.values())
        actions: List[Action] = []
        for queue in queues:
            while queue and queue[0].arrived < oldest:
                self.queued -= 1
                call = queue.popleft()
                text = f"waited {self.queue_timeout:g} s for a free host {call.target!r}"
                actions.append(self._fail(call, "Timeout", text))
        return actions

    # -- hosts coming and going -------------------------------------------------------------

    def add(self, info: Dict[str, Any]) -> List[Action]:
        """A host announced itself (at a new endpoint: it replaces the old one)."""
        actions = self.remove(str(info["id"]), "re-announced at a new endpoint")
        host = _Host(info, next(self._order))
        self._hosts[host.id] = host
        return actions + self._next_for(host)

    def linked(self, host_id: str, up: bool) -> List[Action]:
        """The broker's connection to a host was made (``up``) or dropped."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.linked = up
        if not up:
            return []
        # rpc.* calls that waited for the connection go at once, as they would have.
        waiting = [call for call in host.queue if call.reserved]
        if waiting:
            host.queue = collections.deque(call for call in host.queue if not call.reserved)
            self.queued -= len(waiting)
        return [self._forward(host, call) for call in waiting] + self._next_for(host)

    def silent(self, host_id: str) -> List[Action]:
        """A host whose connection answers went quiet (a call holding its GIL)."""
        host = self._hosts.get(host_id)
        if host is not None:
            host.silent = True
        return []

    def lost(self, host_id: str, why: str) -> List[Action]:
        """A host stopped heartbeating: every call to it fails; it may come back."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.lost = True
        host.busy = False
        return self._fail_host(host, why)

    def back(self, host_id: str) -> List[Action]:
        """A lost or silent host speaks again."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.lost = host.silent = False
        return self._next_for(host)

    def remove(self, host_id: str, why: str) -> List[Action]:
        """A host departed, was forgotten, or re-announced elsewhere."""
        host = self._hosts.pop(host_id, None)
        return [] if host is None else self._fail_host(host, why)

    # -- the rules ---------------------------------------------------------------------------

    def _route(self, call: _Call) -> List[Action]:
        host = self._hosts.get(call.target)
        if host is not None:
            if host.lost:
                return [self._fail(call, "HostLost", f"host {host.id} is lost")]
            if host.linked and (call.reserved or not host.busy):
                return [self._forward(host, call)]  # rpc.*: answered by the host's I/O thread
            return self._enqueue(host.queue, call)
        candidates = [
            h for h in self._hosts.values() if h.name == call.target and not h.lost and not h.is_ui
        ]
        if not candidates:
            text = f"no live host with id or name {call.target!r}"
            return [self._fail(call, "HostNotFound", text)]
        ready = [h for h in candidates if h.linked and not h.silent]
        if call.reserved and ready:
            return [self._forward(min(ready, key=_last_used), call)]
        idle = [h for h in ready if not h.busy]
        if idle and not call.reserved:
            return [self._forward(min(idle, key=_last_used), call)]
        return self._enqueue(self._name_queues.setdefault(call.target, collections.deque()), call)

    def _enqueue(self, queue: Deque[_Call], call: _Call) -> List[Action]:
        if self.queued >= self.queue_limit:
            text = f"the broker queue is full ({self.queue_limit} calls waiting)"
            return [self._fail(call, "Exception", text)]
        queue.append(call)
        self.queued += 1
        return []

    def _forward(self, host: _Host, call: _Call) -> Forward:
        msgid = next(self._msgids) % MSGID_LIMIT or next(self._msgids)  # never 0
        body = rewrite_head(call.frames[0], call.head, msgid, call.method)
        host.inflight[msgid] = call
        if not call.reserved:
            host.busy = True
            host.last_used = self._clock()
        return Forward(host.id, msgid, [body, *call.frames[1:]])

    def _next_for(self, host: _Host) -> List[Action]:
        """Give a free host the oldest calls waiting for it by id or by name:
        ``rpc.*`` calls, then one service call (which makes it busy)."""
        actions: List[Action] = []
        while not (host.busy or host.lost or not host.linked):  # each pass takes a call
            own = host.queue
            shared = None if host.is_ui or host.silent else self._name_queues.get(host.name)
            if own and (not shared or own[0].seq < shared[0].seq):
                queue: Deque[_Call] = own
            elif shared:
                queue = shared
            else:
                break
            self.queued -= 1
            actions.append(self._forward(host, queue.popleft()))
        return actions

    def _fail_host(self, host: _Host, why: str) -> List[Action]:
        """Answer HostLost to every call in flight to, or queued for, this host."""
        actions: List[Action] = [self._fail(c, "HostLost", why) for c in host.inflight.values()]
        host.inflight.clear()
        while host.queue:
            self.queued -= 1
            actions.append(self._fail(host.queue.popleft(), "HostLost", why))
        # Calls queued by name wait for another host of that name, if one lives.
        shared = self._name_queues.get(host.name)
        alive = any(
            h.name == host.name and not h.lost and h is not host for h in self._hosts.values()
        )
        if shared and not alive:
            while shared:
                self.queued -= 1
                actions.append(self._fail(shared.popleft(), "HostLost", why))
        return actions

    def _latest_ui(self) -> Optional[_Host]:
        uis = [h for h in self._hosts.values() if h.is_ui and not h.lost]
        return max(uis, key=lambda h: h.order) if uis else None

    @staticmethod
    def _fail(call: _Call, kind: str, message: str) -> Refuse:
        return Refuse(call.client, call.head.msgid, kind, message)


def _last_used(host: _Host) -> float:
    return host.last_used
