"""Old path of :mod:`host_adapter.pyblish`, kept for one release."""

from .pyblish.service import PyblishService

__all__ = ["PyblishService"]
