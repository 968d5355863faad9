"""Pyblish from the UI's side: :class:`Publisher` and ``python -m ui_adapter publish``.

Needs no pyblish-base: Pyblish's rules run in the host
(:mod:`host_adapter.pyblish`).
"""

from .publisher import Publisher, action_applies, publish

__all__ = ["Publisher", "publish", "action_applies"]
