"""How many connections this process can hold: its open-files limit.

Every connection ZeroMQ makes is a descriptor, and a process that runs out
of them fails in odd places (libzmq cannot accept, Python cannot open a
file). The broker holds two per host (the host's link to its frontend, its
own link to the host), so it raises its soft limit to the hard limit at
start and refuses announces past what the result allows.
"""

from __future__ import annotations

import logging

__all__ = ["raise_open_files_limit", "hosts_within", "RESERVED_DESCRIPTORS", "PER_HOST"]

log = logging.getLogger(__name__)

#: Descriptors kept for everything that is not a host: clients, the log, the DCC.
RESERVED_DESCRIPTORS = 256
#: Descriptors the broker spends on one host.
PER_HOST = 2
#: Where the hard limit is "unlimited", how high the soft limit goes.
_CEILING = 1 << 20


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (it
    is the process's own business, and no privilege is needed); return the
    soft limit now in force. Where the platform has no such limit
    (Windows), return a libzmq-sized guess."""
    try:
        import resource
    except ImportError:  # Windows: no per-process descriptor limit to raise
        return 16_384
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # some systems cap below the hard limit
            log.debug("open-files limit stays at %d: %s", soft, exc)
    return _CEILING if soft == resource.RLIM_INFINITY else soft


def hosts_within(limit: int) -> int:
    """How many hosts a broker can hold with ``limit`` descriptors."""
    return max(0, (limit - RESERVED_DESCRIPTORS) // PER_HOST)
