"""pyblish-qml's link to its host, over this transport instead of stdin and stdout.

pyblish-qml's ``Controller`` calls its host through one object,
``pyblish_qml.ipc.client.Proxy``: ``reset()``, ``context()``, ``discover()``,
``test(**state)``, ``process(plugin, context, instance)``, ``emit(...)``,
``update(key, value)``, ``stats()``… Each of its methods ends in
``_dispatch(name, args, kwargs)``, which writes a JSON request to stdout and
waits for the answer on stdin. :class:`QmlHostProxy` keeps every one of those
methods (and so pyblish-qml's own conversions to and from its proxy objects)
and replaces only ``__init__`` and ``_dispatch``: a call goes to ``call``
(:meth:`~ui_adapter.qml.bridge.HostBridge.call`).

What pyblish-qml is shown of the context goes through its own whitelist
(``pyblish_qml.ipc.formatting.format_data``), as its own service sent it:
pyblish-qml copies each instance's data over the fields of its Qt items,
so a plug-in's ``data["duration"] = "48 frames"`` would stop the publish and
``data["hasError"] = True`` would paint a passing instance red.

Imports pyblish-qml (and so PyQt5): import this module only to run the window.
"""

from __future__ import annotations

import queue
from typing import Any, Callable, Dict, List, Optional

from .importable import ensure_importable

ensure_importable()

from pyblish_qml.ipc import client, formatting  # noqa: E402 - needs ensure_importable()

__all__ = ["QmlHostProxy", "shown_context"]


class QmlHostProxy(client.Proxy):  # type: ignore[misc]
    """pyblish-qml's host proxy, calling ``call(name, *args, **kwargs)``.

    Arguments:
        call: sends one call to the host and returns its result, or raises.
        parent: the queue of the host's requests to the window
            (:attr:`~ui_adapter.qml.parent.ParentChannel.queue`), read by
            ``Application.listen()`` as ``channels["parent"]``.
    """

    def __init__(self, call: Callable[..., Any], parent: queue.Queue) -> None:
        # Not the base __init__: it reads stdin and starts a timer that ends
        # the process unless a parent process keeps writing to it.
        self.cached_context: Any = list()
        self.cached_discover: List[Any] = list()
        # The base class keeps its channels on the class, shared by every
        # instance; these are this window's own.
        self.channels = {"response": queue.Queue(), "parent": parent}
        self._call = call

    def _dispatch(
        self, func: str, args: Optional[List[Any]] = None, kwargs: Optional[Dict[str, Any]] = None
    ) -> Any:
        result = self._call(func, *(args or ()), **(kwargs or {}))
        if func == "context":
            return shown_context(result)
        return result


def shown_context(context: Dict[str, Any]) -> Dict[str, Any]:
    """``context`` with the data of it and its instances cut to pyblish-qml's whitelist."""
    return {
        **context,
        "data": formatting.format_data(context["data"]),
        "children": [
            {**child, "data": formatting.format_data(child["data"])}
            for child in context["children"]
        ],
    }
