"""``smtp-hil``'s :func:`main`: the parser of every subcommand, the dispatch, and the one
place that turns bad input into exit status 2.

Each subcommand is a module of this package that adds its parser (``add_*_parser``) and
names its handler; :func:`main` parses, calls the handler and returns its exit status.
Exit status: 0 when everything asked for passed, 1 when a run failed (or the matrix does
not match the catalog), 2 on bad input, 130 on Ctrl-C.

Bad input is a :class:`~emulator.userinput.UserInputError` (a bad scenario,
configuration, DUT file or capture, an unknown profile or scenario, bad arguments, an
output path that cannot be written, a firmware that is not built ...) raised wherever it
is found; here, and only here, its lines are printed, each after the subcommand's prefix
(``smtp-hil: ``, or ``smtp-hil send: `` for ``send``), and the status is 2. Never a
traceback: an OSError about a path the user gave is bad input too; anything else is a
bug in smtp-hil and shows its traceback.

``smtp-hil`` with no arguments prints the help (the subcommands, one line each) on
standard error and exits 2, as argparse does for any missing required argument: a
script that forgot its subcommand must not pass. ``smtp-hil --version`` prints the
version with the Python and OpenSSL it runs on (the golden hashes depend on both).

Ctrl-C (SIGINT) exits 130 without a traceback (``run`` and ``matrix`` first print what
finished: :mod:`scenarios.cli.progress`). When the reader of standard output goes away
(``smtp-hil list | head -1``), the command stops quietly with status 1, as Python's
documentation recommends (``signal`` module, "Note on SIGPIPE"): standard output is
pointed at /dev/null so nothing more is printed, and the status is not 0 because not
everything was reported (a C tool killed by SIGPIPE would give 141; either fails a
``set -o pipefail`` pipeline the same way).

This module parses and dispatches; the subcommands do the work.
"""

from __future__ import annotations

import argparse
import os
import platform
import select
import ssl
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, NoReturn, TextIO

from emulator.userinput import UserInputError
from scenarios.cli.progress import EXIT_INTERRUPTED

PROG: Final = "smtp-hil"
EXIT_FAIL, EXIT_BAD_INPUT = 1, 2
Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


class UsageError(UserInputError):
    """Arguments argparse refused; printed after the (sub)command's own name, which
    ``prog`` holds (``smtp-hil run``), after argparse printed the usage."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(self.prog, message)


DESCRIPTION: Final = (
    "Deterministic hardware-in-the-loop emulator and test harness for an embedded SMTP "
    "client: scenarios of scripted SMTP servers, faults and release profiles, run in "
    "virtual time.")
EPILOG: Final = (
    "Run 'smtp-hil COMMAND --help' for a command's options. Exit status: 0 when everything "
    "passed, 1 when a run failed, 2 on bad input, 130 on Ctrl-C.")


def version_text() -> str:
    """``smtp-hil 0.1.0 (Python 3.11.7, OpenSSL 3.0.11 19 Sep 2023)``."""
    try:
        number = version("smtp-hil")
    except PackageNotFoundError:  # run from a source tree that is not installed
        number = "(not installed)"
    return f"{PROG} {number} (Python {platform.python_version()}, {ssl.OPENSSL_VERSION})"


# start-up: each subcommand's module is imported only when that subcommand runs (or
# for --help): `run` then never loads serve's asyncio, import's YAML and XML parsers,
# matrix's process pool or the report (measured: 80 ms of a 0.38 s `smtp-hil run`).


def _add_list(sub: Any) -> None:
    from scenarios.cli.list import add_list_parser  # start-up: see above
    add_list_parser(sub)


def _add_run(sub: Any) -> None:
    from scenarios.cli.run import add_run_parser  # start-up: see above
    add_run_parser(sub)


def _add_matrix(sub: Any) -> None:
    from scenarios.cli.matrix import add_matrix_parser  # start-up: see above
    add_matrix_parser(sub)


def _add_audit(sub: Any) -> None:
    from scenarios.cli.audit import add_audit_parser  # start-up: see above
    add_audit_parser(sub)


def _add_send(sub: Any) -> None:
    from scenarios.cli.send import add_send_parser  # start-up: see above
    add_send_parser(sub)


def _add_board(sub: Any) -> None:
    from scenarios.cli.board import add_board_parser  # start-up: see above
    add_board_parser(sub)


def _add_serve(sub: Any) -> None:
    from scenarios.cli.serve import add_serve_parser  # start-up: see above
    add_serve_parser(sub)


def _add_import(sub: Any) -> None:
    from scenarios.cli.importing import add_import_parser  # start-up: see above
    add_import_parser(sub)


def _add_explore(sub: Any) -> None:
    from scenarios.cli.explore import add_explore_parser  # start-up: see above
    add_explore_parser(sub)


SUBCOMMANDS: Final[dict[str, Callable[[Any], None]]] = {
    "list": _add_list, "run": _add_run, "matrix": _add_matrix, "audit": _add_audit,
    "send": _add_send, "board": _add_board, "serve": _add_serve, "import": _add_import,
    "explore": _add_explore,
}
"""Every subcommand, in the order ``--help`` lists them, and what adds its parser."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or with ``command`` of that one only (the others
    are listed by name, so a wrong name still gets the full choice)."""
    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the version (and Python's and OpenSSL's) and exit")
    parser.set_defaults(error_prefix=PROG)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                title="commands", metavar="COMMAND")
    for name, add in SUBCOMMANDS.items():
        if command is None or name == command:
            add(sub)
        else:
            sub.add_parser(name)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names first, when it names one."""
    return argv[0] if argv and argv[0] in SUBCOMMANDS else None


_PATH_ERRORS: Final = (FileNotFoundError, IsADirectoryError, NotADirectoryError,
                       PermissionError)
"""OSErrors that, reaching :func:`main`, can only come from a path the user gave."""


def _output_gone(out: TextIO) -> bool:
    """Whether the BrokenPipeError came from ``out``, whose reader went away: its file
    descriptor polls as an error. It is then pointed at /dev/null, so that the
    interpreter's last flush of what is still buffered prints nothing."""
    try:
        fd = out.fileno()
    except (OSError, ValueError):  # a stream in memory: only a test stream raises EPIPE
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if not any(events & select.POLLERR for _, events in poller.poll(0)):
            return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    prefix = PROG
    if not (sys.argv[1:] if argv is None else argv):
        build_parser().print_help(err)
        return EXIT_BAD_INPUT
    try:
        arguments = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(_command(arguments)).parse_args(arguments)
        prefix = args.error_prefix
        handler: Handler = args.handler
        status = handler(args, out, err)
        out.flush()  # here, so a reader that went away is noticed below
        return status
    except BrokenPipeError:
        if not _output_gone(out):
            raise  # a pipe other than standard output: not the reader leaving
        return EXIT_FAIL
    except KeyboardInterrupt:  # run and matrix report what finished themselves
        err.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except UserInputError as exc:
        shown = exc.prog if isinstance(exc, UsageError) else prefix
        for problem in exc.problems:
            err.write(f"{shown}: {problem}\n")
    except _PATH_ERRORS as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        err.write(f"{prefix}: {where}{exc.strerror or exc}\n")
    return EXIT_BAD_INPUT
