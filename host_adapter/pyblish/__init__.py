"""Pyblish in the host: :class:`PyblishService`, the methods Pyblish UIs call.

Needs pyblish-base (``pip install ".[pyblish]"``); ``import host_adapter``
alone never imports this package.
"""

from .service import PyblishService

__all__ = ["PyblishService"]
