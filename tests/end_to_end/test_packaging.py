"""The wheel a user builds from a checkout (README "Install"): its licence and its console script.

The PyPI distribution named ``broker`` installs a console script ``broker``
too, so this project's is ``zmq-broker``; ``python -m broker`` stays.
"""

from __future__ import annotations

import configparser
import email
import shutil
import subprocess
import sys
import zipfile
from typing import Iterator

import pytest

from tests.conftest import ROOT

NOT_SOURCE = (".git", ".venv*", ".tox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    # Built from a copy: pip builds in the source tree, and a stale build/ left
    # in the checkout could slip old files into a later wheel.
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("zmq_host_broker-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def member(archive: zipfile.ZipFile, suffix: str) -> str:
    (name,) = [name for name in archive.namelist() if name.endswith(suffix)]
    return archive.read(name).decode()


@pytest.mark.timeout(180)
def test_the_wheel_carries_the_mit_licence(wheel: zipfile.ZipFile) -> None:
    metadata = email.message_from_string(member(wheel, ".dist-info/METADATA"))
    assert metadata["License"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    licence = member(wheel, ".dist-info/licenses/LICENSE")
    assert licence == (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n\nCopyright (c) 2026 The zmq-host-broker authors\n")


@pytest.mark.timeout(180)
def test_the_console_script_is_zmq_broker_and_python_m_broker_stays(
    wheel: zipfile.ZipFile,
) -> None:
    scripts = configparser.ConfigParser()
    scripts.read_string(member(wheel, ".dist-info/entry_points.txt"))
    assert dict(scripts["console_scripts"]) == {"zmq-broker": "broker.relay.cli:main"}
    module, _, function = scripts["console_scripts"]["zmq-broker"].partition(":")
    # What the zmq-broker script runs, and python -m broker: the same command line.
    for command in (f"import sys; from {module} import {function}; sys.exit({function}())", None):
        argv = ["-c", command] if command else ["-m", "broker"]
        done = subprocess.run(
            [sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage:") and "Talk to hosts and UIs" in done.stdout
