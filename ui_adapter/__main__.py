"""``python -m ui_adapter``: see :mod:`ui_adapter.cli`."""

import sys

from .cli import main

sys.exit(main())
