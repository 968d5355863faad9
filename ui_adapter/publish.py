"""Old path of :mod:`ui_adapter.pyblish.publisher`, kept for one release."""

from .pyblish.publisher import Publisher, action_applies, publish

__all__ = ["Publisher", "publish", "action_applies"]
