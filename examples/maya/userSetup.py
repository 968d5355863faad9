"""Maya start-up: serve a few Maya functions to UIs (copy into a userSetup.py).

Put this file (or its body) in a ``userSetup.py`` on Maya's PYTHONPATH, e.g.
``~/maya/scripts/userSetup.py``, and make ``zmq-host-broker`` importable by
Maya's Python (``mayapy -m pip install`` the wheel: README, "Install"). Calls run on Maya's
main thread through ``maya.utils.executeInMainThreadWithResult``, picked by
``host_adapter.serve()`` itself.

In mayapy (batch mode) nothing starts here: a batch script serves with
``host_adapter.serve(...)`` followed by ``adapter.serve_forever()``.

Try it from a shell once Maya runs::

    python -m broker hosts                              # find Maya's endpoint
    python -m broker call tcp://127.0.0.1:PORT nodes '"transform"'
    python -m broker call tcp://127.0.0.1:PORT create_cube '"probe"'
"""

import atexit

import maya.cmds as cmds
import maya.utils

ADAPTER = None


def nodes(node_type=None):
    """Long names of the scene's nodes, of one type if given (e.g. "transform")."""
    if node_type:
        return cmds.ls(type=node_type, long=True)
    return cmds.ls(long=True)


def selection():
    """Long names of the selected nodes."""
    return cmds.ls(selection=True, long=True)


def select(names):
    """Select exactly these nodes; return the new selection."""
    cmds.select(names, replace=True)
    return selection()


def create_cube(name="cube"):
    """Create a polygon cube; return its transform's name."""
    transform, _ = cmds.polyCube(name=name)
    return transform


def scene_file():
    """The open scene's path ("" when it was never saved)."""
    return cmds.file(query=True, sceneName=True)


def _start():
    global ADAPTER
    import host_adapter

    ADAPTER = host_adapter.serve([nodes, selection, select, create_cube, scene_file], name="maya")
    # Depart when Maya quits; if Maya dies instead, UIs see the host lost.
    atexit.register(ADAPTER.stop)


if not cmds.about(batch=True):
    # userSetup runs before Maya's UI is up: start once Maya is idle.
    maya.utils.executeDeferred(_start)
