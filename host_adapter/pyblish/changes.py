"""What changed in a pyblish context since the UI last saw it.

The UI mirrors the context it got from ``context()``; after each publishing
step the service sends only the difference::

    {"added":   [instance maps, in context order],
     "removed": [instance ids],
     "order":   [every instance id] or None (None: same ids, same order),
     "updated": {entity id: {"data": {key: new value},
                             "deleted": [keys],
                             "children": [members]}}}   # members only if changed

``updated`` holds the context's id too. Values are converted by the rule of
:mod:`host_adapter.pyblish.shapes` and compared after conversion.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from .shapes import entity_data, format_instance, instance_children

__all__ = ["ChangeTracker", "no_changes"]

# entity id -> (converted data, converted members or None for the context)
_Snapshot = Tuple[Dict[str, Any], Optional[List[Any]]]


def no_changes() -> Dict[str, Any]:
    """The difference when nothing changed."""
    return {"added": [], "removed": [], "order": None, "updated": {}}


def _same(old: Any, new: Any) -> bool:
    # 1 == 1.0 == True: a value that changed type is a change.
    return type(old) is type(new) and old == new


class ChangeTracker:
    """Remembers the converted state of a context, and reports differences."""

    def __init__(self) -> None:
        self._ids: List[str] = []
        # The instances themselves, held so that their id() cannot be reused:
        # comparing id()s finds added, removed or moved instances in C, where
        # reading 200 ``instance.id`` properties per pair would not be cheap.
        self._identities: List[int] = []
        self._snapshots: Dict[str, _Snapshot] = {}

    def baseline(self, context: Any, formatted: Optional[Dict[str, Any]] = None) -> None:
        """Remember ``context`` as the UI now sees it (``formatted``, if already made)."""
        if formatted is None:
            from .shapes import format_context

            formatted = format_context(context)
        self._ids = [child["id"] for child in formatted["children"]]
        self._remember(list(context))
        self._snapshots = {formatted["id"]: (formatted["data"], None)}
        for child in formatted["children"]:
            self._snapshots[child["id"]] = (child["data"], child["children"])

    def diff(self, context: Any, touched: Optional[Iterable[Any]] = None) -> Dict[str, Any]:
        """The difference since the last call (or baseline), and remember the new state.

        Arguments:
            context: the pyblish context.
            touched: the entities whose data may have changed (an instance
                and the context after an instance plug-in ran); None compares
                every entity. Added and removed instances are always found.
        """
        changes = no_changes()
        instances = list(context)
        if list(map(id, instances)) != self._identities:
            ids = [instance.id for instance in instances]
            self._remember(instances)
            known = set(self._ids)
            current = set(ids)
            for instance in instances:
                if instance.id not in known:
                    formatted = format_instance(instance)
                    changes["added"].append(formatted)
                    self._snapshots[instance.id] = (formatted["data"], formatted["children"])
            changes["removed"] = [old for old in self._ids if old not in current]
            for old in changes["removed"]:
                self._snapshots.pop(old, None)
            changes["order"] = ids
            self._ids = ids
        entities = [context, *instances] if touched is None else touched
        added = {formatted["id"] for formatted in changes["added"]}
        for entity in entities:
            if entity.id in added:
                continue
            update = self._compare(entity, entity is context)
            if update:
                changes["updated"][entity.id] = update
        return changes

    def _remember(self, instances: List[Any]) -> None:
        self._identities = list(map(id, instances))

    def _compare(self, entity: Any, is_context: bool) -> Optional[Dict[str, Any]]:
        previous = self._snapshots.get(entity.id)
        if previous is None:
            return None  # an instance no longer in the context
        old_data, old_children = previous
        data = entity_data(entity)
        children = None if is_context else instance_children(entity)
        update: Dict[str, Any] = {}
        changed = {
            key: value
            for key, value in data.items()
            if key not in old_data or not _same(old_data[key], value)
        }
        if changed:
            update["data"] = changed
        deleted = [key for key in old_data if key not in data]
        if deleted:
            update["deleted"] = deleted
        if children is not None and children != old_children:
            update["children"] = children
        if update:
            self._snapshots[entity.id] = (data, children)
        return update or None
