"""Calling a remote service: the REQ proxy, pipelines and the asyncio proxy."""
