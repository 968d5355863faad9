"""Stand-in for ``maya.cmds`` (tests only; see ../README.md)."""

import os

BATCH = os.environ.get("STANDIN_BATCH") == "1"


def about(batch=False, **flags):
    """``about(batch=True)``: True in mayapy. Other flags are not stood in for."""
    if not batch or flags:
        raise NotImplementedError("the stand-in only answers about(batch=True)")
    return BATCH
