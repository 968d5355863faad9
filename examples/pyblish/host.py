"""A stand-in DCC that serves Pyblish to publishing UIs in other processes.

    python examples/pyblish/host.py [--name maya] [--ui ENDPOINT]

It loads a make-believe scene (scene.py), registers the plug-ins in
plugins/, serves a PyblishService and announces itself to the UI endpoint
(--ui, else $BROKER_UI_ENDPOINT, else tcp://127.0.0.1:9090). Like a DCC, it
runs every call on its main thread, from its "event loop" below. It prints
its own endpoint on the first line, then serves until Ctrl-C.

Publish it from another terminal: python -m ui_adapter publish --host maya
(see README.md next to this file).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="maya", help="the host's name (default maya)")
    parser.add_argument("--ui", default=None, metavar="ENDPOINT", help="where to announce")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    # The plug-ins import `scene` as a DCC's plug-ins import its API module.
    sys.path.insert(0, str(HERE))
    import pyblish.api
    import scene

    import host_adapter
    from host_adapter.pyblish import PyblishService

    scene.open_example()
    pyblish.api.register_host(options.name)
    pyblish.api.register_plugin_path(str(HERE / "plugins"))

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    main_thread = host_adapter.MainThreadQueue()
    with host_adapter.serve(
        PyblishService(), name=options.name, ui=options.ui, dispatcher=main_thread
    ) as adapter:
        print(adapter.endpoint, flush=True)
        while not stop.is_set():  # the DCC's event loop: runs queued calls when idle
            main_thread.wait_for_calls(timeout=0.2)
            main_thread.process_pending()
    return 0


if __name__ == "__main__":
    sys.exit(main())
