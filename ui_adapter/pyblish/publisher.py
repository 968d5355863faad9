"""Drive a Pyblish publish in a host from the UI's process, a result at a time.

::

    import ui_adapter
    from ui_adapter.pyblish.publisher import Publisher

    with ui_adapter.listen() as ui:
        publisher = Publisher(ui.wait_for_host("maya"))
        for result in publisher.publish():        # collect, validate, extract, integrate
            print(result["plugin"]["name"], result["success"])
        publisher.stopped                         # "failed validation", or None
        for result in publisher.failed:
            plugin = publisher.plugin(result["plugin"]["id"])
            if plugin["hasRepair"]:
                publisher.repair(plugin, result["instance"])

``host`` is anything whose attribute calls reach a
:class:`host_adapter.pyblish.PyblishService`: a proxy from
:meth:`ui_adapter.UiAdapter.host`, from :func:`broker.connect`, from a
broker, or the service object itself. Pyblish's rules run in the host (the
service's ``start``/``next``), so this side needs no pyblish: a publish costs
one call per plug-in/instance pair, and the copy of the context kept here
(:attr:`Publisher.context`) follows the changes each call reports.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List, Optional, Union

__all__ = ["Publisher", "publish", "action_applies"]

log = logging.getLogger(__name__)

Map = Dict[str, Any]
#: A plug-in, instance or action as this side names it: its map or its id.
Ref = Union[str, Map, None]

_WARNING = 30  # logging.WARNING: a record at or above it makes a "warning"


def _id(ref: Ref) -> Optional[str]:
    if ref is None or isinstance(ref, str):
        return ref
    return ref["id"]  # type: ignore[no-any-return]


def action_applies(action: Map, results: List[Map]) -> bool:
    """Whether ``action`` may run, by its ``on`` and ``active`` and the plug-in's results.

    Arguments:
        action: one entry of a plug-in map's ``actions``.
        results: that plug-in's results so far (any instance).

    ``on`` is one of ``all``, ``notProcessed``, ``processed``, ``succeeded``,
    ``failed``, ``warning`` (a record at WARNING or above, no error) and
    ``failedOrWarning``. Separators and categories (``type`` other than
    ``action``) never apply.
    """
    if action.get("type", "action") != "action" or not action.get("active", True):
        return False
    on = action.get("on", "all")
    processed = bool(results)
    failed = any(result["error"] for result in results)
    warned = not failed and any(
        record.get("levelno", 0) >= _WARNING for result in results for record in result["records"]
    )
    return {
        "all": True,
        "notProcessed": not processed,
        "processed": processed,
        "succeeded": processed and not failed,
        "failed": failed,
        "warning": warned,
        "failedOrWarning": failed or warned,
    }.get(on, False)


class Publisher:
    """Publishes through a remote :class:`~host_adapter.pyblish.PyblishService`.

    Arguments:
        host: a proxy (or anything) whose attribute calls reach the service.
        timeout: seconds each call may take (a ``next`` runs plug-ins,
            ``reset`` discovers them), when ``host`` is a proxy;
            None waits as long as the host lives (proxies from a UI adapter
            notice a lost host). Unset: the proxy's own timeout.
        limit: pairs the host may process per call (1: a result per call).
        budget: seconds after which the host answers the pairs it processed
            so far (at least one), whatever ``limit`` says. Both trade
            progress updates for fewer round trips.

    Attributes:
        plugins: the plug-in maps from the latest :meth:`reset`.
        context: this side's copy of the context map, kept up to date.
        results: every result since the latest :meth:`reset`, in order.
        stopped: why the latest publish stopped early (the test's message), or None.
        processed, estimate: pairs processed and expected in the running publish.
    """

    _UNSET: Any = object()
    _CANCEL_TIMEOUT = 1.0

    def __init__(
        self,
        host: Any,
        *,
        timeout: Any = _UNSET,
        limit: int = 1,
        budget: Optional[float] = None,
    ) -> None:
        self.host = host
        if timeout is not Publisher._UNSET and hasattr(getattr(host, "rpc", None), "with_timeout"):
            self._worker = host.rpc.with_timeout(timeout)
        else:
            self._worker = host
        self.limit = limit
        self.budget = budget
        self.plugins: List[Map] = []
        self.context: Optional[Map] = None
        self._index: Dict[str, Map] = {}  # instance id -> its map in self.context
        self.results: List[Map] = []
        self.stopped: Optional[str] = None
        self.processed = 0
        self.estimate = 0

    # -- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """Start over in the host (new context, plug-ins discovered again) and fetch both."""
        self._worker.reset()
        self.plugins = self._worker.discover()
        self.refresh()
        self.results = []
        self.stopped = None
        self.processed = self.estimate = 0

    def refresh(self) -> Map:
        """Fetch the whole context again (after repairs, actions, or to be sure)."""
        context: Map = self._worker.context()
        self.context = context
        self._index = {child["id"]: child for child in context["children"]}
        return context

    def plugin(self, ref: Ref) -> Map:
        """The plug-in map with this id (or the map itself)."""
        wanted = _id(ref)
        for plugin in self.plugins:
            if plugin["id"] == wanted:
                return plugin
        raise LookupError(f"no plug-in with id {wanted!r}")

    def instances(self) -> List[Map]:
        """The instance maps of the context, in the host's order."""
        return list(self.context["children"]) if self.context else []

    def instance(self, ref: Ref) -> Map:
        """The instance map with this id."""
        wanted = _id(ref)
        instance = self._index.get(wanted) if wanted is not None else None
        if instance is None:
            raise LookupError(f"no instance with id {wanted!r}")
        return instance

    @property
    def failed(self) -> List[Map]:
        """The results that carry an error."""
        return [result for result in self.results if result["error"]]

    def summary(self) -> Map:
        """``{"pairs", "succeeded", "failed", "stopped", "duration"}`` (ms, host-side)."""
        failed = len(self.failed)
        return {
            "pairs": len(self.results),
            "succeeded": len(self.results) - failed,
            "failed": failed,
            "stopped": self.stopped,
            "duration": sum(result["duration"] for result in self.results),
        }

    # -- publishing ----------------------------------------------------------------------

    def publish(self, targets: Optional[List[str]] = None) -> Iterator[Map]:
        """Reset, then collect, validate, extract and integrate; yield each result.

        Stops where ``pyblish.util.publish`` stops (after a failed validation,
        by default); :attr:`stopped` then says why.
        """
        self.reset()
        return self.run(targets=targets)

    def collect(self, targets: Optional[List[str]] = None) -> Iterator[Map]:
        """Reset, then run only the collectors; yield each result."""
        self.reset()
        return self.run(targets=targets, order=0)

    def run(
        self,
        targets: Optional[List[str]] = None,
        order: Optional[float] = None,
        collect: bool = True,
    ) -> Iterator[Map]:
        """Publish the current context; yield each result as it arrives.

        Arguments:
            targets: as for ``pyblish.util.publish``; None for the default ones.
            order: only plug-ins within ``order`` ± 0.5; None for all.
            collect: False leaves the collectors out: publish what
                :meth:`collect` gathered (and the user reviewed and toggled).

        Leaving the loop early (``break``, an exception) ends the publish
        in the host too.

        Raises (from the iteration):
            RemoteError: pyblish itself failed in the host; the publish is over.
            RpcError: the host is unreachable, lost, or too slow.
        """
        if self.context is None:
            self.refresh()
        self.stopped = None
        self.processed = 0
        self.estimate = self._worker.start(targets=targets, order=order, collect=collect)[
            "estimate"
        ]
        return self._steps()

    def _steps(self) -> Iterator[Map]:
        finished = False
        try:
            while not finished:
                reply = self._worker.next(limit=self.limit, budget=self.budget)
                self._apply(reply["changes"])
                self.processed = reply["processed"]
                self.estimate = reply["estimate"]
                finished = reply["done"]
                if finished:
                    self.stopped = reply["stopped"]
                elif not reply["results"]:
                    # The service always makes progress; guard against one that does not.
                    raise RuntimeError("the host answered no result and no end")
                for result in reply["results"]:
                    self.results.append(result)
                    yield result
        finally:
            if not finished:
                self._cancel_quietly()

    def _cancel_quietly(self) -> None:
        from broker.errors import RpcError

        host = self.host
        if hasattr(getattr(host, "rpc", None), "with_timeout"):
            # A host still busy with the pair we gave up on runs the cancel
            # when it is done; no need to wait for that here.
            host = host.rpc.with_timeout(self._CANCEL_TIMEOUT)
        try:
            host.cancel()
        except RpcError as exc:  # the host may be the reason we stopped
            log.debug("could not cancel the publish in the host: %s", exc)

    def _apply(self, changes: Map) -> None:
        context = self.context
        if context is None:
            return
        children: List[Map] = context["children"]
        by_id = self._index
        for instance in changes["added"]:
            by_id[instance["id"]] = instance
        for removed in changes["removed"]:
            by_id.pop(removed, None)
        if changes["order"] is not None:
            children[:] = [by_id[child] for child in changes["order"] if child in by_id]
        for entity_id, update in changes["updated"].items():
            entity = context if entity_id == context["id"] else by_id.get(entity_id)
            if entity is None:
                continue
            entity["data"].update(update.get("data", {}))
            for key in update.get("deleted", ()):
                entity["data"].pop(key, None)
            if "children" in update:
                entity["children"] = update["children"]

    # -- after a publish: toggles, repairs, actions ------------------------------------

    def toggle_instance(self, instance: Ref, publish: bool) -> None:
        """Include or leave out an instance (``data["publish"]``) in the host and here."""
        mirrored = self.instance(instance)
        old = mirrored["data"].get("publish", True)
        self._worker.emit(
            "instanceToggled",
            {"instance": mirrored["id"], "new_value": bool(publish), "old_value": old},
        )
        mirrored["data"]["publish"] = bool(publish)

    def toggle_plugin(self, plugin: Ref, active: bool) -> None:
        """Make a plug-in active or inactive in the host and here."""
        mirrored = self.plugin(plugin)
        old = mirrored["active"]
        self._worker.emit(
            "pluginToggled", {"plugin": mirrored["id"], "new_value": bool(active), "old_value": old}
        )
        mirrored["active"] = bool(active)

    def repair(self, plugin: Ref, instance: Ref = None) -> Map:
        """Run a plug-in's ``repair`` in the host; return its result and refresh the context."""
        result: Map = self._worker.repair(_id(plugin), _id(instance))
        self.refresh()
        return result

    def actions(self, plugin: Ref) -> List[Map]:
        """The plug-in's actions that may run now (see :func:`action_applies`)."""
        mirrored = self.plugin(plugin)
        results = [result for result in self.results if result["plugin"]["id"] == mirrored["id"]]
        return [action for action in mirrored["actions"] if action_applies(action, results)]

    def run_action(self, plugin: Ref, action: Ref, instance: Ref = None) -> Map:
        """Run one of a plug-in's actions in the host; return its result, refresh the context."""
        result: Map = self._worker.process(_id(plugin), _id(instance), _id(action))
        self.refresh()
        return result


def publish(host: Any, targets: Optional[List[str]] = None, **options: Any) -> Iterator[Map]:
    """Publish everything in ``host``; yield each result. ``options`` go to :class:`Publisher`."""
    return Publisher(host, **options).publish(targets)
