"""``python -m ragtune``: the command line."""

from __future__ import annotations

import sys

from ragtune.cli import main

if __name__ == "__main__":
    sys.exit(main())
