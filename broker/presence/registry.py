"""Which hosts have announced themselves, and whether they are still alive.

The registry answers the UI endpoint's ``rpc.announce``, ``rpc.heartbeat``,
``rpc.depart`` and ``rpc.hosts`` (docs/protocol.md), and :meth:`HostRegistry.check`
marks a host ``lost`` once it has missed ``missed_heartbeats`` heartbeats.
A lost host that heartbeats again (it was stopped, or just very slow) is
alive again; one that stays silent for ``forget_after`` seconds is dropped
and would be asked to announce again.

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
    DEPART,
    HEARTBEAT,
    HOST_STATES,
    HOSTS,
    IDLE,
    LOST,
    HostState,
)

__all__ = ["HostRegistry", "Event", "EventHook"]

#: What happened to a host: it was ``added`` (announced, or re-announced at a
#: new endpoint), ``lost``, ``back`` from lost, ``departed``, or ``forgotten``
#: (dropped after ``forget_after`` seconds lost).
Event = Literal["added", "lost", "back", "departed", "forgotten"]
#: ``on_event(event, info)``.
EventHook = Callable[[Event, Dict[str, Any]], None]


class _Record:
    __slots__ = ("info", "state", "seen", "last_seen", "used")

    def __init__(self, info: Dict[str, Any], now: float) -> None:
        self.info = info
        self.state: HostState = IDLE
        self.seen = now  # monotonic, for liveness
        self.last_seen = time.time()  # wall clock, for people
        self.used = 0.0

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
            lost, back, or departed; it runs on the caller's thread.
        clock: monotonic seconds; tests inject their own.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        forget_after: float = 60.0,
        on_event: Optional[EventHook] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if heartbeat_interval <= 0 or missed_heartbeats < 1:
            raise ValueError("heartbeat_interval must be > 0 and missed_heartbeats >= 1")
        self.heartbeat_interval = heartbeat_interval
        self.missed_heartbeats = missed_heartbeats
        self.forget_after = forget_after
        self._on_event = on_event
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
            record = self._hosts.get(info["id"])
            is_new = record is None or record.info["endpoint"] != info["endpoint"]
            was_lost = record is not None and record.state == LOST
            record = _Record(info, self._clock())
            self._hosts[info["id"]] = record
            self._changed.notify_all()
            public = record.public()
        if is_new:
            self._emit("added", public)
        elif was_lost:
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
            was_lost = record.state == LOST
            record.state = state
            record.seen = self._clock()
            record.last_seen = time.time()
            self._changed.notify_all()
            public = record.public()
        if was_lost:
            self._emit("back", public)
        return True

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
        """Mark hosts that missed their heartbeats ``lost``; drop old lost ones."""
        now = self._clock()
        lost_after = self.heartbeat_interval * self.missed_heartbeats
        newly_lost, forgotten = [], []
        with self._changed:
            for host_id, record in list(self._hosts.items()):
                silence = now - record.seen
                if record.state != LOST and silence > lost_after:
                    record.state = LOST
                    newly_lost.append(record.public())
                elif record.state == LOST and silence > self.forget_after:
                    del self._hosts[host_id]
                    forgotten.append(record.public())
            if newly_lost:
                self._changed.notify_all()
        for public in newly_lost:
            self._emit("lost", public)
        for public in forgotten:
            self._emit("forgotten", public)

    def state_of(self, host_id: str) -> Optional[str]:
        """``"idle"``, ``"busy"`` or ``"lost"``; None when unknown (departed)."""
        with self._changed:
            record = self._hosts.get(host_id)
            return None if record is None else record.state

    # -- lookups -----------------------------------------------------------------

    def find(self, id_or_name: str) -> Dict[str, Any]:
        """The host with that id; else the least recently used live host of that name.

        Prefers idle hosts over busy ones. Marks the host as used now.

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
                record = min(candidates, key=lambda r: (r.state != IDLE, r.used))
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
