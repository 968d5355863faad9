"""One publish, a plug-in/instance pair at a time, by pyblish's own rules.

:class:`PublishSession` takes the steps of ``pyblish.util.publish`` (and of
``collect``, ``validate``… when given an ``order``), but one pair per
:meth:`~PublishSession.step`, so a remote UI can drive it:

1. only plug-ins active when the session starts take part;
2. the collectors (order within CollectorOrder ± 0.5) run first, with a
   fresh test state: a failing collector never stops the publish;
3. the other plug-ins follow, without those instance plug-ins that no
   instance matches once collection is over, with one test state for the
   rest of the publish: each failed pair adds its plug-in's order to
   ``ordersWithError``, and before each plug-in the registered test
   (``pyblish.logic.registered_test()``) may stop the publish; the default
   test stops it before the first plug-in at or past ValidatorOrder + 0.5
   once a validator failed;
4. within a pass, the steps of ``pyblish.logic.Iterator``: plug-ins matching
   the targets (``["default"]`` plus the registered ones unless given),
   skipping plug-ins made inactive meanwhile, instances matched by family
   with ``pyblish.logic.instances_by_plugin`` when the plug-in starts, and
   instances whose ``data["publish"]`` is False when their turn comes.

The loop of ``pyblish.logic.Iterator`` is restated here rather than called,
only to learn *why* it ended (the test's message): every rule it applies is
pyblish's own function.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyblish.api
import pyblish.lib
import pyblish.logic
import pyblish.plugin

__all__ = ["PublishSession"]

# Signals pyblish.util emits when its publish, collect, validate... ends.
_END_SIGNALS = {
    None: "published",
    pyblish.api.CollectorOrder: "collected",
    pyblish.api.ValidatorOrder: "validated",
    pyblish.api.ExtractorOrder: "extracted",
    pyblish.api.IntegratorOrder: "integrated",
}

_Pair = Tuple[Any, Any, bool]  # plug-in, instance or None, whether errors count


def _fresh_state() -> Dict[str, Any]:
    return {"nextOrder": None, "ordersWithError": set()}


class PublishSession:
    """A publish of ``context`` by ``plugins``, advanced one pair per :meth:`step`.

    Arguments:
        plugins: the discovered plug-in classes, sorted by order.
        context: the pyblish context to publish.
        targets: as for ``pyblish.util.publish``; None for the default ones.
        order: run only plug-ins within ``order`` ± 0.5 (``pyblish.util.collect``
            is ``order=CollectorOrder``); None for all.
        collect: False leaves the collectors out: publish what an earlier
            session collected (a UI's "publish" after the user reviewed).

    Attributes:
        processed: pairs processed so far.
        estimate: processed + pairs still expected (recomputed when the
            collection ends; the test may stop the publish earlier).
        stopped: the test's message if the test stopped the publish, else None.
        done: whether the publish is over.
    """

    def __init__(
        self,
        plugins: List[Any],
        context: Any,
        *,
        targets: Optional[List[str]] = None,
        order: Optional[float] = None,
        collect: bool = True,
    ) -> None:
        self.context = context
        self._targets = list(targets) if targets else None
        self._order = order
        self._collect = collect
        active = [plugin for plugin in plugins if plugin.active]
        if order is not None:
            active = [plugin for plugin in active if pyblish.lib.inrange(plugin.order, order)]
        self._plugins = active
        self._state = _fresh_state()
        self._pairs: Iterator[_Pair] = self._iterate()
        self.processed = 0
        self.stopped: Optional[str] = None
        self.done = False
        self.started = time.monotonic()
        self.estimate = self._count(self._plugins if collect else self._without_collectors())

    # -- the iteration -------------------------------------------------------------

    def _is_collector(self, plugin: Any) -> bool:
        return bool(pyblish.lib.inrange(plugin.order, base=pyblish.api.CollectorOrder))

    def _without_collectors(self) -> List[Any]:
        return [plugin for plugin in self._plugins if not self._is_collector(plugin)]

    def _iterate(self) -> Iterator[_Pair]:
        if self._collect:
            collectors = [plugin for plugin in self._plugins if self._is_collector(plugin)]
            yield from self._pass(collectors, _fresh_state(), record_errors=False)
        rest = [
            plugin
            for plugin in self._without_collectors()
            if not plugin.__instanceEnabled__
            or pyblish.logic.instances_by_plugin(self.context, plugin)
        ]
        self.estimate = self.processed + self._count(rest)
        yield from self._pass(rest, self._state, record_errors=True)

    def _targets_now(self) -> List[str]:
        return self._targets or ["default", *pyblish.plugin.registered_targets()]

    def _pass(
        self, plugins: List[Any], state: Dict[str, Any], record_errors: bool
    ) -> Iterator[_Pair]:
        test = pyblish.logic.registered_test()
        for plugin in pyblish.logic.plugins_by_targets(plugins, self._targets_now()):
            if not plugin.active:
                continue
            state["nextOrder"] = plugin.order
            message = test(**state)
            if message:
                self.stopped = str(message)
                return
            instances = pyblish.logic.instances_by_plugin(self.context, plugin)
            if plugin.__instanceEnabled__:
                for instance in instances:
                    if instance.data.get("publish") is False:
                        continue
                    yield plugin, instance, record_errors
            else:
                yield plugin, None, record_errors

    def _count(self, plugins: List[Any]) -> int:
        """Pairs ``plugins`` would make with the instances there are now."""
        total = 0
        for plugin in pyblish.logic.plugins_by_targets(plugins, self._targets_now()):
            if not plugin.__instanceEnabled__:
                total += 1
                continue
            for instance in pyblish.logic.instances_by_plugin(self.context, plugin):
                if instance.data.get("publish") is not False:
                    total += 1
        return total

    # -- stepping -------------------------------------------------------------------

    def step(self) -> Optional[Dict[str, Any]]:
        """Process the next pair; return pyblish's result, or None when the publish is over.

        Raises:
            whatever ``pyblish.plugin.process`` raises outside the plug-in
            (a bug, in pyblish's words); the session is then over.
        """
        if self.done:
            return None
        try:
            plugin, instance, record_errors = next(self._pairs)
        except StopIteration:
            self.finish()
            return None
        try:
            result = pyblish.plugin.process(plugin, self.context, instance)
        except BaseException:
            self.finish(emit=False)
            raise
        if record_errors and result["error"]:
            self._state["ordersWithError"].add(plugin.order)
        self.processed += 1
        self.estimate = max(self.estimate, self.processed)
        return result  # type: ignore[no-any-return]

    def advance(
        self, limit: int, budget: Optional[float] = None
    ) -> Tuple[List[Dict[str, Any]], Optional[List[Any]]]:
        """Process up to ``limit`` pairs, starting none after ``budget`` seconds.

        Returns:
            pyblish's results (at least one unless the publish is over), and
            the instances they processed; None instead when a context
            plug-in ran (then anything may have changed).
        """
        started = time.monotonic()
        results: List[Dict[str, Any]] = []
        touched: Optional[Dict[str, Any]] = {}
        while len(results) < limit:
            result = self.step()
            if result is None:
                break
            results.append(result)
            instance = result.get("instance")
            if instance is None:
                touched = None
            elif touched is not None:
                touched[instance.id] = instance
            if budget is not None and time.monotonic() - started >= budget:
                break
        return results, None if touched is None else list(touched.values())

    def finish(self, emit: bool = True) -> None:
        """End the session; emit the signal ``pyblish.util`` emits at its end."""
        if self.done:
            return
        self.done = True
        self._pairs = iter(())
        self.estimate = self.processed
        signal = _END_SIGNALS.get(self._order)
        if emit and signal is not None:
            pyblish.api.emit(signal, context=self.context)
