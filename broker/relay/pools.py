"""The hosts ready for a call by name, least loaded first, found in constant time.

Calls by name go to the least loaded live host of that name, and among
hosts equally loaded to the one that has waited longest. :class:`Pools`
keeps, for each name, one bucket per load (calls in flight, 0 to
``window - 1``), each an insertion-ordered set: a host enters the end of
its bucket whenever its load changes, so the front of the lowest non-empty
bucket is the answer, and no choice visits the other hosts of the name.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Protocol, Tuple

__all__ = ["Pools", "Member"]


class Member(Protocol):
    """What a pool needs of a host."""

    id: str
    name: str
    load: int


class Pools:
    """The ready hosts of every name, by load.

    Arguments:
        window: the most calls in flight to one host; a host at that load is
            not ready.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._buckets: Dict[str, List[Dict[str, Member]]] = {}
        self._where: Dict[str, Tuple[str, int]] = {}  # host id -> (name, load) it is filed at

    def file(self, host: Member, ready: bool) -> None:
        """File ``host`` at its present load when ``ready`` (live, connected,
        not silent) and under the window; else take it out."""
        self.drop(host)
        if not ready or host.load >= self.window:
            return
        buckets = self._buckets.get(host.name)
        if buckets is None:
            buckets = self._buckets[host.name] = [{} for _ in range(self.window)]
        buckets[host.load][host.id] = host
        self._where[host.id] = (host.name, host.load)

    def drop(self, host: Member) -> None:
        """Take ``host`` out of its pool. Idempotent."""
        where = self._where.pop(host.id, None)
        if where is None:
            return
        name, load = where
        buckets = self._buckets[name]
        del buckets[load][host.id]
        if not any(buckets):
            del self._buckets[name]

    def choose(self, name: str) -> Optional[Member]:
        """The least loaded ready host of ``name`` (the longest waiting among
        equals), or None."""
        for bucket in self._buckets.get(name, ()):
            for host in bucket.values():
                return host
        return None
