"""``python -m swfd.console``: what the supervisor runs for ``[embedded] console = yes``."""

import sys

from swfd.console.command import main

sys.exit(main())
