"""``smtp-hil board``: an emulated board with its serial console, for people and programs.

    smtp-hil board [--profile P] [--scenario NAME|PATH] [--seed N] [--echo]
                   [--pty [--duration S] [--speed X | --fast]] [--url [--name NAME]]
    smtp-hil board --pty --network host --config DEVICE.toml [--profile P] [--echo]
                   [--duration S]

The board runs the SMTP firmware of release ``P`` in the world of a scenario (its link
and scripted server; the scenario's own job is not sent: jobs come from the console).

- Without ``--pty`` the console reads standard input: each line is typed into the UART,
  virtual time runs until the SMTP client is idle again (as fast as the machine goes),
  and the console's output is printed. At end of input the command exits 0. Handy in
  scripts: ``printf 'smtp send --from a@example.com --to b@example.net\\n' | smtp-hil
  board --scenario blank-line-truncation``.
- With ``--pty`` it opens an OS pseudo-terminal, prints ``PTY: /dev/pts/N`` and bridges
  it to the UART until SIGINT/SIGTERM or ``--duration`` real seconds. Virtual time is
  paced to real time (``--speed X``: X virtual seconds per real second; ``--fast``: as
  fast as events allow). See :mod:`emulator.pty_bridge`.
- ``--url`` also publishes the console as ``hil://NAME`` (``--name``, default ``board``)
  and prints ``URL: hil://NAME``. That URL reaches the board only from this Python
  process (e.g. a keyword library that calls :func:`cmd_board` in a thread).

- ``--network host`` (with ``--pty`` and ``--config``): the console on a pty, but the
  client on the host's OS sockets and clock, configured as ``smtp-hil send`` is
  (:mod:`scenarios.outside.hostboard`): a device under test whose network a server on
  this machine can reach (``smtp-hil audit --board``). Not with ``--scenario``,
  ``--seed``, ``--speed``, ``--fast`` or ``--url`` (there is no simulated world).

This module parses the board subcommand's arguments and prints; the device is built by
:mod:`scenarios.session` (or :mod:`scenarios.outside.hostboard`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, TextIO

from emulator.userinput import UserInputError
from scenarios.catalog import DEFAULT_SCENARIO
from scenarios.cli import args as cliargs

if TYPE_CHECKING:
    from scenarios.session import DeviceSession

EXIT_OK = 0


def add_board_parser(subparsers: Any) -> None:
    """Add the ``board`` subcommand to ``subparsers`` (from ``add_subparsers()``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "board", help="an emulated board with its serial console (stdin, a pty, or hil://)",
        description="Boot an emulated board running a release of the SMTP client in a "
                    "scenario's world (its link and scripted server) and give it a serial "
                    "console: lines from standard input (virtual time runs until the "
                    "client is idle), an OS pty for any terminal program (--pty, paced "
                    "to real time), or a hil:// URL in this process (--url). Type 'help' "
                    "at the console for its commands.")
    cliargs.add_profile_argument(parser)
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME|PATH",
                        help=f"the world: link and scripted server (default {DEFAULT_SCENARIO})")
    parser.add_argument("--seed", type=cliargs.seed, default=0, help="kernel seed (default 0)")
    parser.add_argument("--echo", action="store_true", help="console echo on at boot")
    parser.add_argument("--pty", action="store_true",
                        help="bridge the console to a new OS pty and print its path")
    parser.add_argument("--duration", type=cliargs.positive_seconds, metavar="S",
                        help="with --pty: stop after S real seconds")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=cliargs.speed, default=1.0, metavar="X",
                      help="with --pty: X virtual seconds per real second (default 1)")
    pace.add_argument("--fast", action="store_true",
                      help="with --pty: run virtual time as fast as events allow")
    parser.add_argument("--url", action="store_true",
                        help="publish the console as hil://NAME in this process")
    parser.add_argument("--name", default="board", help="the hil:// name (default board)")
    parser.add_argument("--network", choices=("sim", "host"), default="sim",
                        help="sim: the scenario's simulated link and server (default); host: "
                             "the host's OS sockets (with --pty and --config)")
    parser.add_argument("--config", type=Path, metavar="DEVICE.toml",
                        help="with --network host: the device configuration (as smtp-hil "
                             "send --config)")
    parser.set_defaults(handler=cmd_board)


