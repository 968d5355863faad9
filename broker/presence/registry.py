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
from typing import Any, Callable, Dict, List, Literal, Optional

from ..errors import HostNotFound
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
        clock: monotonic seconds; tests inject their own.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        forget_after: float = 60.0,
        on_event: Optional[EventHook] = None,
        watch_links: bool = False,
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
        self._hosts: Dict[str, _Record] = {}
        self._changed = threading.Condition()

    # -- the rpc.* handlers --------------------------------------------------

    def handlers(self) -> Dict[str, Callable[..., Any]]:
        """The UI endpoint's ``rpc.*`` methods this registry answers."""
        return {
            ANNOUNCE: self.announce,
            HEARTBEAT: self.heartbeat,
            DEPART: self.depart,
            HOSTS: self.hosts,
        }

    def announce(self, info: Dict[str, Any]) -> Dict[str, Any]:
        """Register (or refresh) a host. Returns ``{"heartbeat": seconds}``."""
        info = _checked_info(info)
        with self._changed:
            old = self._hosts.get(info["id"])
            is_new = old is None or old.info["endpoint"] != info["endpoint"]
            record = _Record(info, self._clock(), self.watch_links)
            came_back = False
            if old is not None and not is_new:
                # The same host again (it lost track of us): its connection stays.
                record.linked, record.linked_at = old.linked, old.linked_at
                came_back = old.state in (LOST, SILENT) and record.linked is not False
                if old.state == LOST and not came_back:
                    record.state = LOST
            self._hosts[info["id"]] = record
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
            if record.state != LOST or came_back:
                record.state = record.reported
            self._changed.notify_all()
            public = record.public()
        if came_back:
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
            self._changed.notify_all()
        if record is not None:
            self._emit("departed", {**record.public(), "state": "departed"})

    def hosts(self) -> List[Dict[str, Any]]:
        """Every known host: its announce info plus ``state`` and ``last_seen``."""
        with self._changed:
            return [record.public() for record in self._hosts.values()]

    # -- liveness --------------------------------------------------------------

    def check(self) -> None:
        """Judge the hosts whose heartbeats stopped (``silent`` while their
        connection answers, else ``lost``) or whose connection was never
        made; drop hosts lost for ``forget_after`` seconds."""
        now = self._clock()
        lost_after = self.heartbeat_interval * self.missed_heartbeats
        events: List[tuple] = []
        with self._changed:
            for host_id, record in list(self._hosts.items()):
                verdict = _verdict(record, now, lost_after, self.forget_after)
                if verdict == "forgotten":
                    del self._hosts[host_id]
                elif verdict is not None:
                    record.state = LOST if verdict == "lost" else SILENT
                if verdict is not None:
                    events.append((verdict, record.public()))
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
                candidates = [
                    r
                    for r in self._hosts.values()
                    if r.info["name"] == id_or_name and r.state != LOST
                ]
                if not candidates:
                    known = sorted({r.info["name"] for r in self._hosts.values()})
                    raise HostNotFound(
                        f"no live host with id or name {id_or_name!r} (known: {known})"
                    )
                record = min(candidates, key=lambda r: (_PREFERENCE[r.state], r.used))
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
                for record in self._hosts.values():
                    if record.state != LOST and name in (None, record.info["name"]):
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


def _verdict(record: _Record, now: float, lost_after: float, forget_after: float) -> Optional[str]:
    """What :meth:`HostRegistry.check` makes of one host now: ``"silent"``,
    ``"lost"``, ``"forgotten"``, or None (nothing changes)."""
    if record.state == LOST:
        forgotten = now - max(record.seen, record.linked_at) > forget_after
        return "forgotten" if forgotten else None
    if record.linked is False and now - record.linked_at > lost_after:
        return "lost"  # never connected, or dropped and not back: unreachable
    if now - record.seen > lost_after:
        if record.linked is None:
            return "lost"
        return "silent" if record.state != SILENT else None
    return None


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
