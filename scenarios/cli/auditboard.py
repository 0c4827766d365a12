"""``smtp-hil audit --board URL --board-config FILE``: the audit of a board through its
console.

The board configuration (:mod:`scenarios.audit.boardconfig`) says what the board holds;
when it is to trust the audit's CA and that CA does not exist yet, it is made in the
file's ``tls.ca_dir`` and the command stops (exit 2) saying where its certificate is:
install it on the board, then run the audit again. Before the first case the console
must answer ``version`` (a ``VERSION:`` line), so a wrong URL or a board that does not
speak the console protocol is bad input, not 140 failed cases.

This module parses nothing new and prints; the audit is :mod:`scenarios.audit.board`'s.
"""

from __future__ import annotations

import argparse
from typing import TextIO

import serial  # type: ignore[import-untyped]

from emulator.backends.serialboard import ConsoleTimeout, RealBoard
from emulator.userinput import UserInputError
from scenarios.audit.board import audit_board
from scenarios.audit.boardconfig import audit_ca, load_board_config
from scenarios.audit.cases import CaseResult, select_cases
from scenarios.audit.programs import DEFAULT_CLIENT_TIMEOUT_S
from scenarios.catalog import load_catalog
from scenarios.cli.auditprint import Printer, print_audit
from scenarios.cli.outputs import check_output_file
from scenarios.outside.dutfile import DEFAULT_TIME_CAP_S
from smtp.userfiles import shown_path
from stack.tls.certs import CertAuthority

VERSION_TIMEOUT_S = 5.0


def audit_board_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the board audit the arguments ask for; the exit status."""
    if args.board is None or args.board_config is None:
        raise UserInputError("--board and --board-config go together (the board's console, "
                             "and what the board is configured with)")
    clashes = [option for option, given in (
        ("--dut", args.dut is not None), ("--profile", args.profile != "current"),
        ("--firmware", args.firmware is not None), ("--seed", args.seed is not None),
        ("--time-cap", args.time_cap != DEFAULT_TIME_CAP_S),
        ("--client-timeout", args.client_timeout != DEFAULT_CLIENT_TIMEOUT_S)) if given]
    if clashes:
        raise UserInputError(f"{', '.join(clashes)}: not with --board (the board config's "
                             "[timeouts] say how long a case may take)")
    if args.report is not None:
        check_output_file("--report", args.report)
    config, folder = load_board_config(args.board_config)
    cases = select_cases(load_catalog(), tags=args.tag, groups=args.group,
                         names=args.case)
    ca: CertAuthority | None = None
    ca_line = "no TLS"
    if config.server.security != "none" and config.tls.trusts == "audit_ca":
        ca, ca_file, made = audit_ca(folder / config.tls.ca_dir)
        if made:
            raise UserInputError(
                f"the audit's CA was just made: install {shown_path(ca_file)} on the board "
                f"as its trust anchor (the CA the board checks the server's certificate "
                f"with), then run the audit again")
        ca_line = f"trusting the audit's CA {shown_path(ca_file)}"
    try:
        board = RealBoard(args.board, baudrate=config.console.baudrate)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise UserInputError(f"--board {args.board}: cannot open it: {exc}") from None
    with board:
        try:
            version = board.command("version", expect=r"^(?:VERSION|ERR): ",
                                    timeout=VERSION_TIMEOUT_S).string
        except (ConsoleTimeout, ConnectionError):
            raise UserInputError(f"--board {args.board}: no answer to 'version' within "
                                 f"{VERSION_TIMEOUT_S:g} s: is it a board console speaking "
                                 "the console protocol (emulator/console.py)?") from None
        auth = f"logs in as {config.auth.username}" if config.auth else "no login"
        audited = (f"board {args.board} ({version}; {shown_path(args.board_config)}: server "
                   f"{config.server.listen}, security {config.server.security}, {auth}, "
                   f"{ca_line})")

        def audit(printer: Printer) -> list[CaseResult]:
            return audit_board(cases, board, config, ca, progress=printer.case)

        return print_audit(args, out, err, audited, cases, audit)
