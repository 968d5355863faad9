"""What a body may carry, and why a value was refused; without I/O.

The rule, the same for every side and every msgpack (``docs/protocol.md``,
"Data types"):

- ``None``, ``bool``, ``int`` from -2**63 to 2**64-1, ``float``, ``str``,
  ``bytes`` (``bytearray`` and ``memoryview`` travel as bytes), arrays
  (lists; tuples travel as lists) and maps;
- map keys are ``str``, ``int`` or ``bytes``;
- :func:`default_hook` converts ``datetime.datetime``, ``datetime.date`` and
  ``datetime.time`` to their ISO 8601 ``str``, sets and frozensets to lists,
  and refuses anything else with a ``TypeError`` that names the type;
- arrays and maps nest at most :data:`MAX_DEPTH` deep, the message's own
  array included.

msgpack enforces most of it at C speed. What it does not, this module does
off the hot path only, once msgpack has refused something (or, for map
keys, once the strict decode refused a key that is not a str): it finds the
value to blame and says where it is. :func:`pack_nested` packs what
msgpack's encoder would refuse only for its own recursion limit (511 levels
before msgpack 1.2; Python's recursion limit for the pure-Python fallback),
so the limit is this module's, whatever msgpack is installed.
"""

from __future__ import annotations

import datetime
from itertools import chain
from typing import Any, Callable, Iterator, List, Optional, Tuple

import msgpack

__all__ = [
    "MAX_DEPTH",
    "KEY_TYPES",
    "OUT_OF_RANGE",
    "default_hook",
    "pack_nested",
    "extra_packer_levels",
    "find_big_int",
    "find_bad_key",
    "describe_int",
    "describe_path",
]

#: Deepest nesting of arrays and maps a body may have, its own array
#: included: the fixed parse stack of msgpack's C decoder (the same in every
#: msgpack since 1.0). The encoder refuses deeper values itself: msgpack's
#: own encoder stops at 512 levels before 1.2.
MAX_DEPTH = 1024
#: What an error says of an int msgpack cannot carry.
OUT_OF_RANGE = "is out of the 64-bit range msgpack can carry (-2**63 to 2**64-1): send it as a str"
#: The types a map key may have, on the wire and in Python.
KEY_TYPES = (str, int, bytes)

_DATES = (datetime.date, datetime.time)  # datetime.datetime is a date
# What msgpack packs as it is; subclasses count (it packs them as their base).
_NATIVE = (str, bytes, bytearray, memoryview, int, float, type(None))
_NATIVE_EXT = (msgpack.ExtType, msgpack.Timestamp)
_SCALARS = (*_NATIVE_EXT, *_NATIVE)
_PACKABLE = (*_SCALARS, list, tuple, dict)
_KEY_TYPE_SET = frozenset(KEY_TYPES)
_CONTAINERS = frozenset({list, dict})  # what msgpack decodes arrays and maps to
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_END = object()

Path = Tuple[Any, ...]


def default_hook(obj: Any) -> Any:
    """The ``default=`` hook used unless a codec is given another.

    ``datetime.datetime`` (aware or naive), ``datetime.date`` and
    ``datetime.time`` travel as their ISO 8601 ``str`` (``isoformat()``):
    the receiver gets a str, which any language reads. Sets and frozensets
    travel as lists. An int beyond 64 bits raises ``OverflowError`` (the
    codec says where it was); anything else msgpack cannot carry raises
    ``TypeError``: before anything is sent, either way. A hook of your own (see
    :class:`~broker.wire.codec.Codec`) can end with ``return
    default_hook(obj)`` to keep these rules; never pickle there: the
    receiver would run the sender's code.
    """
    if isinstance(obj, _DATES):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, int):  # msgpack asks its hook about an int it cannot pack
        raise OverflowError(f"{describe_int(obj)} {OUT_OF_RANGE}")
    raise TypeError(
        f"cannot send {_type_name(obj)}: send str, int, float, bool, None, bytes,"
        " a list or a dict, or convert it first"
    )


def _type_name(obj: Any) -> str:
    kind = type(obj)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


# -- packing what msgpack's own recursion limit refuses -----------------------------------


