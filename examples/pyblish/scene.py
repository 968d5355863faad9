"""A make-believe DCC scene, standing in for ``maya.cmds`` and friends.

Like a real DCC's API it may only be called on the main thread: the host
serves Pyblish with a main-thread dispatcher, so every plug-in runs there.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Optional

_nodes: Dict[str, Dict[str, Any]] = {}


def _main_thread_only() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the scene API was called off the main thread")


def open_example() -> None:
    """Load the example scene: two meshes (one badly named), a rig and a camera."""
    _main_thread_only()
    _nodes.clear()
    _nodes.update(
        {
            "cube_GEO": {"type": "mesh", "vertices": 8},
            "sphere": {"type": "mesh", "vertices": 382},
            "hero_RIG": {"type": "rig", "joints": 54},
            "camera1": {"type": "camera"},
        }
    )


def ls(type: Optional[str] = None) -> List[str]:
    """Node names, of one type if given."""
    _main_thread_only()
    return [name for name, node in _nodes.items() if type is None or node["type"] == type]


def attributes(name: str) -> Dict[str, Any]:
    _main_thread_only()
    return dict(_nodes[name])


def rename(old: str, new: str) -> None:
    _main_thread_only()
    _nodes[new] = _nodes.pop(old)


def export(name: str, path: str) -> None:
    """Write a node to a file, as a DCC's exporter would."""
    _main_thread_only()
    with open(path, "w") as stream:
        json.dump({"name": name, **_nodes[name]}, stream, indent=2)
