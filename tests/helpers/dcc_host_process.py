"""A stand-in DCC host for the DCC dispatcher tests, run as its own process.

    python tests/helpers/dcc_host_process.py HOST MODE UI_ENDPOINT

HOST is maya, nuke, hiero, houdini or blender; MODE is ``gui`` (the host's
stand-in event loop runs on the main thread) or ``batch`` (mayapy, nuke -t,
hython, blender -b: ``adapter.serve_forever()``). The DCC modules are the
stand-ins in tests/helpers/standins, imported before the adapter as a DCC imports
its own at start-up; the adapter is made with no dispatcher, so
``host_adapter.detect()`` must pick the right one. Prints the endpoint, id and
dispatcher class, then serves :class:`tests.helpers.main_thread_host.MainThreadService`
until its ``quit`` method or SIGTERM ends it (exit status 0).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path

STANDINS = Path(__file__).resolve().parent / "standins"

# What each DCC has imported by the time a start-up script runs.
MODULES = {
    "maya": ["maya.cmds", "maya.utils"],
    "nuke": ["nuke"],
    "hiero": ["hiero.core"],
    "houdini": ["hou"],
    "blender": ["bpy"],
}


def main(host: str, mode: str, ui_endpoint: str) -> int:
    os.environ["STANDIN_BATCH"] = "1" if mode == "batch" else "0"
    sys.path.insert(0, str(STANDINS))
    for name in MODULES[host]:
        importlib.import_module(name)
    from standin_loop import LOOP

    from tests.helpers.main_thread_host import MainThreadService, stop_after_replies, watch_sockets

    watch_sockets()
    import host_adapter

    service = MainThreadService()
    adapter = host_adapter.serve(service, name=host, ui=ui_endpoint, heartbeat_interval=0.1)
    stop = adapter.stop if mode == "batch" else LOOP.stop
    service.attach(adapter, stop)
    signal.signal(signal.SIGTERM, lambda *_: stop())
    print(adapter.endpoint, flush=True)
    print(adapter.id, flush=True)
    print(type(adapter.dispatcher).__name__, flush=True)
    try:
        if mode == "batch":
            adapter.serve_forever()
        else:
            LOOP.run()
    finally:
        stop_after_replies(adapter)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
