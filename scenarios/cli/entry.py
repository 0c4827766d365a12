"""The ``smtp-hil`` console script: :func:`scenarios.cli.main.main`, with Ctrl-C during
start-up handled too.

Importing the command line takes a few hundred milliseconds (pydantic builds the
scenario models, OpenSSL loads); a Ctrl-C in that time would otherwise print a traceback
of whatever was being imported. The import is therefore made inside :func:`main`, the one
import inside a function this project allows for that reason (the package
:mod:`scenarios.cli` imports nothing, so importing this module is quick). This module
knows nothing else.

Once the command is done, every object left is frozen out of the garbage collector's
reach (:func:`gc.freeze`) before the interpreter exits: its last act would otherwise be a
full collection over everything the command imported and made, which nothing needs
(measured: 30-60 ms of a 0.35 s ``smtp-hil run``, a sixth of it). The objects are still
released as the interpreter tears the modules down.
"""

from __future__ import annotations

import gc
import sys

EXIT_INTERRUPTED = 130
"""128 + SIGINT, as :mod:`scenarios.cli.main` exits on Ctrl-C."""


def main() -> None:
    try:
        from scenarios.cli.main import main as cli_main  # start-up: see the docstring
    except KeyboardInterrupt:
        sys.stderr.write("smtp-hil: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    status = cli_main()
    gc.freeze()  # no collection at exit: see the module docstring
    sys.exit(status)
