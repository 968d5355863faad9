"""What ``dir()``, ``help()`` and ``describe`` show of an endpoint: its methods,
their signatures and docs.

Everything comes from the endpoint's ``rpc.describe``. Signatures are parsed
with ``ast``, never evaluated: a remote default value stays text. A foreign
endpoint may answer with odd types anywhere (a number for a ``doc``, a
list for a ``name``): nothing here raises because of them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

__all__ = ["RemoteMethod", "parse_signature", "methods_by_name", "describe_lines", "SHADOWED"]

#: ``describe(name) -> {"name", "signature", "doc"}``, or ``{}`` when unknown.
Describe = Callable[[str], Mapping[str, Any]]

#: A proxy's own attributes: a remote method of one of these names is
#: reached only by ``proxy.call(name)`` (``rpc`` is refused by this project's
#: servers, but a foreign endpoint may have one).
SHADOWED = ("call", "close", "closed", "rpc")


class RemoteMethod:
    """A remote method: call it, or ask ``help()`` about it.

    Arguments:
        call: ``call(name, *args, **kwargs)``, the owner's way of calling.
        name: the remote method's name.
        describe: the method's description, fetched when help() asks.
        owner: shown by ``repr()``.
    """

    def __init__(self, call: Callable[..., Any], name: str, describe: Describe, owner: Any) -> None:
        self._call = call
        self._describe = describe
        self._owner = owner
        self.__name__ = name
        self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.__name__, *args, **kwargs)

    # Having __get__ makes inspect (and so pydoc's help) treat this as a routine.
    def __get__(self, obj: Any, objtype: Any = None) -> RemoteMethod:
        return self

    @property
    def __doc__(self) -> Optional[str]:  # type: ignore[override]
        doc = self._describe(self.__name__).get("doc")
        return doc if isinstance(doc, str) and doc else None

    @property
    def __signature__(self) -> Any:
        text = self._describe(self.__name__).get("signature")
        return parse_signature(text) if isinstance(text, str) and text else None

    def __repr__(self) -> str:
        return f"<remote method {self.__name__} of {self._owner!r}>"


def methods_by_name(description: Any) -> Dict[str, Dict[str, Any]]:
    """``rpc.describe``'s answer as ``{name: {"name", "signature", "doc"}}``.

    Entries that are not maps with a str name are left out: a foreign
    endpoint's odd description must not break ``dir()`` or ``help()``.
    """
    methods = description.get("methods") if isinstance(description, dict) else None
    if not isinstance(methods, list):
        return {}
    return {
        method["name"]: method
        for method in methods
        if isinstance(method, dict) and isinstance(method.get("name"), str)
    }


def describe_lines(description: Any) -> List[str]:
    """``rpc.describe``'s answer as the lines ``python -m broker describe`` prints.

    ::

        maya (protocol 1)
          add(a, b)  - Add two numbers.
          close()
        warning: close is hidden by the proxy's own close: reach it with proxy.call('close')

    Whatever the endpoint sent, this returns lines: values of odd types are
    shown as their ``repr``, entries that are not maps are shown as they are.
    """
    if not isinstance(description, dict):
        return [f"not a description: {_shown(description)}"]
    name, protocol = description.get("name", "?"), description.get("protocol", "?")
    role = description.get("role")
    head = f"{_shown(name)} (protocol {_shown(protocol)}"
    lines = [f"{head}, {_shown(role)})" if role else f"{head})"]
    if description.get("routing"):  # a broker's hint: how to reach its hosts
        lines.append(f"  routing: {_shown(description['routing'])}")
    methods = description.get("methods", [])
    if not isinstance(methods, list):
        return [*lines, f"  methods: {_shown(methods)}"]
    shadowed = []
    for method in methods:
        if not isinstance(method, dict):
            lines.append(f"  {_shown(method)}")
            continue
        name = _shown(method.get("name", "?"))
        signature = method.get("signature") or ""
        doc = method.get("doc")
        summary = _shown(doc).strip().split("\n", 1)[0] if doc is not None else ""
        line = f"  {name}{signature if isinstance(signature, str) else _shown(signature)}"
        lines.append(f"{line}  - {summary}" if summary else line)
        if method.get("name") in SHADOWED:
            shadowed.append(name)
    lines += [
        f"warning: {hidden} is hidden by the proxy's own {hidden}: "
        f"reach it with proxy.call({hidden!r})"
        for hidden in shadowed
    ]
    return lines


def _shown(value: Any) -> str:
    """A remote value as text: a str as it is, anything else as its repr."""
    return value if isinstance(value, str) else repr(value)


class _Text:
    """Shows a remote default value or annotation exactly as the remote wrote it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def parse_signature(text: str) -> Any:
    """An ``inspect.Signature`` from a remote signature's text, or None.

    Parsed with ``ast``, never evaluated: default values stay text.
    """
    import ast
    import inspect

    try:
        node = ast.parse(f"def _remote{text}: pass").body[0]
    except (SyntaxError, ValueError):
        return None
    assert isinstance(node, ast.FunctionDef)
    spec = node.args
    kind = inspect.Parameter
    # (argument, kind, default expression or None), in the signature's order.
    positional: List[Tuple[ast.arg, Any]] = [(a, kind.POSITIONAL_ONLY) for a in spec.posonlyargs]
    positional += [(a, kind.POSITIONAL_OR_KEYWORD) for a in spec.args]
    defaults = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
    arguments: List[Tuple[ast.arg, Any, Optional[ast.expr]]] = [
        (arg, how, default) for (arg, how), default in zip(positional, defaults)
    ]
    if spec.vararg:
        arguments.append((spec.vararg, kind.VAR_POSITIONAL, None))
    arguments += [(a, kind.KEYWORD_ONLY, d) for a, d in zip(spec.kwonlyargs, spec.kw_defaults)]
    if spec.kwarg:
        arguments.append((spec.kwarg, kind.VAR_KEYWORD, None))
    try:
        params = [
            kind(arg.arg, how, default=_text_of(default), annotation=_text_of(arg.annotation))
            for arg, how, default in arguments
        ]
        return inspect.Signature(params, return_annotation=_text_of(node.returns))
    except ValueError:
        return None


def _text_of(expr: Any) -> Any:
    """A remote default or annotation as its own text; ``empty`` when there is none."""
    import ast
    import inspect

    return inspect.Parameter.empty if expr is None else _Text(ast.unparse(expr))
