"""pyblish-qml, the Pyblish UI, publishing a host over this project's transport.

::

    python -m ui_adapter.qml --host maya                            # direct
    python -m ui_adapter.qml --broker tcp://127.0.0.1:9090 --host maya  # through a broker

pyblish-qml 1.x talks to its host only as its child process, over stdin and
stdout. Here its own window and ``Controller`` run unchanged, with one
class replaced: its host proxy (:mod:`ui_adapter.qml.proxy`) calls the
host's :class:`host_adapter.pyblish.PyblishService` over ZeroMQ, directly
or through the standalone broker, and the host's ``show``, ``publish``…
reach the window as its parent process would send them
(:mod:`ui_adapter.qml.parent`).

Layers: :mod:`~ui_adapter.qml.bridge` (the only use of the project's API),
:mod:`~ui_adapter.qml.parent` (the host's requests), :mod:`~ui_adapter.qml.proxy`
and :mod:`~ui_adapter.qml.window` (pyblish-qml), :mod:`~ui_adapter.qml.importable`
(pyblish-qml 1.11 on Python 3.12+), :mod:`~ui_adapter.qml.cli`.

Needs ``pip install "zmq-host-broker[qml]"`` (pyblish-qml, PyQt5). Importing
:mod:`ui_adapter` never imports this package; importing it imports neither
PyQt5 nor pyblish-qml until a window is made.
"""

from .cli import main

__all__ = ["main"]
