"""Serve Pyblish from a host: the methods publishing UIs know, plus a cheap publish.

::

    import host_adapter
    from host_adapter.pyblish import PyblishService

    adapter = host_adapter.serve(PyblishService(), name="maya", dispatcher=dispatcher)

The familiar methods (``ping``, ``stats``, ``reset``, ``context``,
``discover``, ``process``, ``repair``, ``emit``, ``test``, ``update``) keep
their shapes, so pyblish-qml 1.x runs against them (``python -m
ui_adapter.qml``); wherever they took a plug-in or instance map they also
take its id. A publish costs one round trip per plug-in/instance pair with
``start`` and ``next``: the host picks each pair by pyblish's own rules,
runs it, and answers its result with only what changed in the context.

Every method runs where the adapter's dispatcher runs calls: pass the host's
main-thread dispatcher to :func:`host_adapter.serve`, and every plug-in runs
on the main thread.

Needs ``pyblish-base`` (``pip install "zmq-host-broker[pyblish]"``); importing
:mod:`host_adapter` alone never imports pyblish. The shapes and the data
conversion rule are described in ``docs/pyblish.md``.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Union

try:
    import pyblish
    import pyblish.api
    import pyblish.logic
    import pyblish.plugin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'host_adapter.pyblish needs pyblish-base: pip install "zmq-host-broker[pyblish]"'
    ) from exc

from .changes import ChangeTracker
from .session import PublishSession
from .shapes import (
    CONTEXT_PRIVATE_KEYS,
    context_meta,
    format_context,
    format_plugin,
    format_result,
    identity_data,
    to_wire,
)

__all__ = ["PyblishService"]

log = logging.getLogger(__name__)

#: A plug-in or instance as the UI names it: its id, or a map with an "id".
Ref = Union[str, Dict[str, Any], None]


def _ref_id(ref: Ref, what: str) -> Optional[str]:
    if ref is None or isinstance(ref, str):
        return ref
    if isinstance(ref, dict) and isinstance(ref.get("id"), str):
        return ref["id"]  # type: ignore[no-any-return]
    raise TypeError(f"{what} must be an id (str) or a map with an 'id', not {ref!r}")


class _Scene:
    """The context and the plug-ins, and finding them by the ids a UI sends."""

    def __init__(self, find_plugins: Callable[[], List[Any]]) -> None:
        self._find_plugins = find_plugins
        self.context: Any = pyblish.api.Context()
        self._plugins: Optional[List[Any]] = None

    def reset(self) -> None:
        """A new, empty context; the plug-ins discovered again."""
        self.context = pyblish.api.Context()
        self._plugins = None
        self.plugins()

    def plugins(self) -> List[Any]:
        """The plug-ins found at the latest reset (found now, the first time)."""
        if self._plugins is None:
            self._plugins = list(self._find_plugins())
        return self._plugins

    def plugin(self, ref: Ref) -> Any:
        plugin_id = _ref_id(ref, "plugin")
        for plugin in self.plugins():
            if plugin.id == plugin_id:
                return plugin
        raise LookupError(f"no plug-in with id {plugin_id!r}: ids change on reset()")

    def instance(self, ref: Ref) -> Any:
        instance_id = _ref_id(ref, "instance")
        if instance_id is None:
            return None
        instance = self.context.get(instance_id)
        if instance is None:
            raise LookupError(f"no instance with id {instance_id!r} in the current context")
        return instance


class PyblishService:
    """The host side of a Pyblish UI: a context, the plug-ins, and a publish.

    Arguments:
        find_plugins: returns the plug-in classes, sorted by order; called
            on the first need and on every :meth:`reset`.
            ``pyblish.api.discover`` by default.

    Every public method is a remote method; see ``docs/pyblish.md``.
    """

    def __init__(self, find_plugins: Optional[Callable[[], List[Any]]] = None) -> None:
        self._scene = _Scene(find_plugins or pyblish.api.discover)
        self._requests: collections.Counter[str] = collections.Counter()
        self._tracker = ChangeTracker()
        self._tracker.baseline(self._scene.context)
        self._session: Optional[PublishSession] = None
        self._reset_time = time.time()

    @property
    def _context(self) -> Any:
        return self._scene.context

    def _count(self, method: str) -> None:
        self._requests[method] += 1

    # -- the familiar methods -------------------------------------------------------

    def ping(self) -> Dict[str, Any]:
        """Answer that the service is alive (through the main thread)."""
        self._count("ping")
        return {"message": "pong", "pid": os.getpid(), "pyblish": pyblish.__version__}

    def stats(self) -> Dict[str, Any]:
        """``{"totalRequestCount", "requests": {method: count}, "session"}``."""
        self._count("stats")
        session = self._session
        return {
            "totalRequestCount": sum(self._requests.values()),
            "requests": dict(self._requests),
            "session": None
            if session is None
            else {"processed": session.processed, "estimate": session.estimate},
        }

    def reset(self) -> None:
        """Start over: a new, empty context and the plug-ins discovered again."""
        self._count("reset")
        self._end_session()
        self._scene.reset()
        self._tracker.baseline(self._context)
        self._reset_time = time.time()

    def context(self) -> Dict[str, Any]:
        """The context: ``{"name", "id", "data", "children": [instances], "meta"}``.

        Each instance is ``{"name", "id", "data", "children"}``; ``data`` is
        converted by the rule in ``docs/pyblish.md`` (the context's
        ``results`` are left out). ``meta`` tells who serves it: ``hosts``,
        ``user``, ``pid``, ``resetTime``, ``pyblishVersion``, ``pythonVersion``.
        The context's ``data`` also carries the keys pyblish-qml shows
        (``host``, ``user``, ``port``, ``connectTime``, ``pyblishVersion``,
        ``pythonVersion``) where the context has none of its own; they are
        only sent, never stored in the context.
        """
        self._count("context")
        formatted = format_context(self._context)
        self._tracker.baseline(self._context, formatted)
        # A copy: the change tracker keeps the data as the context holds it.
        formatted["data"] = {**identity_data(self._reset_time), **formatted["data"]}
        formatted["meta"] = context_meta(self._reset_time)
        return formatted

    def discover(self) -> List[Dict[str, Any]]:
        """The plug-ins found at the latest :meth:`reset`, as maps, sorted by order."""
        self._count("discover")
        return [format_plugin(plugin) for plugin in self._scene.plugins()]

    def process(self, plugin: Ref, instance: Ref = None, action: Optional[str] = None) -> Any:
        """Run one plug-in (on ``instance``, or the context), or one of its actions.

        Arguments:
            plugin: the plug-in's id, or its map from :meth:`discover`.
            instance: an instance id or map; None for the context.
            action: the id of one of the plug-in's actions, to run it instead.

        Returns:
            The result map (see ``docs/pyblish.md``).

        Raises:
            LookupError: no such plug-in, instance or action.
        """
        self._count("process")
        plugin_class = self._scene.plugin(plugin)
        target = self._scene.instance(instance)
        if action is not None and action not in {a.id for a in plugin_class.actions}:
            raise LookupError(f"plug-in {plugin_class.__name__} has no action with id {action!r}")
        result = pyblish.plugin.process(plugin_class, self._context, target, action=action)
        return format_result(result)

    def repair(self, plugin: Ref, instance: Ref = None) -> Any:
        """Run a plug-in's ``repair`` (on ``instance``, or the context); return the result.

        Raises:
            LookupError: no such plug-in or instance.
        """
        self._count("repair")
        result = pyblish.plugin.repair(
            self._scene.plugin(plugin), self._context, self._scene.instance(instance)
        )
        return format_result(result)

    def emit(self, signal: str, kwargs: Optional[Dict[str, Any]] = None) -> None:
        """Emit a pyblish signal to the host's callbacks, the UI's objects made real.

        In ``kwargs``, ``context`` (any value) becomes the context,
        ``instance`` (an id) the instance and ``plugin`` (an id) the plug-in
        class. ``instanceToggled`` sets ``instance.data["publish"]`` and
        ``pluginToggled`` sets ``plugin.active`` to ``kwargs["new_value"]``
        before the callbacks run.
        """
        self._count("emit")
        arguments = dict(kwargs or {})
        if "context" in arguments:
            arguments["context"] = self._context
        if "instance" in arguments:
            arguments["instance"] = self._scene.instance(arguments["instance"])
        if "plugin" in arguments:
            arguments["plugin"] = self._scene.plugin(arguments["plugin"])
        if signal == "instanceToggled" and arguments.get("instance") is not None:
            arguments["instance"].data["publish"] = bool(arguments.get("new_value"))
        elif signal == "pluginToggled" and "plugin" in arguments:
            arguments["plugin"].active = bool(arguments.get("new_value"))
        pyblish.api.emit(signal, **arguments)

    def test(self, vars: Optional[Dict[str, Any]] = None, **state: Any) -> Any:
        """Ask the registered test whether to go on before the plug-in at ``nextOrder``.

        ``test({"nextOrder": 2.0, "ordersWithError": [1.0]})``, as XML-RPC-era
        UIs call it, or ``test(nextOrder=2.0, ordersWithError=[1.0])``, as
        pyblish-qml does.

        Arguments:
            vars: ``{"nextOrder": float, "ordersWithError": [orders]}``.
            state: the same as keywords, instead of ``vars``.

        Returns:
            None (or another falsy value) to go on; the reason to stop, as text.

        Raises:
            TypeError: both a map and keywords, or no ``nextOrder``.
        """
        self._count("test")
        if vars is not None and state:
            raise TypeError("test takes a map or keywords, not both")
        state = dict(vars if vars is not None else state)
        if "nextOrder" not in state:
            raise TypeError(f"test needs nextOrder (and ordersWithError), got {sorted(state)}")
        state["ordersWithError"] = set(state.get("ordersWithError") or ())
        return to_wire(pyblish.logic.registered_test()(**state))

    def update(self, key: str, value: Any) -> None:
        """Set ``context.data[key]`` to ``value``: the UI's comment, for one.

        Raises:
            TypeError: ``key`` is not a str.
            ValueError: ``key`` is one pyblish keeps for itself (``results``).
        """
        self._count("update")
        if not isinstance(key, str):
            raise TypeError(f"a context data key is a str, not {key!r}")
        if key in CONTEXT_PRIVATE_KEYS:
            raise ValueError(f"context data {key!r} belongs to pyblish")
        self._context.data[key] = value

    # -- the cheap publish ------------------------------------------------------------

    def start(
        self,
        targets: Optional[List[str]] = None,
        order: Optional[float] = None,
        collect: bool = True,
    ) -> Dict[str, Any]:
        """Begin a publish of the current context; :meth:`next` advances it.

        Ends a publish still running. Nothing is processed yet.

        Arguments:
            targets: as for ``pyblish.util.publish``; None for the default ones.
            order: only plug-ins within ``order`` ± 0.5 (0 collects only,
                like ``pyblish.util.collect``); None for all of them.
            collect: False leaves the collectors out, to publish what an
                earlier publish collected and the user reviewed.

        Returns:
            ``{"estimate": pairs expected}``.
        """
        self._count("start")
        self._end_session()
        self._session = PublishSession(
            self._scene.plugins(), self._context, targets=targets, order=order, collect=collect
        )
        return {"estimate": self._session.estimate}

    def next(self, limit: int = 1, budget: Optional[float] = None) -> Dict[str, Any]:
        """Process the next pair(s) of the publish :meth:`start` began.

        Arguments:
            limit: process up to this many pairs in this call.
            budget: seconds; stop starting new pairs after this long (at
                least one pair runs). None: only ``limit`` counts.

        Returns:
            ``{"results": [result maps], "done": bool, "stopped": the test's
            reason or None, "processed": int, "estimate": int, "changes":
            {"added", "removed", "order", "updated"}}``. ``results`` is
            empty only when the publish is over (``done``).

        Raises:
            RuntimeError: no publish was started (or it is over).
        """
        self._count("next")
        session = self._session
        if session is None:
            raise RuntimeError("no publish is running: call start() first")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"limit must be a positive int, not {limit!r}")
        try:
            results, touched = session.advance(limit, budget)
        finally:
            if session.done:
                self._session = None
        if session.done or touched is None:
            # The last call compares everything, so the UI's copy ends exact
            # even if a plug-in changed an instance it was not given.
            changes = self._tracker.diff(self._context)
        else:
            changes = self._tracker.diff(self._context, [self._context, *touched])
        return {
            "results": [format_result(result) for result in results],
            "done": session.done,
            "stopped": session.stopped,
            "processed": session.processed,
            "estimate": session.estimate,
            "changes": changes,
        }

    def cancel(self) -> bool:
        """End the running publish without processing more; False if none ran."""
        self._count("cancel")
        running = self._session is not None
        self._end_session()
        return running

    def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.finish(emit=False)
