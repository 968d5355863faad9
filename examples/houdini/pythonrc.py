"""Houdini start-up: serve a few Houdini functions to UIs (copy into pythonrc.py).

Put this file in ``$HOUDINI_USER_PREF_DIR/python3.Xlibs/pythonrc.py`` (or its
body into an existing one; ``123.py``/``456.py`` run only when a scene
opens), and make ``zmq-host-broker`` importable by Houdini's Python. Calls run
on Houdini's main thread through ``hdefereval.executeInMainThreadWithResult``,
picked by ``host_adapter.serve()`` itself.

hython has no ``hdefereval``: nothing starts here; a hython script serves with
``adapter.serve_forever()`` instead.
"""

import atexit

import hou

ADAPTER = None


def nodes(parent="/obj"):
    """Paths of the children of a network (the objects, by default)."""
    return [node.path() for node in hou.node(parent).children()]


def select(paths):
    """Select exactly these nodes; return the selection's paths."""
    hou.clearAllSelected()
    for path in paths:
        hou.node(path).setSelected(True)
    return [node.path() for node in hou.selectedNodes()]


def create(node_type="geo", name=None, parent="/obj"):
    """Create a node in a network; return its path."""
    return hou.node(parent).createNode(node_type, name).path()


def scene_file():
    """The path of the open .hip file."""
    return hou.hipFile.path()


def _start():
    global ADAPTER
    import host_adapter

    ADAPTER = host_adapter.serve([nodes, select, create, scene_file], name="houdini")
    atexit.register(ADAPTER.stop)


if hou.isUIAvailable():
    import hdefereval

    # pythonrc runs before the UI's event loop: start once it runs.
    hdefereval.executeDeferred(_start)
