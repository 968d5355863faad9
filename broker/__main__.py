"""``python -m broker``: see :mod:`broker.relay.cli`."""

import sys

from .relay.cli import main

sys.exit(main())
