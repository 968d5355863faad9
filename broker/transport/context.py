"""The zmq contexts adapters and brokers own, and how they end.

A DCC may load other code that uses ``zmq.Context.instance()``, so this
project never uses that one. A broker owns a context of its own
(:class:`PrivateContext`); the adapters of one process (several batch jobs
on a farm node, a UI and a host in one tool, a test suite) share one per
security setting (:func:`shared_context`): one libzmq I/O thread, one reaper
and one ZAP handler for all of them instead of three threads each.

A context also owns, once a CURVE server socket is made in it, the ZAP
handler that admits that socket's clients (:mod:`broker.security.zap`).
Ending it has one trap: ``term()`` waits for every socket to close, and a
call stuck on the host's main thread holds one; then the context is
destroyed instead (its sockets closed under it) — for a shared context,
once its last user has left.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Dict, Hashable

import zmq

if TYPE_CHECKING:
    from ..security.options import Security

__all__ = ["PrivateContext", "SharedContext", "shared_context"]


class PrivateContext:
    """A zmq context and, when its servers speak CURVE, their ZAP handler.

    Arguments:
        security: whose keys the ZAP handler admits.
    """

    def __init__(self, security: Security) -> None:
        self.context = zmq.Context()
        self._security = security
        self._lock = threading.Lock()
        self._authenticator: Any = None

    def start_zap(self) -> None:
        """Start the ZAP handler, once (the sockets factory calls this before
        the first CURVE server socket binds)."""
        with self._lock:
            if self._authenticator is None:
                from ..security.zap import start_zap

                self._authenticator = start_zap(self.context, self._security)

    def close(self, *, threads_alive: bool = False) -> None:
        """Stop the ZAP handler and end the context.

        Arguments:
            threads_alive: a thread still holds a socket (a stuck call):
                destroy the context instead of waiting for it forever.
        """
        with self._lock:
            authenticator, self._authenticator = self._authenticator, None
        if authenticator is not None:
            authenticator.stop()
        if threads_alive:
            self.context.destroy(linger=0)
        else:
            self.context.term()


class SharedContext:
    """One user's lease on a context shared by the adapters of a process
    whose security settings are the same; the same interface as
    :class:`PrivateContext`. Get one with :func:`shared_context`."""

    def __init__(self, pool: _Pooled) -> None:
        self._pool = pool
        self.context = pool.private.context
        self._closed = False

    def start_zap(self) -> None:
        self._pool.private.start_zap()

    def close(self, *, threads_alive: bool = False) -> None:
        """Leave the context; the last user to leave ends it (destroys it
        if any user left a thread holding a socket). Idempotent."""
        if self._closed:
            return
        self._closed = True
        _release(self._pool, threads_alive)


class _Pooled:
    __slots__ = ("private", "users", "stuck", "key")

    def __init__(self, private: PrivateContext, key: Hashable) -> None:
        self.private = private
        self.users = 0
        self.stuck = False  # a user left with a thread still holding a socket
        self.key = key


_pools: Dict[Hashable, _Pooled] = {}
_pools_lock = threading.Lock()


def shared_context(security: Security) -> SharedContext:
    """A lease on this process's context for ``security``'s settings (the
    same key file, the same authorized keys, the same server key), made on
    first use. A forked child gets contexts of its own (one must not cross
    a fork)."""
    key = (os.getpid(), security.settings)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = _Pooled(PrivateContext(security), key)
        pool.users += 1
        return SharedContext(pool)


def _release(pool: _Pooled, threads_alive: bool) -> None:
    with _pools_lock:
        pool.users -= 1
        pool.stuck = pool.stuck or threads_alive
        if pool.users > 0:
            return
        del _pools[pool.key]
    pool.private.close(threads_alive=pool.stuck)