def cmd_board(args: argparse.Namespace, out: TextIO, err: TextIO, *,
              stdin: IO[bytes] | None = None) -> int:
    """Run the board subcommand; ``stdin`` defaults to the process's standard input."""
    if args.network == "host" or args.config is not None:
        return _serve_host_network(args, out)
    # start-up: the session (console, UART, pyserial) is imported only when a board is
    # wanted; at the top it costs every other subcommand about 45 ms (measured with
    # python -X importtime: scenarios.cli.main 568 ms with it, 520 ms without)
    from scenarios.session import open_session

    session = open_session(args.scenario, args.profile, args.seed, echo=args.echo)
    try:
        if args.url:
            out.write(f"URL: {session.publish(args.name)}\n")
            out.flush()
        if args.pty:
            return _serve_pty(session, args, out)
        return _serve_stdin(session, out, stdin if stdin is not None else sys.stdin.buffer)
    finally:
        session.withdraw()


def _serve_stdin(session: DeviceSession, out: TextIO, stdin: IO[bytes]) -> int:
    def show() -> None:
        text = session.output()
        if text:
            out.write(text.replace("\r\n", "\n"))
            out.flush()

    show()
    for line in iter(stdin.readline, b""):
        session.uart.feed(line)
        session.settle()
        show()
    session.settle()
    show()
    out.write("\n")
    return EXIT_OK


def _serve_pty(session: DeviceSession, args: argparse.Namespace, out: TextIO) -> int:
    from emulator.pty_bridge import PtyBridge  # start-up: as the session, in cmd_board

    with PtyBridge(session, speed=None if args.fast else args.speed) as bridge:
        out.write(f"PTY: {bridge.slave_path}\n")
        out.flush()
        restore = _on_signals(lambda: bridge.stop())
        try:
            bridge.serve(args.duration)
        finally:
            restore()
    return EXIT_OK


def _serve_host_network(args: argparse.Namespace, out: TextIO) -> int:
    """``--network host``: the console on a pty, the client on the host stack."""
    # start-up: as the session, imported only when wanted
    from scenarios.cli.send import read_config_ca
    from scenarios.outside.hostboard import HostBoard
    from smtp.config import load_config
    from smtp.profiles import PROFILES
    from smtp.settings import settings_from_config

    problems = [f"{option}: not with --network host (there is no simulated world)"
                for option, given in (("--scenario", args.scenario != DEFAULT_SCENARIO),
                                      ("--seed", args.seed != 0), ("--fast", args.fast),
                                      ("--speed", args.speed != 1.0), ("--url", args.url))
                if given]
    if args.network != "host":
        problems.append("--config: only with --network host")
    if not args.pty:
        problems.append("--network host: needs --pty (the console is a pty)")
    if args.config is None:
        problems.append("--network host: needs --config DEVICE.toml")
    if problems:
        raise UserInputError(problems)
    profile = PROFILES[args.profile]
    config = load_config(args.config, check_version=not profile.skips_config_version_check)
    settings = settings_from_config(config, ca_pem=read_config_ca(config, args.config))
    with HostBoard(settings, profile, echo=args.echo) as board:
        out.write(f"PTY: {board.slave_path}\n")
        out.flush()
        restore = _on_signals(board.stop)
        try:
            board.serve(args.duration)
        finally:
            restore()
    return EXIT_OK


def _on_signals(action: Callable[[], None]) -> Callable[[], None]:
    """Call ``action`` on SIGINT/SIGTERM (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(_signum: int, _frame: FrameType | None) -> None:
        action()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore
