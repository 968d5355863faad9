"""Where the UI endpoint is, unless told otherwise.

The UI endpoint (owned by a UI adapter, or by the standalone broker) is
``tcp://127.0.0.1:9090`` by default, as in Pyblish. Port 9090 is also the
default of Prometheus and Pyro, so it can be moved for a whole session with
the ``BROKER_UI_ENDPOINT`` environment variable, or per call by argument.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["DEFAULT_UI_ENDPOINT", "UI_ENDPOINT_ENV", "ui_endpoint"]

DEFAULT_UI_ENDPOINT = "tcp://127.0.0.1:9090"
UI_ENDPOINT_ENV = "BROKER_UI_ENDPOINT"


def ui_endpoint(explicit: Optional[str] = None) -> str:
    """The UI endpoint: ``explicit`` if given, else ``$BROKER_UI_ENDPOINT``, else 9090."""
    return explicit or os.environ.get(UI_ENDPOINT_ENV) or DEFAULT_UI_ENDPOINT
