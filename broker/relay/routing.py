"""The broker's routing, without I/O: where each call goes, what waits, what fails.

:class:`Routing` is a state machine. The broker's loop (:mod:`broker.relay.broker`)
feeds it what happened (a client's request, a host's reply, a host coming,
lost, back or gone, the passing of time) and performs the actions it
returns: :class:`Forward` a request to a host, :class:`Deliver` a reply to a
client, :class:`Refuse` a call with an error. It never touches a socket or
reads a clock of its own accord, so its rules are tested in memory.

The rules:

- ``TARGET/METHOD``: TARGET is a host id (that host) or a host name (the
  least loaded live host of that name, the least recently used among equals,
  chosen per call; a ``silent`` host, inside a call that holds its GIL, is
  not chosen); a bare ``METHOD`` goes to the most recently attached live UI;
- nothing is sent to a host before the broker's connection to it is made
  (:meth:`Routing.linked`): calls wait for it as for a busy host;
- up to ``window`` service calls are in flight to a host at once (the host
  runs them one after the other, in order, and answers each; the broker
  need not wait for one answer before it sends the next); the others wait,
  in arrival order, in the host's queue (calls by id) or the name's queue
  (calls by name), at most ``queue_limit`` in all; ``rpc.*`` calls go at
  once (hosts answer them while busy);
- the broker itself answers ``HostNotFound`` (no such target), ``HostLost``
  (the host was lost or left while the call waited or ran: a call is never
  sent to another host, calls may not be idempotent), ``Timeout`` (queued
  longer than ``queue_timeout``) and ``Overloaded`` (the queue is full).

Every event costs the same whatever the number of hosts: hosts are found by
id in a map, by name in buckets of ready hosts by load, and waiting calls
expire from one queue in arrival order.

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
from .pools import Pools

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

    __slots__ = ("client", "head", "frames", "target", "method", "seq", "arrived", "waiting")

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
        self.waiting = False  # in a queue; False again once sent or answered

    @property
    def reserved(self) -> bool:
        return self.method.startswith(RESERVED_PREFIX)


class _Host:
    """One registered host (or attached UI), as routing sees it."""

    __slots__ = ("id", "name", "is_ui", "inflight", "queue", "load", "lost", "silent", "linked")

    def __init__(self, info: Dict[str, Any]) -> None:
        self.id = str(info["id"])
        self.name = str(info["name"])
        self.is_ui = info.get("role") == UI
        self.inflight: Dict[int, _Call] = {}  # by the broker's msgid
        self.queue: Deque[_Call] = collections.deque()  # calls for this host's id
        self.load = 0  # service calls in flight
        self.lost = False
        self.silent = False  # alive, its Python quiet: not chosen by name
        self.linked = False  # the broker's connection to it is made


class _Directory:
    """The hosts and UIs routing knows, by id, by name, and the UIs in the
    order they attached."""

    def __init__(self) -> None:
        self.by_id: Dict[str, _Host] = {}
        self._named: Dict[str, Dict[str, _Host]] = {}
        self._uis: Dict[str, _Host] = {}

    def add(self, host: _Host) -> None:
        self.by_id[host.id] = host
        if host.is_ui:
            self._uis[host.id] = host
        else:
            self._named.setdefault(host.name, {})[host.id] = host

    def pop(self, host_id: str) -> Optional[_Host]:
        host = self.by_id.pop(host_id, None)
        if host is not None:
            self._uis.pop(host_id, None)
            named = self._named.get(host.name, {})
            named.pop(host_id, None)
            if not named:
                self._named.pop(host.name, None)
        return host

    def named(self, name: str) -> Dict[str, _Host]:
        return self._named.get(name, {})

    def latest_ui(self) -> Optional[_Host]:
        for ui in reversed(self._uis.values()):
            if not ui.lost:
                return ui
        return None


class Routing:
    """The broker's routing state (see the module docstring).

    Arguments:
        window: service calls in flight to one host at once.
        queue_limit: calls waiting for busy hosts, across all hosts; more are
            refused at once.
        queue_timeout: seconds a call may wait in a queue before it is
            answered ``Timeout``; None waits as long as the host lives.
        clock: monotonic seconds; tests inject their own.
    """

    def __init__(
        self,
        *,
        window: int = 8,
        queue_limit: int = 10_000,
        queue_timeout: Optional[float] = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.queue_limit = queue_limit
        self.queue_timeout = queue_timeout
        self._clock = clock
        self._directory = _Directory()
        self._hosts = self._directory.by_id
        self._ready = Pools(window)
        self._name_queues: Dict[str, Deque[_Call]] = {}
        self._arrivals: Deque[_Call] = collections.deque()  # queued calls, for timeouts
        self.queued = 0
        self.in_flight = 0  # service calls in flight, to every host
        self._seq = itertools.count()
        self._msgids = itertools.count(1)

    @property
    def busy(self) -> bool:
        """Whether any host has a service call in flight."""
        return self.in_flight > 0

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
            ui = self._directory.latest_ui()
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
            self._unload(host)
            actions += self._next_for(host)
        return actions

    def unreachable(self, host_id: str, msgid: int, why: str) -> List[Action]:
        """The loop could not send the :class:`Forward` of ``msgid`` to the host."""
        host = self._hosts.get(host_id)
        call = host.inflight.pop(msgid, None) if host is not None else None
        if host is None or call is None:
            return []
        if not call.reserved:
            self._unload(host)
        return [self._fail(call, "HostLost", f"cannot reach host {host_id}: {why}")]

    def tick(self) -> List[Action]:
        """Answer ``Timeout`` to the calls queued longer than ``queue_timeout``."""
        arrivals = self._arrivals
        actions: List[Action] = []
        oldest = self._clock() - (self.queue_timeout or 0.0)
        while arrivals and (not arrivals[0].waiting or arrivals[0].arrived < oldest):
            call = arrivals.popleft()
            if call.waiting:  # still queued: it stays in its queue, skipped there
                self._unqueue(call)
                text = f"waited {self.queue_timeout:g} s for a free host {call.target!r}"
                actions.append(self._fail(call, "Timeout", text))
        return actions

    # -- hosts coming and going -------------------------------------------------------------

    def add(self, info: Dict[str, Any]) -> List[Action]:
        """A host announced itself (at a new endpoint: it replaces the old one)."""
        actions = self.remove(str(info["id"]), "re-announced at a new endpoint")
        host = _Host(info)
        self._directory.add(host)
        return actions + self._next_for(host)

    def linked(self, host_id: str, up: bool) -> List[Action]:
        """The broker's connection to a host was made (``up``) or dropped."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.linked = up
        self._refile(host)
        if not up:
            return []
        # rpc.* calls that waited for the connection go at once, as they would have.
        waiting = [call for call in host.queue if call.waiting and call.reserved]
        for call in waiting:
            self._unqueue(call)
        return [self._forward(host, call) for call in waiting] + self._next_for(host)

    def silent(self, host_id: str) -> List[Action]:
        """A host whose connection answers went quiet (a call holding its GIL)."""
        host = self._hosts.get(host_id)
        if host is not None:
            host.silent = True
            self._refile(host)
        return []

    def lost(self, host_id: str, why: str) -> List[Action]:
        """A host stopped heartbeating: every call to it fails; it may come back."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.lost = True
        return self._fail_host(host, why)

    def back(self, host_id: str) -> List[Action]:
        """A lost or silent host speaks again."""
        host = self._hosts.get(host_id)
        if host is None:
            return []
        host.lost = host.silent = False
        self._refile(host)
        return self._next_for(host)

    def remove(self, host_id: str, why: str) -> List[Action]:
        """A host departed, was forgotten, or re-announced elsewhere."""
        host = self._directory.pop(host_id)
        return [] if host is None else self._fail_host(host, why)

    # -- the rules ---------------------------------------------------------------------------

    def _route(self, call: _Call) -> List[Action]:
        host = self._hosts.get(call.target)
        if host is not None:
            if host.lost:
                return [self._fail(call, "HostLost", f"host {host.id} is lost")]
            room = host.load < self.window and _head(host.queue) is None
            if host.linked and (call.reserved or room):
                return [self._forward(host, call)]  # rpc.*: answered by the host's I/O thread
            return self._enqueue(host.queue, call)
        waiting = self._name_queues.get(call.target)
        chosen = self._ready.choose(call.target) if _head(waiting) is None else None
        if chosen is not None:  # the common case: no scan of the name's hosts
            return [self._forward(self._hosts[chosen.id], call)]
        named = self._directory.named(call.target)
        if not any(not h.lost for h in named.values()):
            text = f"no live host with id or name {call.target!r}"
            return [self._fail(call, "HostNotFound", text)]
        awake = next((h for h in named.values() if _answers(h)), None) if call.reserved else None
        if awake is not None:  # rpc.*: any live one answers while busy
            return [self._forward(awake, call)]
        return self._enqueue(self._name_queues.setdefault(call.target, collections.deque()), call)

    def _enqueue(self, queue: Deque[_Call], call: _Call) -> List[Action]:
        if self.queued >= self.queue_limit:
            text = f"the broker queue is full ({self.queue_limit} calls waiting)"
            return [self._fail(call, "Overloaded", text)]
        queue.append(call)
        call.waiting = True
        self.queued += 1
        if self.queue_timeout is not None:
            self._arrivals.append(call)
        return []

    def _unqueue(self, call: _Call) -> None:
        """``call`` leaves the queues (it stays in its deque, skipped there)."""
        call.waiting = False
        self.queued -= 1

    def _forward(self, host: _Host, call: _Call) -> Forward:
        msgid = next(self._msgids) % MSGID_LIMIT or next(self._msgids)  # never 0
        body = rewrite_head(call.frames[0], call.head, msgid, call.method)
        host.inflight[msgid] = call
        if not call.reserved:
            host.load += 1
            self.in_flight += 1
            self._refile(host)
        return Forward(host.id, msgid, [body, *call.frames[1:]])

    def _unload(self, host: _Host) -> None:
        host.load -= 1
        self.in_flight -= 1
        self._refile(host)

    def _refile(self, host: _Host) -> None:
        self._ready.file(host, _answers(host) and not host.is_ui)

    def _next_for(self, host: _Host) -> List[Action]:
        """Give a host with room the oldest calls waiting for it by id or by
        name: ``rpc.*`` calls at once, service calls up to its window."""
        actions: List[Action] = []
        shared = None if host.is_ui or host.silent else self._name_queues.get(host.name)
        while host.linked and not host.lost:  # each pass takes a call
            own_head, shared_head = _head(host.queue), _head(shared)
            if own_head is not None and (shared_head is None or own_head.seq < shared_head.seq):
                queue, call = host.queue, own_head
            elif shared_head is not None and shared is not None:
                queue, call = shared, shared_head
            else:
                break
            if not call.reserved and host.load >= self.window:
                break
            queue.popleft()
            self._unqueue(call)
            actions.append(self._forward(host, call))
        if shared is not None and not shared:
            del self._name_queues[host.name]
        return actions

    def _fail_host(self, host: _Host, why: str) -> List[Action]:
        """Answer HostLost to every call in flight to, or queued for, this host."""
        actions: List[Action] = [self._fail(c, "HostLost", why) for c in host.inflight.values()]
        for call in host.inflight.values():
            if not call.reserved:
                self.in_flight -= 1
        host.inflight.clear()
        host.load = 0
        self._ready.drop(host)
        actions += self._drain(host.queue, why)
        # Calls queued by name wait for another host of that name, if one lives.
        alive = any(not h.lost and h is not host for h in self._directory.named(host.name).values())
        if not alive:
            actions += self._drain(self._name_queues.pop(host.name, collections.deque()), why)
        return actions

    def _drain(self, queue: Deque[_Call], why: str) -> List[Action]:
        actions: List[Action] = []
        while queue:
            call = queue.popleft()
            if call.waiting:
                self._unqueue(call)
                actions.append(self._fail(call, "HostLost", why))
        return actions

    @staticmethod
    def _fail(call: _Call, kind: str, message: str) -> Refuse:
        return Refuse(call.client, call.head.msgid, kind, message)


def _answers(host: _Host) -> bool:
    """Whether ``host`` answers ``rpc.*`` now (its connection is up, its Python awake)."""
    return host.linked and not (host.lost or host.silent)


def _head(queue: Optional[Deque[_Call]]) -> Optional[_Call]:
    """The oldest call still waiting in ``queue`` (dropping those answered)."""
    while queue:
        if queue[0].waiting:
            return queue[0]
        queue.popleft()
    return None
