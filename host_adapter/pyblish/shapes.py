"""Pyblish objects as msgpack-ready maps: the shapes the publishing service sends.

The conversion rule (:func:`to_wire`), applied to every ``data`` value, to
instance members and to anything else a plug-in put where the service reads:

- ``None``, ``bool``, ``str``, ``bytes``, ``float`` and ``int`` from -2**63 to
  2**64-1 travel as they are (subclasses, such as ``str`` enums, as their
  base type); other integral numbers (numpy's included) as ``int``, other
  real numbers as ``float``; ``bytearray`` and ``memoryview`` as ``bytes``;
- mappings (``dict``, ``OrderedDict``…) become maps; a key that is not a
  ``str`` becomes its ``repr()`` (``1`` → ``"1"``); when two keys end up
  equal the later one wins;
- lists, tuples, deques and sets become lists (a set sorted when its items
  can be sorted, so the same set always looks the same);
- ``datetime.datetime``, ``datetime.date`` and ``datetime.time`` become their
  ISO 8601 ``str``: the codec's own rule
  (:func:`broker.wire.codec.default_hook`), so a date reads the same in a
  publish and in any other call;
- everything else, including a pyblish ``Instance`` or ``Context`` found
  inside data, integers beyond 64 bits, and containers nested deeper than
  :data:`MAX_DEPTH`, becomes its ``repr()`` cut to :data:`MAX_REPR` characters.
  A ``repr()`` that raises becomes ``"<unrepresentable TYPE>"``.

So a call never fails because of what a plug-in stored, and what arrives is
always plain data: the receiver never runs the sender's code.
"""

from __future__ import annotations

import collections
import collections.abc
import datetime
import getpass
import inspect
import logging
import numbers
import os
import sys
import traceback
from typing import Any, Dict, List, Optional

import pyblish
import pyblish.api
import pyblish.lib
import pyblish.plugin

from broker.wire.codec import default_hook

__all__ = [
    "MAX_DEPTH",
    "MAX_REPR",
    "to_wire",
    "entity_data",
    "format_context",
    "format_instance",
    "format_plugin",
    "format_result",
    "format_record",
    "format_error",
    "plugin_type",
]

#: Containers nested deeper than this are sent as their repr().
MAX_DEPTH = 32
#: A repr() longer than this is cut (and ends with "...").
MAX_REPR = 1000
#: Keys of the context's data the service never sends: pyblish keeps every
#: result there, with back references to the context itself. Results travel
#: on their own, once.
CONTEXT_PRIVATE_KEYS = frozenset({"results"})

# Types that travel as they are (exact types: subclasses are converted).
_PLAIN = frozenset({str, float, bool, bytes, type(None)})
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_SEQUENCES = (list, tuple, collections.deque, collections.abc.Set)
_ENTITY = pyblish.plugin.AbstractEntity
_DATES = (datetime.date, datetime.time)


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - the rule promises never to fail
        return f"<unrepresentable {type(value).__module__}.{type(value).__qualname__}>"
    if len(text) > MAX_REPR:
        return text[: MAX_REPR - 3] + "..."
    return text


