"""Calling a remote service: three drivers of one call table.

=====================  ========================================================
:mod:`.proxy`          :func:`connect` and :class:`Proxy`: one call at a time
:mod:`.channel`        the REQ connection a proxy and its views share
:mod:`.pipeline`       many calls in flight from synchronous code
:mod:`.aio`            many calls in flight from asyncio (``broker.aio``)
:mod:`.introspection`  what ``dir()``, ``help()`` and ``describe`` show
=====================  ========================================================
"""

from .proxy import DEFAULT_TIMEOUT, Proxy, connect

__all__ = ["connect", "Proxy", "DEFAULT_TIMEOUT"]
