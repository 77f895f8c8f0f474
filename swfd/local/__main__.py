"""``python -m swfd.local``: the same as ``swfd local``."""

from __future__ import annotations

import sys

from swfd.local.main import main_local

if __name__ == "__main__":
    sys.exit(main_local(sys.argv[1:]))
