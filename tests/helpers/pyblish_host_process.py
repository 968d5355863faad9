"""A host process that serves Pyblish, for the publishing end-to-end tests.

    python tests/helpers/pyblish_host_process.py UI_ENDPOINT SCENARIO [NAME]

Registers the plug-ins of SCENARIO (tests/helpers/pyblish_plugins.py), serves a
PyblishService announcing to UI_ENDPOINT with calls queued for the main
thread, prints its endpoint and id, and pumps the queue on the main thread
until SIGTERM (departs) or SIGKILL.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ui_endpoint, scenario, *rest = sys.argv[1:]
    name = rest[0] if rest else "maya"

    import host_adapter
    from host_adapter.pyblish import PyblishService
    from tests.helpers.pyblish_plugins import install

    install(scenario)
    queue = host_adapter.MainThreadQueue()
    with host_adapter.serve(
        PyblishService(), name=name, ui=ui_endpoint, dispatcher=queue, heartbeat_interval=0.1
    ) as adapter:
        print(adapter.endpoint, flush=True)
        print(adapter.id, flush=True)
        while True:  # the host's event loop: ends when the test stops the process
            queue.wait_for_calls(timeout=0.5)
            queue.process_pending()


if __name__ == "__main__":
    main()
