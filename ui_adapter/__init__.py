"""Embed this in a UI to own the UI endpoint and call the hosts that announce.

::

    import ui_adapter

    with ui_adapter.listen({"show": window.show}) as ui:
        maya = ui.wait_for_host("maya", timeout=10)
        maya.add(5, 10)      # 15
        ui.hosts()           # [{"id", "name", "endpoint", "state", ...}]

Behind a standalone broker (``python -m broker``), use ``ui_adapter.attach()``
instead of ``listen()``: same interface, and the broker owns the endpoint.

Importing this package opens no socket and starts no thread.
"""

from .attached import AttachedUi, attach
from .direct import UiAdapter, listen

__all__ = ["listen", "UiAdapter", "attach", "AttachedUi"]
