"""Run one of the tests' own helper scripts (not tests/helpers/processes.py) as a process."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional

from tests.conftest import ROOT, Process


class ScriptProcess(Process):
    """``python tests/SCRIPT ARGS...``; read its lines, kill it at the end of the test."""

    def __init__(
        self,
        script: Path,
        *args: str,
        env: Optional[Dict[str, str]] = None,
        stdin: bool = False,
    ) -> None:
        environ = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
        self.popen = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            text=True,
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def send(self, line: str) -> None:
        """Write ``line`` to the process's stdin (made with ``stdin=True``)."""
        assert self.popen.stdin is not None, "started without stdin=True"
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def stop(self) -> str:
        """Kill (if still running) and return what it wrote on stderr. Idempotent."""
        if not hasattr(self, "_stderr"):
            self._stderr = super().stop()
            if self.popen.stdin is not None:
                try:
                    self.popen.stdin.close()
                except BrokenPipeError:  # buffered input the dead process never read
                    pass
        return self._stderr

    def exit_status(self, timeout: float = 10.0) -> int:
        """Wait (bounded) for the process to end by itself; its exit status."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"process did not exit within {timeout} s") from None


class ScriptProcesses:
    """``with ScriptProcesses() as start: start(path, *args)``; all are stopped on exit."""

    def __init__(self) -> None:
        self._started: List[ScriptProcess] = []

    def __enter__(self) -> Callable[..., ScriptProcess]:
        return self.start

    def start(
        self, script: Path, *args: str, env: Optional[Dict[str, str]] = None, stdin: bool = False
    ) -> ScriptProcess:
        process = ScriptProcess(script, *args, env=env, stdin=stdin)
        self._started.append(process)
        return process

    def __exit__(self, *exc_info: object) -> None:
        for process in self._started:
            process.stop()
