"""``broker.aio``: the asyncio proxy (:mod:`broker.client.aio`), under its public name."""

from .client.aio import AsyncProxy, connect

__all__ = ["connect", "AsyncProxy"]
