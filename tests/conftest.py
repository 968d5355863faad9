"""Shared test helpers: polling with deadlines, and hosts/UIs in real processes."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HELPERS = HERE / "helpers"
PROCESS_SCRIPT = HELPERS / "processes.py"


# A suite started with SIGINT ignored (a CI runner's background job: a
# non-interactive shell's `cmd &` ignores it) would pass that on to every
# process it starts, and Python then leaves Ctrl-C ignored: the Ctrl-C tests
# could never interrupt their command lines. Children inherit the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 5.0,
    message: str = "condition",
    step: float = 0.01,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``message``.

    Bounded in time and in count: never more than ``timeout / step + 1`` polls.
    """
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 1):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(step)  # ok: polling interval of a bounded wait, not a wait for an event
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


class Process:
    """A helper process from tests/helpers/processes.py, killed at the end of the test."""

    def __init__(self, role: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [sys.executable, str(PROCESS_SCRIPT), role, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self._stderr: Optional[str] = None
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_line(self, timeout: float = 10.0) -> str:
        """The next line the process prints (e.g. its endpoint)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"process printed nothing within {timeout} s") from None
        if line is None:
            raise AssertionError(f"process exited: {self.stop()}")
        return line.strip()

    def _read_stdout(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> str:
        """Kill (if still running) and return what it wrote on stderr.

        Safe to call twice: the second call returns what the first read.
        """
        done = getattr(self, "_stderr", None)  # subclasses may skip __init__
        if done is not None:
            return done
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill cannot be ignored
            return ""
        self._reader.join(10)
        assert self.popen.stderr is not None
        err = self.popen.stderr.read()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        self._stderr = err or ""
        return self._stderr


@pytest.fixture(autouse=True, scope="session")
def _private_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every endpoint in the suite, and every process it starts, signs with a
    key in a temporary folder, never the user's own."""
    from broker.security.keys import create_key

    folder = tmp_path_factory.mktemp("keys")
    folder.chmod(0o700)
    path = create_key(folder / "key")
    previous = os.environ.get("BROKER_KEY_FILE")
    os.environ["BROKER_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        del os.environ["BROKER_KEY_FILE"]
    else:  # pragma: no cover - only when the developer set one
        os.environ["BROKER_KEY_FILE"] = previous


@pytest.fixture
def spawn() -> Iterator[Callable[..., Process]]:
    """Start helper processes; all are killed when the test ends."""
    processes: List[Process] = []

    def start(role: str, *args: str) -> Process:
        process = Process(role, *args)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


@pytest.fixture
def fast_ui() -> Iterator[Any]:
    """A UI adapter in this process on a free port, with 0.1 s heartbeats."""
    import ui_adapter

    with ui_adapter.listen(
        endpoint="tcp://127.0.0.1:*", service={"show": lambda: "shown"}, heartbeat_interval=0.1
    ) as ui:
        yield ui


def sockets(context: Any, max_message_size: Optional[int] = None, security: Any = None) -> Any:
    """The socket factory an in-test Server uses: the default limits, and no
    authentication unless ``security`` says otherwise (then with a ZAP
    handler of its own in ``context``, stopped when the test ends)."""
    from broker.security.options import Security
    from broker.transport.sockets import SocketFactory
    from broker.wire.codec import DEFAULT_MAX_MESSAGE_SIZE

    security = security or Security(enabled=False)
    return SocketFactory(
        context,
        max_message_size=max_message_size or DEFAULT_MAX_MESSAGE_SIZE,
        security=security,
    )


@contextlib.contextmanager
def curve_server(service: Any, **options: Any) -> Iterator[Any]:
    """A started Server on loopback TCP with this user's CURVE key (as every
    TCP endpoint has by default), and its ZAP handler; stopped at the end."""
    from broker.security.options import Security
    from broker.serve.server import Server
    from broker.serve.service import as_service
    from broker.transport.context import PrivateContext
    from broker.wire.codec import Codec

    security = Security()
    private = PrivateContext(security)
    codec = options.pop("codec", None) or Codec()
    server = Server(
        as_service(service),
        sockets=security.sockets(private.context, codec, private.start_zap),
        codec=codec,
        **options,
    ).start()
    try:
        yield server
    finally:
        server.stop()
        private.close()


@pytest.fixture(scope="session")
def stranger_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Another user's key file: a Security with it gets no connection of ours."""
    from broker.security.keys import create_key
    from broker.security.options import Security

    folder = tmp_path_factory.mktemp("stranger")
    folder.chmod(0o700)
    return Security(key_file=create_key(folder / "key"))


def raw_socket(context: Any, kind: int, endpoint: str, timeout: float = 5.0) -> Any:
    """A plain ZeroMQ socket connected to ``endpoint`` as a client of this
    user connects: with the user's CURVE key where the endpoint needs one
    (TCP), none on a private ipc path. It gives up receiving after ``timeout``."""
    from broker.security.options import Security

    socket = context.socket(kind)
    socket.linger = 0
    socket.rcvtimeo = int(timeout * 1000)
    Security().apply_client(socket, endpoint)
    socket.connect(endpoint)
    return socket


def ipc_endpoint(directory: Path, name: str = "ui") -> str:
    """An ipc:// endpoint in a test's own directory: restartable at the same
    address without ever choosing a port number."""
    return f"ipc://{directory / name}.sock"