def pack_nested(value: Any, default: Callable[[Any], Any], limit: int = MAX_DEPTH) -> bytes:
    """``value`` packed as msgpack's ``packb(value, use_bin_type=True)`` would,
    with arrays and maps nested up to ``limit`` deep whatever msgpack's own limit.

    Iterative, so Python's recursion limit does not matter either. Slower than
    msgpack: used only for what msgpack refused.

    Raises:
        ValueError: nested deeper than ``limit``.
        TypeError, OverflowError: as msgpack would for the same value.
    """
    packer = msgpack.Packer(use_bin_type=True, default=default)
    parts: List[bytes] = []
    stack: List[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        if not isinstance(item, _PACKABLE):
            item = default(item)  # once, as msgpack: what it returns must be packable
            if not isinstance(item, _PACKABLE):
                raise TypeError(f"can not serialize {_type_name(item)!r} object")
        if isinstance(item, _SCALARS):  # first: an ExtType is a tuple
            parts.append(packer.pack(item))
            continue
        if isinstance(item, dict):
            header = packer.pack_map_header(len(item))
            children: Iterator[Any] = chain.from_iterable(item.items())
        else:
            header, children = packer.pack_array_header(len(item)), iter(item)
        if len(stack) > limit:
            raise ValueError(f"it nests arrays and maps deeper than {limit}")
        parts.append(header)
        stack.append(children)
    return b"".join(parts)


def extra_packer_levels(limit: int = MAX_DEPTH, most: int = 16) -> int:
    """How many levels beyond ``limit`` msgpack's own encoder accepts (up to ``most``).

    msgpack counts every value, a scalar too, against its recursion limit:
    1.2 packs 1025 nested empty arrays, one more than its decoder (and this
    protocol) accept. Wrapping a message in this many arrays before
    ``packb`` (and dropping their headers after) makes msgpack refuse, at C
    speed, everything deeper than ``limit``; :func:`pack_nested` then
    packs what is deeper than msgpack's limit but not ours.
    """
    nested: Any = None
    for _ in range(limit):
        nested = [nested]  # limit + 1 values deep
    for extra in range(most):
        try:
            msgpack.packb(nested)
        except (ValueError, RecursionError):
            return extra
        nested = [nested]
    return most


# -- finding what to blame -------------------------------------------------------------------


class _Key:
    """A step of a path to a map's key rather than to one of its values."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key


def _walk(value: Any, limit: int = MAX_DEPTH + 1) -> Iterator[Tuple[Path, Any]]:
    """``(path, item)`` of every key and value in ``value``, depth first.

    Iterative, and never more than ``limit`` containers deep: what is being
    sent may nest 100 000 deep, or contain itself.
    """
    stack: List[Tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        if len(path) >= limit:
            continue
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                stack.append(((*path, key), child))
                stack.append(((*path, _Key(key)), key))
        elif isinstance(item, (list, tuple)):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))


def find_big_int(value: Any) -> Optional[Tuple[Path, int]]:
    """``(path, number)`` of the first int outside -2**63..2**64-1 in ``value``."""
    for path, item in _walk(value):
        if isinstance(item, int) and not _INT_MIN <= item <= _INT_MAX:
            return path, item
    return None


def find_bad_key(decoded: Any) -> Optional[Tuple[Path, Any]]:
    """``(path, key)`` (a path to the key) of the first map key that is not a str, int or bytes in
    what msgpack decoded (plain lists and dicts); None if every key is one.

    A bool key is refused: it is an int in Python, not on the wire.
    """
    stack = [decoded]
    while stack:  # the cheap search first: only containers, key types at C speed
        item = stack.pop()
        if type(item) is dict:
            if not _KEY_TYPE_SET.issuperset(map(type, item)):
                break
            stack.extend(child for child in item.values() if type(child) in _CONTAINERS)
        else:
            stack.extend(child for child in item if type(child) in _CONTAINERS)
    else:
        return None
    for path, key in _walk(decoded):  # found: where it is
        if path and isinstance(path[-1], _Key) and type(key) not in _KEY_TYPE_SET:
            return path, key
    return None


def describe_int(number: int) -> str:
    """An int for an error message: its digits, or its size when they would be long."""
    if number.bit_length() <= 128:
        return f"int {number}"
    return f"int of {number.bit_length()} bits"


def describe_path(root: str, path: Path) -> str:
    """``root`` then the steps of ``path``, as ``args[0]['frames'][1001]``, or
    ``a key of args[0]`` for a path to a map's key."""
    text = root
    for step in path:
        if isinstance(step, _Key):
            return f"a key of {text}"
        text += f"[{step!r}]"
    return text
