"""Stand-in for Houdini's ``hou`` module (tests only; see README.md here)."""

import os

_UI = os.environ.get("STANDIN_BATCH") != "1"


def isUIAvailable():
    """False in hython."""
    return _UI
