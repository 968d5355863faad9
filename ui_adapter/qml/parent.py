"""What a host asks of the window, written as pyblish-qml's parent process writes it.

pyblish-qml 1.x runs as a child of its host and reads the host's requests
from stdin, one JSON line each::

    {"header": "pyblish-qml:popen.parent",
     "payload": {"name": "show", "args": [settings], "kwargs": {}}}

and ``Application.listen()`` hands them to the window from a queue,
``Proxy.channels["parent"]``. :class:`ParentChannel` is that queue: the
UI's own methods (:meth:`ParentChannel.service`), which hosts call over
the transport, put the very same lines in it.

No Qt here: the methods run on the UI adapter's thread and only queue.
"""

from __future__ import annotations

import json
import queue
from typing import Any, Callable, Dict, List, Optional

__all__ = ["ParentChannel", "PARENT_HEADER", "WINDOW_METHODS"]

#: The header pyblish-qml's parent process puts on each request.
PARENT_HEADER = "pyblish-qml:popen.parent"
#: What a host may ask of the window without arguments (``show`` and
#: ``target`` take some).
WINDOW_METHODS = ("hide", "quit", "publish", "validate", "rise", "inFocus", "outFocus")

_PAIRS = ("WindowSize", "WindowPosition")
_TEXTS = ("WindowTitle", "ContextLabel")
_FLAGS = ("autoPublish", "autoValidate")


class ParentChannel:
    """The host's requests to the window, in the order they came.

    Attributes:
        queue: the lines, for ``Proxy.channels["parent"]``.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[str] = queue.Queue()

    def send(self, name: str, *args: Any) -> None:
        """Queue ``name(*args)`` for the window."""
        payload = {"name": name, "args": list(args), "kwargs": {}}
        self.queue.put(json.dumps({"header": PARENT_HEADER, "payload": payload}))

    def service(self) -> Dict[str, Callable[..., Any]]:
        """The UI's methods that hosts call: ``show(settings)``, ``target(targets)``
        and each of :data:`WINDOW_METHODS`; each returns None once queued."""
        methods: Dict[str, Callable[..., Any]] = {"show": self.show, "target": self.target}
        for name in WINDOW_METHODS:
            methods[name] = self._sender(name)
        return methods

    def show(self, settings: Optional[Dict[str, Any]] = None) -> None:
        """Show the window and reset: collect the host anew.

        Arguments:
            settings: any of pyblish-qml's settings (``WindowTitle``,
                ``ContextLabel``, ``WindowSize`` [w, h], ``WindowPosition``
                [x, y], ``HiddenSections``…) and ``autoPublish`` /
                ``autoValidate``; the rest keep pyblish-qml's values.

        Raises:
            TypeError, ValueError: a setting of the wrong kind.
        """
        given = check_settings(settings)
        from pyblish_qml import settings as qml_settings  # plain Python, no Qt

        # pyblish-qml's show() reads the size, title and position from what it
        # is given: a host that sends only a title still gets a window.
        self.send("show", {**qml_settings.to_dict(), **given})

    def target(self, targets: List[str]) -> None:
        """Publish for ``targets`` from now on (pyblish targets, e.g. ``["default", "farm"]``).

        Raises:
            TypeError: not a list of str.
        """
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise TypeError(f"targets is a list of str, not {targets!r}")
        self.send("target", targets)

    def _sender(self, name: str) -> Callable[[], None]:
        def send() -> None:
            self.send(name)

        send.__name__ = name
        send.__doc__ = f"Ask the window to {name} (as pyblish-qml's parent process would)."
        return send


def check_settings(settings: Any) -> Dict[str, Any]:
    """``settings`` as a map whose known keys hold values of the right kind.

    Raises:
        TypeError: not a map, or a key that is not a str.
        ValueError: a known key with a value of the wrong kind.
    """
    if settings is None:
        return {}
    if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
        raise TypeError(f"settings is a map of str keys, not {settings!r}")
    for key in _PAIRS:
        value = settings.get(key)
        if value is not None and not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
        ):
            raise ValueError(f"{key} is two ints, [a, b], not {value!r}")
    for key in _TEXTS:
        if key in settings and not isinstance(settings[key], str):
            raise ValueError(f"{key} is a str, not {settings[key]!r}")
    for key in _FLAGS:
        if key in settings and not isinstance(settings[key], bool):
            raise ValueError(f"{key} is true or false, not {settings[key]!r}")
    hidden = settings.get("HiddenSections", [])
    if not isinstance(hidden, list) or not all(isinstance(s, str) for s in hidden):
        raise ValueError(f"HiddenSections is a list of str, not {hidden!r}")
    return dict(settings)
