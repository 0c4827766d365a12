"""``python -m scenarios.cli``: the command line, as the console script runs it."""

from __future__ import annotations

import sys

from scenarios.cli.main import main

sys.exit(main())
