"""``python -m broker``: see :mod:`broker.cli`."""

import sys

from .cli import main

sys.exit(main())
