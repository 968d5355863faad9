"""``python -m ui_adapter.qml``: see :mod:`ui_adapter.qml.cli`."""

import sys

from .cli import main

sys.exit(main())
