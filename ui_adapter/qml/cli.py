"""``python -m ui_adapter.qml``: pyblish-qml's window for a host, over ZeroMQ.

::

    python -m ui_adapter.qml --host maya                     # own the UI endpoint, wait for maya
    python -m ui_adapter.qml --host maya --ui tcp://127.0.0.1:9191
    python -m ui_adapter.qml --broker tcp://127.0.0.1:9090 --host maya   # behind a broker
    python -m ui_adapter.qml --endpoint tcp://127.0.0.1:54321           # the host's own endpoint
    python -m ui_adapter.qml --check                         # can pyblish-qml start here?

With ``--host`` the command is the UI: it owns the UI endpoint (``--ui``,
else ``$BROKER_UI_ENDPOINT``, else ``tcp://127.0.0.1:9090``) and waits up to
``--wait`` seconds for the host (a name, or an id) to announce itself. With
``--broker`` it attaches to a standalone broker instead and calls the host
through it, by id. Either way the window stays hidden until the host calls
``show(settings)`` (``host_adapter.pyblish.qml.show`` does, from a DCC
menu), as pyblish-qml waits for its parent process; ``--show`` shows it at
once. With ``--endpoint`` nobody can call the UI, so it shows at once.

The window quits, and says why on stderr, when its host is lost or departs
(behind a broker: also when the broker stops answering). Exit status: 0
when the user closed it or the host asked it to quit, 1 when the host was
lost or departed, 2 when it could not start (no host in time, the endpoint
taken, pyblish-qml or PyQt5 missing).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from broker.errors import EndpointInUse, RpcError
from broker.relay.arguments import add_verbose, add_version, say_interrupted
from broker.security import Security
from broker.security.arguments import add_security_arguments, security_from
from broker.transport.endpoints import UI_ENDPOINT_ENV

from .bridge import HostBridge
from .parent import ParentChannel

__all__ = ["main"]

log = logging.getLogger(__name__)

# After the host is gone, how long the window may take to quit by itself
# before the process ends anyway (an event loop stuck in a call).
_QUIT_GRACE = 5.0
_INSTALL_HINT = (
    'pip install "zmq-host-broker[qml]"; on Debian, as root, '
    ".ci/install-qt-system-packages installs the system libraries PyQt5 needs"
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ui_adapter.qml",
        description="pyblish-qml's window for a host, over ZeroMQ.",
    )
    parser.add_argument("--host", metavar="NAME", help="the host's name or id, e.g. maya")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--ui",
        metavar="ENDPOINT",
        help=f"own this UI endpoint (default ${UI_ENDPOINT_ENV} or tcp://127.0.0.1:9090)",
    )
    where.add_argument(
        "--broker", metavar="ENDPOINT", help="attach to the standalone broker at this endpoint"
    )
    where.add_argument("--endpoint", metavar="ENDPOINT", help="call the host at its own endpoint")
    parser.add_argument(
        "--wait",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for the host (default 15)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="longest one call to the host may take: a plug-in runs in it (default 600)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="heartbeat interval; the host counts as lost after 3 (default 1)",
    )
    parser.add_argument(
        "--target",
        action="append",
        dest="targets",
        metavar="TARGET",
        help="a pyblish target (repeatable; default: default and the registered ones)",
    )
    parser.add_argument("--show", action="store_true", help="show the window at once")
    parser.add_argument(
        "--check", action="store_true", help="only check that pyblish-qml can start here"
    )
    add_verbose(parser, top=True)
    add_version(parser)
    add_security_arguments(parser)
    return parser


def main(
    argv: Optional[Sequence[str]] = None, on_window: Optional[Callable[[Any], None]] = None
) -> int:
    """Run the command line; returns the exit status.

    Arguments:
        argv: the arguments; ``sys.argv[1:]`` when None.
        on_window: called with the :class:`~ui_adapter.qml.window.PyblishQml`
            once it is made, before its event loop runs (to connect to its
            controller's signals, say).
    """
    parser = _build_parser()
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if options.check:
        return _check()
    if options.endpoint is None and not options.host:
        parser.error("give the host: --host NAME (or its own --endpoint)")
    if min(options.wait, options.timeout, options.heartbeat) <= 0:
        parser.error("--wait, --timeout and --heartbeat are positive")
    try:
        security = security_from(options)
    except (ValueError, OSError) as exc:
        parser.error(f"CURVE: {exc}")
    problem = _qt_problem()
    if problem:
        print(f"error: pyblish-qml cannot start: {problem}\n  {_INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        return _run(options, security, on_window)
    except KeyboardInterrupt:  # Ctrl-C while waiting for the host: one line, not a traceback
        return say_interrupted()


def _run(
    options: argparse.Namespace,
    security: Security,
    on_window: Optional[Callable[[Any], None]],
) -> int:
    channel = ParentChannel()
    gone: List[str] = []

    def on_gone(reason: str) -> None:
        gone.append(reason)
        print(f"pyblish-qml: {reason}; quitting", file=sys.stderr, flush=True)
        channel.send("quit")
        timer = threading.Timer(_QUIT_GRACE, _end_process, args=(1,))
        timer.daemon = True
        timer.start()

    bridge = HostBridge(
        on_gone, timeout=options.timeout, heartbeat_interval=options.heartbeat, auth=security
    )
    try:
        info = _reach_host(bridge, channel, options)
        print(
            f"pyblish-qml for {info.get('id')} ({info.get('name')}) through {bridge.where}",
            flush=True,
        )
        if options.show or options.endpoint is not None:
            channel.show()
        from .window import PyblishQml

        window = PyblishQml(bridge.call, channel, options.targets or _default_targets())
        if on_window is not None:
            on_window(window)
        # Qt's event loop holds the main thread, where Python's own Ctrl-C
        # handler would never run: let the signal end the process instead.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            window.run()
        finally:
            signal.signal(signal.SIGINT, interrupt)
    except RuntimeError as exc:  # the QML did not load
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EndpointInUse as exc:
        print(
            f"error: {exc}\n  behind a standalone broker use --broker ENDPOINT; "
            "if another UI owns it, give the host's own --endpoint",
            file=sys.stderr,
        )
        return 2
    except RpcError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        bridge.close()
    return 1 if gone else 0


def _reach_host(
    bridge: HostBridge, channel: ParentChannel, options: argparse.Namespace
) -> Dict[str, Any]:
    if options.endpoint is not None:
        return bridge.connect(options.endpoint, options.wait)
    if options.broker is not None:
        bridge.attach(options.broker, channel.service())
    else:
        bridge.listen(options.ui, channel.service())
    print(f"waiting for {options.host!r} at {bridge.where}...", flush=True)
    return bridge.wait_for_host(options.host, options.wait)


def _default_targets() -> List[str]:
    import pyblish.api

    return ["default", *pyblish.api.registered_targets()]


def _qt_problem() -> Optional[str]:
    """Why pyblish-qml's window cannot be made here, or None."""
    from .importable import ensure_importable

    try:
        ensure_importable()
        import pyblish_qml.app  # noqa: F401 - imports PyQt5 and the modules it loads
    except ImportError as exc:
        return str(exc)
    return None


def _check() -> int:
    problem = _qt_problem()
    if problem is None:
        from .window import PyblishQml

        def no_host(name: str, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("--check calls no host")

        try:
            PyblishQml(no_host, ParentChannel(), ["default"])
        except RuntimeError as exc:
            problem = str(exc)
    if problem is not None:
        print(f"pyblish-qml cannot start here: {problem}\n  {_INSTALL_HINT}", file=sys.stderr)
        return 2
    import pyblish_qml
    from PyQt5 import QtCore

    print(
        f"pyblish-qml {pyblish_qml.__version__} with PyQt5 {QtCore.PYQT_VERSION_STR} "
        f"(Qt {QtCore.QT_VERSION_STR}) starts here"
    )
    return 0


def _end_process(status: int) -> None:
    # The window did not quit within the grace period: end the process all
    # the same, as pyblish-qml's own watchdog does (os._exit: no clean-up
    # that could wait on the stuck event loop).
    print("pyblish-qml: the window did not quit in time; ending the process", file=sys.stderr)
    sys.stderr.flush()
    os._exit(status)
