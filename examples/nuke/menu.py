"""Nuke start-up: serve a few Nuke functions to UIs (copy into a menu.py).

Put this file (or its body) in a ``menu.py`` on NUKE_PATH, e.g.
``~/.nuke/menu.py``, and make ``zmq-host-broker`` importable by Nuke's Python.
Calls run on Nuke's main thread through
``nuke.executeInMainThreadWithResult(func, args, kwargs)``, picked by
``host_adapter.serve()`` itself. NukeStudio works the same way; in Hiero
alone ``hiero.core.executeInMainThreadWithResult`` is used.

menu.py runs only when Nuke has its UI; ``nuke -t`` scripts serve with
``adapter.serve_forever()`` instead.
"""

import atexit

import nuke

ADAPTER = None


def nodes(node_class=None):
    """Full names of the script's nodes (in groups too), of one class if given."""
    found = nuke.allNodes(recurseGroups=True)
    return [node.fullName() for node in found if node_class in (None, node.Class())]


def select(names):
    """Select exactly the top-level nodes with these names; return the selection."""
    for node in nuke.allNodes():
        node.setSelected(node.name() in names)
    return [node.name() for node in nuke.selectedNodes()]


def create(node_class="Blur", name=None):
    """Create a node (e.g. "Blur", "Grade"); return its name."""
    node = nuke.createNode(node_class, inpanel=False)
    if name:
        node.setName(name)
    return node.name()


def script_name():
    """The open script's path ("" when it was never saved)."""
    try:
        return nuke.scriptName()
    except RuntimeError:  # Nuke's answer for an untitled script
        return ""


def _start():
    global ADAPTER
    import host_adapter

    ADAPTER = host_adapter.serve([nodes, select, create, script_name], name="nuke")
    atexit.register(ADAPTER.stop)


if nuke.env.get("gui"):
    _start()
