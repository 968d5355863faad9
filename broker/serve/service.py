"""Turn an object, a dict of callables or a list of functions into a service.

A :class:`Service` is a fixed dispatch table built once, when the service is
served. Remote names are looked up in that table and nowhere else: nothing
starting with ``_`` is exposed, no dotted name is followed, and no
``getattr`` is ever made with a string that came off the wire.
"""

from __future__ import annotations

import keyword
import types
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from ..wire.messages import RESERVED_PREFIX

__all__ = ["Service", "as_service", "check_method_name", "check_service", "PROXY_API"]

#: The one identifier a service may not use: the attribute of a proxy's own API.
PROXY_API = "rpc"

ServiceLike = Union["Service", Mapping[str, Callable[..., Any]], Iterable[Callable[..., Any]], Any]


def check_method_name(name: str) -> str:
    """Return ``name`` if it may be a service method's name, else raise ValueError.

    A method name is a Python identifier, not a keyword, not starting with
    ``_`` (private), not in the protocol's ``rpc.`` namespace, and not
    ``rpc`` itself: on a proxy, ``proxy.rpc`` is the proxy's own API, so a
    remote ``rpc`` could never be reached by attribute.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a valid method name (a Python identifier)")
    if name.startswith("_"):
        raise ValueError(f"{name!r} starts with '_': private names are never exposed")
    if name.startswith(RESERVED_PREFIX):  # pragma: no cover - an identifier has no dot
        raise ValueError(f"{name!r} is reserved for the protocol")
    if name == PROXY_API:
        raise ValueError(
            "a service method named 'rpc' is refused: rpc is reserved "
            "(proxy.rpc is every proxy's own API); give the method another name"
        )
    return name


def check_service(service: ServiceLike, factory: str) -> ServiceLike:
    """Refuse an endpoint passed where the service goes (an older argument order).

    ``serve()``, ``listen()`` and ``attach()`` all take the service first;
    a str there is an endpoint given by position, never a service.

    Returns:
        ``service``, unchanged.

    Raises:
        TypeError: ``service`` is a str.
    """
    if isinstance(service, str):
        raise TypeError(
            f"{factory}() takes the service first, like host_adapter.serve(); "
            f"pass the endpoint by name: {factory}(service, endpoint={service!r})"
        )
    return service


class Service:
    """The methods a server exposes, by name.

    Arguments:
        methods: name → callable. Use :func:`as_service` to build one from an
            object, a module, a dict or a list of functions.
        name: a label for logs and ``rpc.describe``.
    """

    def __init__(self, methods: Mapping[str, Callable[..., Any]], name: str = "") -> None:
        table: Dict[str, Callable[..., Any]] = {}
        for method_name, func in methods.items():
            if not callable(func):
                raise TypeError(f"service method {method_name!r} is not callable: {func!r}")
            table[check_method_name(method_name)] = func
        self.name = name
        self._methods = table
        self._description: Optional[List[Dict[str, str]]] = None

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __len__(self) -> int:
        return len(self._methods)

    def names(self) -> List[str]:
        """The exposed method names, sorted."""
        return sorted(self._methods)

    def get(self, name: str) -> Optional[Callable[..., Any]]:
        """The callable for ``name``, or None. Only an exact table hit counts."""
        return self._methods.get(name)

    def describe(self) -> List[Dict[str, str]]:
        """``[{"name", "signature", "doc"}]`` for every method, sorted by name."""
        if self._description is None:
            self._description = [
                {"name": name, "signature": _signature_text(func), "doc": _doc_text(func)}
                for name, func in sorted(self._methods.items())
            ]
        return self._description

    def arguments_fit(self, name: str, args: List[Any], kwargs: Dict[str, Any]) -> bool:
        """Whether ``args``/``kwargs`` bind to the method's signature.

        Used after a call raised ``TypeError``, to tell "you called it wrong"
        (InvalidParams) from "it failed inside" (Exception) without paying
        for a signature check on every call. True when the signature cannot
        be read (builtins): then the error is reported as the function's own.
        """
        import inspect

        try:
            signature = inspect.signature(self._methods[name])
        except (TypeError, ValueError):
            return True
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            return False
        return True


def as_service(target: ServiceLike = None, name: str = "") -> Service:
    """Build a :class:`Service` from whatever describes one.

    Arguments:
        target: a :class:`Service` (returned as is); a dict of name →
            callable; a list or tuple of functions (exposed by their
            ``__name__``); a module (its ``__all__``, or else the public
            functions defined in it); any other object (its public methods,
            properties are never evaluated); None for no methods.
        name: a label for logs and ``rpc.describe``.

    Raises:
        ValueError: a name that cannot be exposed (private, not an
            identifier, or ``rpc``: see :func:`check_method_name`).
        TypeError: a dict value that is not callable.
    """
    if isinstance(target, Service):
        return target
    if target is None:
        return Service({}, name)
    if isinstance(target, Mapping):
        return Service(target, name)
    if isinstance(target, (list, tuple)):
        return Service({_function_name(func): func for func in target}, name)
    if isinstance(target, types.ModuleType):
        return Service(_module_methods(target), name or target.__name__)
    return Service(_object_methods(target), name or type(target).__name__)


def _function_name(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"{func!r} has no __name__; pass a dict of name -> callable instead")
    return name


def _module_methods(module: types.ModuleType) -> Dict[str, Callable[..., Any]]:
    exported = getattr(module, "__all__", None)
    if exported is not None:
        missing = [name for name in exported if not hasattr(module, name)]
        if missing:
            raise ValueError(f"{module.__name__}.__all__ names what it lacks: {missing}")
        return {
            name: value
            for name in exported
            if callable(value := getattr(module, name)) and not isinstance(value, type)
        }
    # Without __all__, only functions defined here: not what the module imported.
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and isinstance(value, types.FunctionType)
        and value.__module__ == module.__name__
    }


def _object_methods(obj: Any) -> Dict[str, Callable[..., Any]]:
    import inspect

    methods = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        # Look without triggering descriptors: reading a property or a
        # cached_property would run arbitrary code while building the table.
        static = inspect.getattr_static(obj, name)
        if isinstance(static, type):
            continue
        if isinstance(static, _METHOD_KINDS):
            value = getattr(obj, name)  # binds the method; runs no user code
        elif hasattr(type(static), "__get__"):
            continue  # property, cached_property, or another descriptor
        else:
            value = static  # a callable stored on the instance
        if callable(value):
            methods[name] = value
    return methods


_METHOD_KINDS = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodDescriptorType,
    staticmethod,
    classmethod,
)


def _signature_text(func: Callable[..., Any]) -> str:
    import inspect

    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


def _doc_text(func: Callable[..., Any]) -> str:
    import inspect

    return inspect.getdoc(func) or ""
