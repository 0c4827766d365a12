"""``python -m scenarios.cli``: the command line, as the console script runs it."""

from __future__ import annotations

from scenarios.cli.entry import main

main()
