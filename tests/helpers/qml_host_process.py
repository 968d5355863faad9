"""A host with a Pyblish menu that opens pyblish-qml, for the pyblish-qml end-to-end tests.

    python tests/helpers/qml_host_process.py UI_ENDPOINT SCENARIO UI_OUTPUT [UI_ARG...]

Serves a PyblishService with the plug-ins of SCENARIO
(tests/helpers/pyblish_plugins.py), announcing to UI_ENDPOINT, every call
on the main thread. Reads menu commands on stdin, one a line, and runs each
on the main thread as a DCC menu item would:

    show             host_adapter.pyblish.qml.show(): pyblish-qml through
                     tests/helpers/qml_ui_process.py UI_ARG..., its output in UI_OUTPUT
    publish, validate, hide, quit
                     ask the window to do so

Prints one JSON line per event: {"event": "ready", "id", "endpoint"};
{"event": "processed", "row": [plug-in, instance, success, error]} for every
pair pyblish processes here; {"event": "signal", "name"} for the signals the
window emits; {"event": "shown", "pid", "error"} once the window answered
(or failed to); {"event": "asked", "name", "error"}. Ends on SIGTERM
(departs, once the call running on the main thread is done) or SIGKILL.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
UI_SCRIPT = HERE / "qml_ui_process.py"
SIGNALS = ("reset", "published", "validated", "instanceToggled", "commented", "pyblishQmlShown")


# say() runs on the main thread and the adapter's threads; print() writes the
# text and the newline apart, so two events could share a line without it.
_one_line_at_a_time = threading.Lock()


def say(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, **fields}) + "\n"
    with _one_line_at_a_time:
        sys.stdout.write(line)
        sys.stdout.flush()


def main() -> None:
    # A flag, not sys.exit() in the handler: raised inside a call the main
    # thread is running, SystemExit would go to the caller as that call's
    # error and the host would live on.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ui_endpoint, scenario, ui_output, *ui_arguments = sys.argv[1:]

    import pyblish.api

    import host_adapter
    from host_adapter.pyblish import PyblishService, qml
    from tests.helpers.pyblish_plugins import install, result_rows

    install(scenario)
    pyblish.api.register_callback(
        "pluginProcessed", lambda result: say("processed", row=result_rows([result])[0])
    )
    for name in SIGNALS:
        pyblish.api.register_callback(name, lambda *_, name=name, **__: say("signal", name=name))

    main_thread = host_adapter.MainThreadQueue()
    with host_adapter.serve(
        PyblishService(),
        name="maya",
        ui=ui_endpoint,
        dispatcher=main_thread,
        heartbeat_interval=0.1,
    ) as adapter:

        def show() -> None:
            launch = qml.show(
                adapter,
                command=[sys.executable, str(UI_SCRIPT)],
                arguments=ui_arguments,
                output=ui_output,
            )

            def report() -> None:
                shown = launch.wait(60)
                pid = launch.process.pid if launch.process is not None else None
                say("shown", pid=pid, error=None if shown else str(launch.error))

            threading.Thread(target=report, daemon=True).start()

        def ask(name: str) -> None:
            try:
                adapter.ui.call(name)
                say("asked", name=name, error=None)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                say("asked", name=name, error=f"{type(exc).__name__}: {exc}")

        def read_menu() -> None:
            for line in sys.stdin:
                command = line.strip()
                if command == "show":
                    main_thread(show)
                elif command:
                    main_thread(ask, command)

        threading.Thread(target=read_menu, daemon=True).start()
        say("ready", id=adapter.id, endpoint=adapter.endpoint)
        while not stop.is_set():  # the DCC's event loop, until SIGTERM (or SIGKILL)
            main_thread.wait_for_calls(timeout=0.1)
            main_thread.process_pending()


if __name__ == "__main__":
    main()