def to_wire(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain msgpack data, by the rule in this module's docstring."""
    kind = type(value)
    if kind in _PLAIN or value is None:
        return value
    if kind is int:
        return value if _INT_MIN <= value <= _INT_MAX else _repr(value)
    if _depth >= MAX_DEPTH:
        return _repr(value)
    depth = _depth + 1
    # Exact types first: most data is made of them, and skipping the calls
    # for plain items is most of the cost of a publish step.
    if kind is dict:
        return {
            (key if type(key) is str else _repr(key)): (
                item if type(item) in _PLAIN else to_wire(item, depth)
            )
            for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [item if type(item) in _PLAIN else to_wire(item, depth) for item in value]
    if isinstance(value, dict) or (
        isinstance(value, collections.abc.Mapping) and not isinstance(value, _ENTITY)
    ):
        return {
            (key if type(key) is str else _repr(key)): to_wire(item, depth)
            for key, item in value.items()
        }
    if isinstance(value, _SEQUENCES) and not isinstance(value, _ENTITY):
        if isinstance(value, collections.abc.Set):
            try:
                value = sorted(value)
            except TypeError:  # mixed types: keep the iteration order
                pass
        return [to_wire(item, depth) for item in value]
    return _convert_other(value)


def _convert_other(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, numbers.Integral):
        number = int(value)
        return number if _INT_MIN <= number <= _INT_MAX else _repr(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, _DATES):
        return default_hook(value)
    return _repr(value)


def entity_data(entity: Any) -> Dict[str, Any]:
    """The converted ``data`` of an instance or the context (its results left out)."""
    data = entity.data
    if isinstance(entity, pyblish.plugin.Context):
        return {
            (key if type(key) is str else _repr(key)): to_wire(value, 1)
            for key, value in data.items()
            if key not in CONTEXT_PRIVATE_KEYS
        }
    return to_wire(dict(data))  # type: ignore[no-any-return]


def instance_children(instance: Any) -> List[Any]:
    """The converted members of an instance (node names, usually)."""
    return [to_wire(member, 1) for member in instance]


def format_instance(instance: Any) -> Dict[str, Any]:
    """``{"name", "id", "data", "children"}`` of one instance."""
    return {
        "name": to_wire(instance.name),
        "id": instance.id,
        "data": entity_data(instance),
        "children": instance_children(instance),
    }


def format_context(context: Any) -> Dict[str, Any]:
    """``{"name", "id", "data", "children": [instances]}``."""
    return {
        "name": to_wire(context.name),
        "id": context.id,
        "data": entity_data(context),
        "children": [format_instance(instance) for instance in context],
    }


def plugin_type(plugin: Any) -> str:
    """``Collector``, ``Validator``, ``Extractor``, ``Integrator`` or ``Other``, by order."""
    for name, base in (
        ("Collector", pyblish.api.CollectorOrder),
        ("Validator", pyblish.api.ValidatorOrder),
        ("Extractor", pyblish.api.ExtractorOrder),
        ("Integrator", pyblish.api.IntegratorOrder),
    ):
        if pyblish.lib.inrange(plugin.order, base=base):
            return name
    return "Other"


def _argument_names(func: Any) -> List[str]:
    try:
        names = inspect.getfullargspec(func).args
    except TypeError:
        return []
    return [name for name in names if name not in ("self", "cls")]


def _doc(obj: Any) -> Optional[str]:
    # Not inspect.getdoc: it would give an undocumented plug-in the docstring
    # of pyblish's own base class.
    doc = obj.__dict__.get("__doc__") if hasattr(obj, "__dict__") else None
    return inspect.cleandoc(doc) if isinstance(doc, str) else None


def _source_path(plugin: Any) -> Optional[str]:
    module = plugin.__module__
    if isinstance(module, str) and os.path.isfile(module):
        return module  # discovered from a plug-in path: pyblish sets the file here
    path = getattr(sys.modules.get(module), "__file__", None)
    return path if isinstance(path, str) else None


def _has_repair(plugin: Any) -> bool:
    return getattr(plugin, "repair", None) is not pyblish.plugin.Plugin.repair


def format_action(action: Any) -> Dict[str, Any]:
    """One entry of a plug-in's ``actions``.

    ``label`` falls back to the class name and ``icon`` to ``""``; ``type``
    and ``error`` are also sent as ``__type__`` and ``__error__``, the names
    pyblish-qml reads.
    """
    kind = to_wire(getattr(action, "__type__", "action"))
    error = to_wire(getattr(action, "__error__", None))
    return {
        "id": action.id,
        "name": action.__name__,
        "type": kind,
        "label": to_wire(action.label or action.__name__),
        "description": _doc(action),
        "active": bool(action.active),
        "on": to_wire(action.on),
        "icon": to_wire(action.icon or ""),
        "error": error,
        "__type__": kind,
        "__error__": error,
    }


def format_plugin(plugin: Any) -> Dict[str, Any]:
    """Everything a UI shows about a plug-in class (never the class itself)."""
    context_enabled = bool(getattr(plugin, "__contextEnabled__", False))
    instance_enabled = bool(getattr(plugin, "__instanceEnabled__", False))
    pre11 = bool(getattr(plugin, "__pre11__", False))
    return {
        "id": plugin.id,
        "name": plugin.__name__,
        "label": to_wire(plugin.label),
        "version": to_wire(plugin.version),
        "category": to_wire(getattr(plugin, "category", None)),
        "requires": to_wire(plugin.requires),
        "order": to_wire(plugin.order),
        "optional": bool(plugin.optional),
        "active": bool(plugin.active),
        "hosts": to_wire(plugin.hosts),
        "families": to_wire(plugin.families),
        "targets": to_wire(plugin.targets),
        "match": to_wire(plugin.match),
        "doc": _doc(plugin),
        "type": plugin_type(plugin),
        "module": to_wire(plugin.__module__),
        "path": _source_path(plugin),
        "contextEnabled": context_enabled,
        "instanceEnabled": instance_enabled,
        "pre11": pre11,
        # The same under pyblish's own attribute names: pyblish-qml turns the
        # map back into a class and reads them as attributes.
        "__contextEnabled__": context_enabled,
        "__instanceEnabled__": instance_enabled,
        "__pre11__": pre11,
        "hasRepair": _has_repair(plugin),
        "process": {"args": _argument_names(plugin.process)},
        "repair": {"args": _argument_names(plugin.repair)},
        "actions": [format_action(action) for action in plugin.actions],
    }


def format_error(error: Optional[BaseException]) -> Optional[Dict[str, Any]]:
    """``{"message", "exception", "fname", "line_number", "func", "exc", "traceback"}``.

    ``exc`` is the source line that raised; ``traceback`` the whole
    formatted traceback (pyblish stores both on the exception).
    """
    if error is None:
        return None
    location = getattr(error, "traceback", None)
    fname = line_number = func = exc = None
    if isinstance(location, tuple) or isinstance(location, traceback.FrameSummary):
        try:
            fname, line_number, func, exc = tuple(location)
        except ValueError:
            pass
    text = getattr(error, "formatted_traceback", None)
    if not isinstance(text, str):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    cls = type(error)
    return {
        "message": _message(error),
        "exception": f"{cls.__module__}.{cls.__qualname__}",
        "fname": to_wire(fname),
        "line_number": to_wire(line_number),
        "func": to_wire(func),
        "exc": to_wire(exc),
        "traceback": text,
    }


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the result
        return _repr(error)


def format_record(record: logging.LogRecord) -> Dict[str, Any]:
    """A log record as a map, with ``msg`` (and its args) rendered as ``message``."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - bad %-args in a plug-in's log call
        message = _repr(record.msg)
    exc_text = record.exc_text
    if exc_text is None and record.exc_info and record.exc_info[0] is not None:
        exc_text = "".join(traceback.format_exception(*record.exc_info))
    return {
        "name": record.name,
        "levelname": record.levelname,
        "levelno": record.levelno,
        "message": message if isinstance(message, str) else _repr(message),
        "pathname": record.pathname,
        "lineno": record.lineno,
        "funcName": record.funcName,
        "created": record.created,
        "threadName": record.threadName,
        "exc_text": exc_text,
    }


def format_result(result: Dict[str, Any]) -> Dict[str, Any]:
    """A pyblish result as a map: plug-in and instance by id and name, never whole.

    ``{"success", "plugin": {"id", "name", "label"}, "instance": {"id", "name"}
    or None, "action": id or None, "error", "records", "duration"}``;
    ``duration`` is in milliseconds.
    """
    plugin = result["plugin"]
    instance = result.get("instance")
    action = result.get("action")
    if action is not None and not isinstance(action, str):
        action = getattr(action, "id", None)
    return {
        "success": bool(result["success"]),
        "plugin": {"id": plugin.id, "name": plugin.__name__, "label": to_wire(plugin.label)},
        "instance": None
        if instance is None
        else {"id": instance.id, "name": to_wire(instance.name)},
        "action": action,
        "error": format_error(result.get("error")),
        "records": [format_record(record) for record in result.get("records", ())],
        "duration": float(result.get("duration") or 0.0),
    }


def identity_data(reset_time: float) -> Dict[str, Any]:
    """The context data pyblish-qml's own service added to every ``context()``."""
    return {
        "host": ", ".join(reversed(pyblish.api.registered_hosts())),
        "user": _user(),
        # Hosts are reached by endpoint, not by port: -1, as pyblish-qml's
        # own service sends when it was given no port.
        "port": -1,
        "connectTime": _iso_time(reset_time),
        "pyblishVersion": pyblish.__version__,
        "pythonVersion": sys.version,
    }


def context_meta(reset_time: float) -> Dict[str, Any]:
    """Who serves the context: ``hosts``, ``user``, ``pid``, ``resetTime``, versions."""
    return {
        "hosts": pyblish.api.registered_hosts(),
        "user": _user(),
        "pid": os.getpid(),
        "resetTime": reset_time,
        "pyblishVersion": pyblish.__version__,
        "pythonVersion": sys.version.split()[0],
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name on some service accounts
        return ""


def _iso_time(timestamp: float) -> str:
    """``2024-05-01T12:00:00.123456Z``: UTC, as ``pyblish.lib.time()`` writes it."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.replace(tzinfo=None).isoformat() + "Z"
