"""``smtp-hil audit``: every hostile-server case of the catalog put to one SMTP client.

    smtp-hil audit [--dut NAME|FILE | --profile P | --firmware model|lwip|PATH.so
                    | --board URL --board-config FILE]
                   [--tag T]... [--group G]... [--case NAME]... [--json] [--report FILE.html]
                   [--color auto|always|never] [--time-cap S] [--client-timeout S] [--seed N]

By default the modelled client on ``current``, in simulation (``--profile`` another
release; ``--firmware`` a C firmware). ``--dut`` runs a client program instead, on real
sockets (:mod:`scenarios.audit.programs`); ``--board`` a board through its console (any
pyserial URL), each case served where its configuration (``--board-config``) points it
(:mod:`scenarios.audit.board`). It selects every scenario tagged ``hostile``
or ``security``, narrowed by ``--tag`` (all the given tags), ``--group`` and ``--case``, and prints
the scorecard as each case ends: one line per case (PASS, FAIL or N/A and the reason in
one sentence), grouped, and a summary line (:mod:`scenarios.audit.scorecard`);
``--json`` prints the scorecard as one JSON object at the end, ``--report`` writes the
HTML report. Ctrl-C stops the audit at once (with ``--dut``, the running program is
killed; with ``--board``, the console read in progress is cancelled), prints the summary
of the cases judged so far and exits 130 (:mod:`scenarios.cli.auditprint`).

Exit status: 0 when at least one case applied and every case that applied passed, 1
otherwise (a case failed, or nothing applied: an audit that tested nothing is not a
pass), 130 on Ctrl-C, 2 on bad input (an unknown tag, group or DUT, options that do not
go together).

This module parses the subcommand's arguments and prints; the audit is
:mod:`scenarios.audit`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.audit.cases import CaseResult, select_cases
from scenarios.audit.modelled import audit_modelled
from scenarios.audit.programs import DEFAULT_CLIENT_TIMEOUT_S, audit_program
from scenarios.catalog import load_catalog
from scenarios.cli import args as cliargs
from scenarios.cli.auditboard import audit_board_command
from scenarios.cli.auditprint import Printer, print_audit
from scenarios.cli.firmware import add_firmware_argument, resolve_cli_firmware
from scenarios.cli.outputs import check_output_file
from scenarios.cli.progress import add_color_argument
from scenarios.format import AUDIT_GROUPS
from scenarios.outside.dutfile import DEFAULT_TIME_CAP_S, resolve_dut, shipped_dut_files

AUDIT_DESCRIPTION: Final = (
    "Put every hostile-server case of the catalog (the scenarios tagged hostile or "
    "security, or those --tag and --group choose) to one SMTP client: the modelled client "
    "in simulation (a release with --profile, a C firmware with --firmware), or a client "
    "program on real sockets (--dut). Prints a scorecard: one line per case (PASS, FAIL "
    "or N/A with the reason), grouped, and a summary. Exit status 0 only when at least one "
    "case applied and every case that applied passed.")


def add_audit_parser(subparsers: Any) -> None:
    """Add ``audit`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="put every hostile-server case of the catalog to one SMTP client and "
                      "print its scorecard",
        description=AUDIT_DESCRIPTION)
    parser.add_argument("--dut", metavar="NAME|FILE",
                        help="audit a client program: a DUT file or a shipped one "
                             f"({', '.join(shipped_dut_files())}); default: the modelled "
                             "client, in simulation")
    parser.add_argument("--board", metavar="URL",
                        help="audit a board through its console: a pyserial URL "
                             "(/dev/ttyUSB0, socket://HOST:PORT, a pty); needs --board-config")
    parser.add_argument("--board-config", type=Path, metavar="FILE",
                        help="with --board: what the board is configured with (TOML: its "
                             "server address, security, credentials, trust, timeouts)")
    cliargs.add_profile_argument(parser)
    add_firmware_argument(parser, "the board's firmware for the modelled audit: model "
                                  "(default), lwip, or a C firmware library")
    parser.add_argument("--seed", type=cliargs.seed, default=None,
                        help="kernel seed of the simulation, an integer >= 0 (default 0)")
    parser.add_argument("--tag", action="append", default=[], metavar="T",
                        help="only the cases with this tag (repeat: all of them)")
    parser.add_argument("--group", action="append", default=[], metavar="G",
                        help=f"only the cases of this group ({', '.join(AUDIT_GROUPS)}); "
                             "repeat for more")
    parser.add_argument("--case", action="append", default=[], metavar="NAME",
                        help="only this case (a scenario name; repeat for more)")
    parser.add_argument("--json", action="store_true",
                        help="print the scorecard as one JSON object")
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="write an HTML report (the scorecard, each case's run)")
    add_color_argument(parser)
    parser.add_argument("--time-cap", type=cliargs.positive_seconds,
                        default=DEFAULT_TIME_CAP_S, metavar="S",
                        help=f"with --dut: longest real time per case (default "
                             f"{DEFAULT_TIME_CAP_S:g} s)")
    parser.add_argument("--client-timeout", type=cliargs.positive_seconds,
                        default=DEFAULT_CLIENT_TIMEOUT_S, metavar="S",
                        help=f"with --dut: the program's own timeout, through its DUT file's "
                             f"timeout_args (default {DEFAULT_CLIENT_TIMEOUT_S:g} s)")
    parser.set_defaults(handler=cmd_audit)


def cmd_audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``smtp-hil audit``; returns the exit status."""
    if args.board is not None or args.board_config is not None:
        return audit_board_command(args, out, err)
    if args.dut is not None:
        clashes = [option for option, given in (
            ("--profile", args.profile != "current"), ("--firmware", args.firmware is not None),
            ("--seed", args.seed is not None)) if given]
        if clashes:
            raise UserInputError(f"{', '.join(clashes)}: not with --dut (a client program is "
                                 "not simulated)")
    if args.report is not None:
        check_output_file("--report", args.report)
    cases = select_cases(load_catalog(), tags=args.tag, groups=args.group,
                         names=args.case)
    if args.dut is not None:
        dut = resolve_dut(args.dut)
        dut.require_installed()
        audited = f"{dut.name} ({dut.path})"
    else:
        firmware = resolve_cli_firmware(args.firmware)
        who = f"firmware {firmware.label}" if firmware is not None and not firmware.is_model \
            else f"the modelled client, release {args.profile}"
        audited = f"{who} (simulation, seed {args.seed or 0})"

    def audit(printer: Printer) -> list[CaseResult]:
        if args.dut is not None:
            return audit_program(cases, dut, time_cap_s=args.time_cap,
                                 client_timeout_s=args.client_timeout, progress=printer.case)
        return audit_modelled(cases, profile=args.profile, seed=args.seed or 0,
                              firmware=firmware, progress=printer.case)

    return print_audit(args, out, err, audited, cases, audit)
