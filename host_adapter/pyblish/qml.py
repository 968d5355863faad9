"""Show pyblish-qml for this host, from a DCC menu: start it when no UI answers.

::

    from host_adapter.pyblish import qml

    launch = qml.show(adapter)         # returns at once; the window appears when it is up
    launch.wait(30)                     # scripts and tests: True once it was shown

:func:`show` asks the UI at the adapter's UI endpoint to ``show`` itself.
When nothing answers there it starts ``python -m ui_adapter.qml --host ID
--ui ENDPOINT`` (the UI then owns the endpoint), and when a standalone
broker answers without a UI attached it starts ``python -m ui_adapter.qml
--broker ENDPOINT --host ID``; then it asks again until the new window
answers (through a broker: until it has attached). All of that runs on a
thread of its own: the host's main thread, which the window's first calls
(reset, collect) need, is never held.

The Python that runs the window needs ``pip install "zmq-host-broker[qml]"``;
it is ``python=``, else the first existing file in
``$PYBLISH_QML_PYTHON_EXECUTABLE`` (pyblish-qml's own variable, paths
separated by ``os.pathsep``), else this interpreter when it is a Python,
else ``python3`` on the PATH.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Union

from broker.errors import HostNotFound, MethodNotFound

__all__ = ["show", "Launch", "python_for_qml"]

log = logging.getLogger(__name__)

#: pyblish-qml's own variable naming the Python that runs its window.
PYTHON_ENV = "PYBLISH_QML_PYTHON_EXECUTABLE"
# How long a UI already at the endpoint has to answer the adapter's announce
# before the endpoint counts as free.
_CONNECT_WAIT = 0.5
_RETRY_STEP = 0.1

_launches: Dict[str, Launch] = {}
_launches_lock = threading.Lock()


def show(
    adapter: Any,
    settings: Optional[Dict[str, Any]] = None,
    *,
    python: Optional[str] = None,
    command: Optional[Sequence[str]] = None,
    arguments: Sequence[str] = (),
    timeout: float = 30.0,
    output: Union[str, Path, None] = None,
) -> Launch:
    """Show pyblish-qml for ``adapter``'s host, starting it if no UI answers.

    Returns at once. While a launch for this adapter is still under way,
    returns that one (a double click starts one window).

    Arguments:
        adapter: the running :class:`~host_adapter.HostAdapter` serving a
            :class:`~host_adapter.pyblish.PyblishService`.
        settings: pyblish-qml settings (``WindowTitle``, ``WindowSize``…,
            ``autoPublish``); the title and context label name the host
            unless given.
        python: the Python that runs the window (see the module's docstring).
        command: the program to start instead of ``[python, "-m", "ui_adapter.qml"]``;
            the arguments that tell it the host follow it.
        arguments: more arguments for it, e.g. ``["--no-auth"]`` or
            ``["--key-file", path]`` to match the adapter's security.
        timeout: seconds until the window must have answered.
        output: a file for the window's output (appended to); None: this
            process's stdout and stderr.

    Returns:
        The :class:`Launch`: ``launch.wait(timeout)``, ``launch.error``.

    Raises:
        FileNotFoundError: no Python to run the window (see :func:`python_for_qml`).
    """
    shown = {
        "WindowTitle": f"Pyblish ({adapter.name})",
        "ContextLabel": adapter.name,
        **(settings or {}),
    }
    program = (
        list(command) if command is not None else [python_for_qml(python), "-m", "ui_adapter.qml"]
    )
    with _launches_lock:
        running = _launches.get(adapter.id)
        if running is not None and not running.done:
            return running
        launch = _launches[adapter.id] = Launch(
            adapter, shown, [*program, *arguments], timeout, output
        )
    launch.start()
    return launch


def python_for_qml(python: Optional[str] = None) -> str:
    """The Python that runs pyblish-qml's window (see the module's docstring).

    Raises:
        FileNotFoundError: none was found.
    """
    if python:
        return python
    for candidate in os.environ.get(PYTHON_ENV, "").split(os.pathsep):
        if candidate and os.path.isfile(candidate):
            return candidate
    if sys.executable and Path(sys.executable).name.lower().startswith("python"):
        return sys.executable
    found = shutil.which("python3") or shutil.which("python")
    if found is None:
        raise FileNotFoundError(f"no Python to run pyblish-qml: set ${PYTHON_ENV}")
    return found


class Launch:
    """One request to show the window: asked, and started if need be.

    Attributes:
        process: the window's process when this launch started one, else None.
        error: why the window was not shown, once :attr:`done`; else None.
    """

    def __init__(
        self,
        adapter: Any,
        settings: Dict[str, Any],
        command: List[str],
        timeout: float,
        output: Union[str, Path, None],
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._command = command
        self._timeout = timeout
        self._output = output
        self.process: Optional[subprocess.Popen] = None
        self.error: Optional[BaseException] = None
        self._shown = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyblish-qml-launch", daemon=True)

    def start(self) -> None:
        """Ask, and start the window if need be, on the launch's own thread."""
        self._thread.start()

    @property
    def done(self) -> bool:
        """Whether the window was shown, or the launch failed."""
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until :attr:`done`; True if the window was shown."""
        self._done.wait(timeout)
        return self._shown.is_set()

    def _run(self) -> None:
        try:
            self._show_or_start()
            self._shown.set()
        except Exception as exc:  # noqa: BLE001 - a thread's end: kept and logged, not lost
            self.error = exc
            log.error("pyblish-qml was not shown: %s", exc)
        finally:
            self._done.set()
        if self.process is not None:
            # Reaped here, so that a window that quits leaves no zombie behind.
            status = self.process.wait()
            log.info("pyblish-qml (pid %d) exited with status %d", self.process.pid, status)

    def _show_or_start(self) -> None:
        adapter = self._adapter
        deadline = time.monotonic() + self._timeout
        if not adapter.wait_connected(_CONNECT_WAIT):
            self._start("--host", adapter.id, "--ui", adapter.ui_endpoint)
        else:
            try:
                self._ask()
                return
            except HostNotFound:  # a broker, and no UI attached to it
                self._start("--broker", adapter.ui_endpoint, "--host", adapter.id)
            except MethodNotFound as exc:
                raise RuntimeError(
                    f"the UI at {adapter.ui_endpoint} is not pyblish-qml: {exc}"
                ) from exc
        self._ask_until(deadline)

    def _ask(self) -> None:
        self._adapter.ui.call("show", self._settings)

    def _ask_until(self, deadline: float) -> None:
        process = self.process
        assert process is not None
        for _ in range(int(self._timeout / _RETRY_STEP) + 2):
            # Asked first: a window that was there all along but answered
            # late makes the one started here exit (the endpoint is taken).
            status = process.poll()
            if self._adapter.connected:
                try:
                    self._ask()
                    return
                except HostNotFound:  # not attached to the broker yet
                    pass
            if status is not None:
                raise RuntimeError(f"pyblish-qml exited with status {status} before it was shown")
            if time.monotonic() >= deadline:
                break
            time.sleep(_RETRY_STEP)  # a bounded poll of a process starting up
        raise TimeoutError(f"pyblish-qml did not answer within {self._timeout:g} s")

    def _start(self, *where: str) -> None:
        command = [*self._command, *where]
        log.info("starting pyblish-qml: %s", " ".join(command))
        stream: Optional[IO[Any]] = None
        if self._output is not None:
            stream = open(self._output, "ab")  # noqa: SIM115 - the child holds it
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT if stream is not None else None,
            )
        finally:
            if stream is not None:
                stream.close()  # the child has its own copy
