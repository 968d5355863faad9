"""Which hosts have announced themselves, and whether they are still alive.

The registry answers the UI endpoint's ``rpc.announce``, ``rpc.heartbeat``,
``rpc.depart`` and ``rpc.hosts`` (docs/protocol.md). Two things tell it
about a host:

- its heartbeats (Python, from the host's own thread) say ``idle`` or
  ``busy``;
- where its owner watches the host's connection (:meth:`HostRegistry.link`,
  fed by :class:`~broker.transport.links.Links`: ZMTP heartbeats answered by
  libzmq without the GIL), whether the host's process still answers at all.

A watched host whose connection drops is ``lost`` at once; one whose
heartbeats stop while its connection answers is ``silent`` (a call holding
the GIL), never lost for that. An unwatched host is ``lost`` after
``missed_heartbeats`` missed heartbeats. A host that speaks again is
``back``; one lost for ``forget_after`` seconds is dropped and would be
asked to announce again.

It holds no sockets and starts no threads: the UI adapter and the broker
call it from their I/O thread, and read it from any thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Literal, Optional, Tuple

from ..errors import HostNotFound, Overloaded
from ..wire.messages import (
    ANNOUNCE,
    BUSY,
    DEPART,
    HEARTBEAT,
    HOST_STATES,
    HOSTS,
    IDLE,
    LOST,
    SILENT,
    HostState,
)

__all__ = ["HostRegistry", "Event", "EventHook"]

#: What happened to a host: it was ``added`` (announced, or re-announced at a
#: new endpoint), went ``silent`` (alive, its Python quiet), was ``lost``,
#: came ``back`` (from silent or lost), ``departed``, or was ``forgotten``
#: (dropped after ``forget_after`` seconds lost).
Event = Literal["added", "silent", "lost", "back", "departed", "forgotten"]
#: ``on_event(event, info)``.
EventHook = Callable[[Event, Dict[str, Any]], None]


class _Record:
    __slots__ = ("info", "state", "reported", "seen", "last_seen", "used", "linked", "linked_at")

    def __init__(self, info: Dict[str, Any], now: float, watched: bool) -> None:
        self.info = info
        self.state: HostState = IDLE
        self.reported: HostState = IDLE  # what its latest heartbeat said
        self.seen = now  # monotonic, its latest heartbeat
        self.last_seen = time.time()  # wall clock, for people
        self.used = 0.0
        # None: nobody watches its connection; else whether it is up now.
        self.linked: Optional[bool] = False if watched else None
        self.linked_at = now  # when ``linked`` last changed

    def public(self) -> Dict[str, Any]:
        return {**self.info, "state": self.state, "last_seen": self.last_seen}


class HostRegistry:
    """The hosts known to one UI endpoint.

    Arguments:
        heartbeat_interval: seconds between heartbeats, told to each host
            in the reply to its announce.
        missed_heartbeats: heartbeats missed before a host is ``lost``.
        forget_after: seconds after which a lost host is dropped.
        on_event: called as ``on_event(kind, info)`` when a host is added,
            silent, lost, back, departed or forgotten; it runs on the
            caller's thread.
        watch_links: whether the owner watches each host's connection and
            reports it with :meth:`link` (then silence is ``silent``, and a
            host whose connection is never made within the lost delay is
            lost as unreachable).
        capacity: hosts it holds at most; an announce past that is refused
            (:class:`~broker.errors.Overloaded`). None: no limit.
        clock: monotonic seconds; tests inject their own.

    Every operation costs the same whatever the number of hosts, except
    listing: :meth:`check` looks only at the hosts whose time is up (the
    live ones are kept in order of their latest heartbeat), and :meth:`find`
    only at the hosts of that name.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        forget_after: float = 60.0,
        on_event: Optional[EventHook] = None,
        watch_links: bool = False,
        capacity: Optional[int] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if heartbeat_interval <= 0 or missed_heartbeats < 1:
            raise ValueError("heartbeat_interval must be > 0 and missed_heartbeats >= 1")
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.forget_after = forget_after
        self._on_event = on_event
        self.watch_links = watch_links
        self._clock = clock
        self.capacity = capacity
        self._hosts: Dict[str, _Record] = {}
        self._index = _Index()
        self._changed = threading.Condition()

    # -- the rpc.* handlers --------------------------------------------------

    def handlers(self) -> Dict[str, Callable[..., Any]]:
        """The UI endpoint's ``rpc.*`` methods this registry answers."""
        return {
            ANNOUNCE: self.announce,
            HEARTBEAT: self.heartbeat,
            DEPART: self.depart,
            HOSTS: self._hosts_query,
        }

    def announce(self, info: Dict[str, Any]) -> Dict[str, Any]:
        """Register (or refresh) a host. Returns ``{"heartbeat": seconds}``.

        Raises:
            Overloaded: it holds ``capacity`` hosts already.
        """
        info = _checked_info(info)
        with self._changed:
            old = self._hosts.get(info["id"])
            if old is None and self.capacity is not None and len(self._hosts) >= self.capacity:
                raise Overloaded(
                    f"this endpoint holds {self.capacity:,} hosts, as many as it can"
                    " (raise its open-files limit, or --max-hosts); try again later"
                )
            is_new = old is None or old.info["endpoint"] != info["endpoint"]
            record = _Record(info, self._clock(), self.watch_links)
            came_back = False
            if old is not None and not is_new:
                # The same host again (it lost track of us): its connection stays.
                record.linked, record.linked_at = old.linked, old.linked_at
                came_back = old.state in (LOST, SILENT) and record.linked is not False
                if old.state == LOST and not came_back:
                    record.state = LOST
            if old is not None:
                self._index.remove(info["id"], old)
            self._hosts[info["id"]] = record
            self._index.add(info["id"], record)
            self._changed.notify_all()
            public = record.public()
        if is_new:
            self._emit("added", public)
        elif came_back:
            self._emit("back", public)
        return {"heartbeat": self.heartbeat_interval}

    def heartbeat(self, host_id: str, state: str = "idle") -> bool:
        """Record a heartbeat. False means "unknown host: announce again"."""
        if not isinstance(host_id, str) or state not in HOST_STATES:
            raise TypeError("heartbeat takes (id: str, state: 'idle' | 'busy')")
        with self._changed:
            record = self._hosts.get(host_id)
            if record is None:
                return False
            record.reported = state  # type: ignore[assignment]
            record.seen = self._clock()
            record.last_seen = time.time()
            came_back = record.state in (LOST, SILENT) and record.linked is not False
            changed = record.state != record.reported
            if record.state != LOST or came_back:
                record.state = record.reported
            self._index.place(host_id, record, fresh=True)
            if changed:
                self._changed.notify_all()
            public = record.public() if came_back else None
        if public is not None:
            self._emit("back", public)
        return True

    def link(self, host_id: str, up: bool) -> None:
        """The owner's watch says the host's connection was made (``up``) or
        dropped: a drop makes it ``lost`` at once, a new connection ``back``."""
        with self._changed:
            record = self._hosts.get(host_id)
            if record is None or record.linked is None or record.linked == up:
                return
            record.linked = up
            record.linked_at = self._clock()
            event: Optional[Event] = None
            if not up and record.state != LOST:
                record.state, event = LOST, "lost"
            elif up and record.state == LOST:
                record.state, event = record.reported, "back"
                record.seen = record.linked_at  # its heartbeats get a fresh start
            self._index.place(host_id, record, fresh=event == "back")
            self._changed.notify_all()
            public = record.public()
        if event is not None:
            self._emit(event, public)

    def depart(self, host_id: str) -> None:
        """Forget a host that is stopping cleanly."""
        if not isinstance(host_id, str):
            raise TypeError("depart takes (id: str)")
        with self._changed:
            record = self._hosts.pop(host_id, None)
            if record is not None:
                self._index.remove(host_id, record)
            self._changed.notify_all()
        if record is not None:
            self._emit("departed", {**record.public(), "state": "departed"})

    def hosts(
        self,
        name: Optional[str] = None,
        state: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """The known hosts (announce info plus ``state`` and ``last_seen``),
        in the order of their ids: those of ``name`` and in ``state`` when
        given, with an id after ``after``, at most ``limit`` of them (a page:
        ask again with ``after`` the last id for the next)."""
        with self._changed:
            ids = self._index.named(name) if name is not None else self._hosts
            chosen = sorted(i for i in ids if after is None or i > after)
            found = []
            for host_id in chosen:
                record = self._hosts[host_id]
                if state is None or record.state == state:
                    found.append(record.public())
                    if limit is not None and len(found) >= limit:
                        break
            return found

    def _hosts_query(self, query: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """``rpc.hosts([{name, state, after, limit}])``: :meth:`hosts`, for the wire."""
        return self.hosts(**_checked_query(query))

    # -- liveness --------------------------------------------------------------

    def check(self) -> None:
        """Judge the hosts whose heartbeats stopped (``silent`` while their
        connection answers, else ``lost``) or whose connection was never
        made; drop hosts lost for ``forget_after`` seconds. Looks only at
        hosts whose time is up."""
        now = self._clock()
        lost_after = self.heartbeat_interval * self.missed_heartbeats
        with self._changed:
            judged = self._index.judge(self._hosts, now, lost_after, self.forget_after)
            events = [(kind, record.public()) for kind, record in judged]
            if events:
                self._changed.notify_all()
        for kind, public in events:
            self._emit(kind, public)

    def state_of(self, host_id: str) -> Optional[str]:
        """``"idle"``, ``"busy"``, ``"silent"`` or ``"lost"``; None when
        unknown (departed)."""
        with self._changed:
            record = self._hosts.get(host_id)
            return None if record is None else record.state

    def is_linked(self, host_id: str) -> Optional[bool]:
        """Whether the owner's connection to the host is up now; None when
        nobody watches it (or the host is unknown)."""
        with self._changed:
            record = self._hosts.get(host_id)
            return None if record is None else record.linked

    def __len__(self) -> int:
        return len(self._hosts)

    # -- lookups -----------------------------------------------------------------

    def find(self, id_or_name: str) -> Dict[str, Any]:
        """The host with that id; else the least recently used live host of that name.

        Prefers idle hosts, then busy ones; a silent one only when no other
        lives. Marks the host as used now.

        Raises:
            HostNotFound: no such id, and no live host of that name.
        """
        with self._changed:
            record = self._hosts.get(id_or_name)
            if record is None:
                record = self._index.least_used(id_or_name, self._hosts)
            if record is None:
                known = sorted(self._index.names)[:20]
                raise HostNotFound(
                    f"no live host with id or name {id_or_name!r} (known names: {known})"
                )
            record.used = self._clock()
            return record.public()

    def wait_for(
        self, name: Optional[str] = None, timeout: Optional[float] = 10.0
    ) -> Dict[str, Any]:
        """Block until a live host (of ``name``, if given) is known; return its info.

        Raises:
            HostNotFound: none arrived within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                ids: Iterable[str] = self._hosts if name is None else self._index.named(name)
                for host_id in ids:
                    record = self._hosts[host_id]
                    if record.state != LOST:
                        return record.public()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    what = f"named {name!r} " if name else ""
                    raise HostNotFound(f"no host {what}announced itself within {timeout:g} s")
                self._changed.wait(remaining)

    def _emit(self, kind: Event, info: Dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(kind, info)


_PREFERENCE = {IDLE: 0, BUSY: 1, SILENT: 2, LOST: 3}
_QUERY = {"name": str, "state": str, "after": str, "limit": int}


class _Index:
    """The registry's indexes over its records, by host id, so that no
    operation but listing visits every host: the live (idle, busy) hosts in
    the order of their latest sign of life; the watched hosts whose
    connection is down; the lost hosts; the hosts of each name."""

    def __init__(self) -> None:
        self.live: OrderedDict[str, None] = OrderedDict()
        self.unlinked: Dict[str, None] = {}
        self.lost: Dict[str, None] = {}
        self.names: Dict[str, Dict[str, None]] = {}

    def add(self, host_id: str, record: _Record) -> None:
        """A new (or re-announced) record: filed by name, and fresh."""
        self.names.setdefault(record.info["name"], {})[host_id] = None
        self.place(host_id, record, fresh=True)

    def place(self, host_id: str, record: _Record, *, fresh: bool) -> None:
        """File ``record`` by its state; ``fresh``: it just showed a sign of
        life (its ``seen`` is now), so it goes last in the live order."""
        if record.state in (IDLE, BUSY):
            if fresh or host_id not in self.live:
                self.live[host_id] = None
                self.live.move_to_end(host_id)
        else:
            self.live.pop(host_id, None)
        _file(self.lost, host_id, record.state == LOST)
        _file(self.unlinked, host_id, record.linked is False and record.state != LOST)

    def remove(self, host_id: str, record: _Record) -> None:
        self.live.pop(host_id, None)
        self.unlinked.pop(host_id, None)
        self.lost.pop(host_id, None)
        named = self.names.get(record.info["name"])
        if named is not None:
            named.pop(host_id, None)
            if not named:
                del self.names[record.info["name"]]

    def named(self, name: str) -> Dict[str, None]:
        return self.names.get(name, {})

    def judge(
        self, records: Dict[str, _Record], now: float, lost_after: float, forget_after: float
    ) -> List[Tuple[Event, _Record]]:
        """What :meth:`HostRegistry.check` finds, looking only at hosts whose
        time is up: live ones quiet for ``lost_after`` become ``silent`` (their
        connection answers) or ``lost`` (nobody watches it); those whose
        connection stayed down that long, ``lost``; those lost for
        ``forget_after``, ``forgotten`` (dropped from ``records``)."""
        unreachable = [i for i in self.unlinked if now - records[i].linked_at > lost_after]
        judged: List[Tuple[Event, _Record]] = [("lost", records[i]) for i in unreachable]
        judged_ids = set(unreachable)
        for host_id in self.live:
            record = records[host_id]
            if record.seen >= now - lost_after:
                break  # the rest heard from later
            if host_id not in judged_ids:
                judged.append(("lost" if record.linked is None else "silent", record))
        for kind, record in judged:
            record.state = LOST if kind == "lost" else SILENT
            self.place(record.info["id"], record, fresh=False)
        for host_id in list(self.lost):
            record = records[host_id]
            if now - max(record.seen, record.linked_at) > forget_after:
                del records[host_id]
                self.remove(host_id, record)
                judged.append(("forgotten", record))
        return judged

    def least_used(self, name: str, records: Dict[str, _Record]) -> Optional[_Record]:
        """The live host of ``name`` to choose: idle before busy before
        silent, the least recently used among equals."""
        live = [records[i] for i in self.named(name) if records[i].state != LOST]
        return min(live, key=lambda r: (_PREFERENCE[r.state], r.used)) if live else None


def _file(index: Dict[str, None], host_id: str, member: bool) -> None:
    if member:
        index[host_id] = None
    else:
        index.pop(host_id, None)


def _checked_query(query: Any) -> Dict[str, Any]:
    """The keywords of :meth:`HostRegistry.hosts` in an ``rpc.hosts`` query map."""
    if query is None:
        return {}
    if not isinstance(query, dict) or not set(query) <= _QUERY.keys():
        raise TypeError("rpc.hosts takes one optional map: {name, state, after, limit}")
    for key, kind in _QUERY.items():
        if query.get(key) is not None and not isinstance(query[key], kind):
            raise TypeError(f"rpc.hosts: {key!r} must be a {kind.__name__}")
    if query.get("state") not in (None, *HOST_STATES, LOST, SILENT):
        raise TypeError(f"rpc.hosts: no state {query['state']!r}")
    if query.get("limit") is not None and query["limit"] < 1:
        raise TypeError("rpc.hosts: limit must be at least 1")
    return query


_REQUIRED = {"id": str, "name": str, "endpoint": str}


def _checked_info(info: Any) -> Dict[str, Any]:
    if not isinstance(info, dict):
        raise TypeError("announce takes one map: {id, name, endpoint, pid, hostname, protocol}")
    for key, kind in _REQUIRED.items():
        if not isinstance(info.get(key), kind) or not info[key]:
            raise TypeError(f"announce info needs a non-empty str {key!r}")
    if "/" in info["id"] or "/" in info["name"]:
        raise TypeError("a host id or name cannot contain '/' (it separates TARGET/METHOD)")
    return dict(info)
