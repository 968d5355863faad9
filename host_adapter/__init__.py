"""Embed this in a host (a DCC, or any Python process) to serve it to UIs.

::

    import host_adapter

    adapter = host_adapter.serve({"add": lambda a, b: a + b}, name="maya")
    adapter.endpoint      # "tcp://127.0.0.1:54321"
    adapter.ui.show()     # call a method of the UI
    adapter.stop()

Importing this package opens no socket and starts no thread.
"""

from .adapter import HostAdapter, serve
from .dispatch import MainThreadQueue, immediate

__all__ = ["serve", "HostAdapter", "immediate", "MainThreadQueue"]
