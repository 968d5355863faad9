"""A realistic publishing context: what a pyblish UI asks a host for.

Pyblish collects a *context* (the scene file, the user, the date…) and
*instances* (what will be published: a model, a rig, a camera, render layers…),
each a name, an id and a data map with ``family``, ``families``, ``publish``,
``label`` and whatever the studio's collectors add: frame ranges, nested
attribute maps, representations, paths. The UI fetches the whole thing to draw
its list, which is the payload that made XML-RPC slow.

The context is built deterministically (a seeded generator), holds only what
XML-RPC can carry too (ints below 2**31, ``None`` with ``allow_none``), and
is about 250 KB as msgpack for 1,000 instances.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Dict, List

__all__ = ["publishing_context"]

_FAMILIES = [
    ("model", "mdl", ["model", "review"]),
    ("rig", "rig", ["rig"]),
    ("animation", "anim", ["animation", "cache", "review"]),
    ("camera", "cam", ["camera", "cache"]),
    ("look", "look", ["look", "textures"]),
    ("render", "rnd", ["render", "renderlayer", "farm"]),
    ("pointcache", "pcache", ["pointcache", "cache"]),
]
_ASSETS = ["hero", "sidekick", "villain", "car", "tree", "house", "dragon", "crowd", "sky", "prop"]
_TASKS = ["modeling", "rigging", "animation", "lookdev", "lighting", "fx"]


def publishing_context(instances: int = 1000, seed: int = 7) -> Dict[str, Any]:
    """A pyblish-like context map with ``instances`` instances.

    Returns:
        ``{"name", "id", "data": {...}, "instances": [{"name", "id", "data"}]}``
    """
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    items: List[Dict[str, Any]] = []
    for index in range(instances):
        family, short, families = _FAMILIES[index % len(_FAMILIES)]
        asset = _ASSETS[rng.randrange(len(_ASSETS))]
        task = _TASKS[rng.randrange(len(_TASKS))]
        start = 1001
        end = start + rng.randrange(24, 240)
        name = f"{short}{asset.capitalize()}_{index:04d}"
        items.append(
            {
                "name": name,
                "id": uid(),
                "data": {
                    "family": family,
                    "families": list(families),
                    "publish": rng.random() > 0.1,
                    "label": f"{asset} {family}",
                    "asset": asset,
                    "subset": f"{family}{task.capitalize()}",
                    "frameStart": start,
                    "frameEnd": end,
                    "handles": rng.randrange(0, 10),
                    "version": rng.randrange(1, 120),
                    "attributes": {
                        "fps": 24.0,
                        "farm": {"pool": "main", "priority": rng.randrange(1, 100)},
                    },
                    "comment": None,
                },
            }
        )
    return {
        "name": "context",
        "id": uid(),
        "data": {
            "currentFile": "/projects/show/seq010/sh0040/work/lighting/sh0040_lighting_v012.ma",
            "user": "ada",
            "host": ["maya", "python"],
            "date": "2024-05-17T10:42:17",
            "comment": "",
            "fps": 24.0,
            "project": {"name": "show", "code": "SHW", "root": "/projects/show"},
        },
        "instances": items,
    }
