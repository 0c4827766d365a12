"""``smtp-hil serve``: a scenario's scripted server on a real socket, in real time.

    smtp-hil serve NAME|PATH --listen HOST:PORT [--tls-cert FILE --tls-key FILE]
                   [--once] [--json] [--seed N] [--time-scale X] [--max-delay S] [bounds ...]

It prints the dialogue live and, each time a client disconnects, the server-side verdict
of that connection (:mod:`scenarios.outside.serve` does the serving). Without
``--tls-cert`` it makes a throwaway CA and prints where its certificate is, for the
client to trust. ``--time-scale`` and ``--max-delay`` shorten the scenario's delays.
SIGINT and SIGTERM stop it cleanly.

Exit status: 0 when every verdict passed, 1 when one failed, 2 on bad input (a bad
scenario, a port in use, an unreadable certificate): one line per problem, never a
traceback.

This module parses the subcommand's arguments; nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final, TextIO

from scenarios.cli import args as cliargs
from scenarios.cli.outputs import check_output_file, write_report
from scenarios.cli.progress import Palette, add_color_argument
from scenarios.outside.serve import REPORT_CONNECTIONS, ServeOptions, serve
from scenarios.runner import resolve_scenario
from scenarios.server.limits import ConnectionLimits
from scenarios.server.realtime import Pacing

EXIT_OK, EXIT_FAIL = 0, 1
DEFAULT_LISTEN: Final = "127.0.0.1:2525"
MAX_COUNT: Final = 1 << 40
"""The largest size or count an option takes (1 TiB): past that it is a typo."""


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:25`` for IPv6) as ``(host, port)``; port 0 = any free.
    The message of the ArgumentTypeError is worded for argparse, which puts
    ``argument --listen:`` before it."""
    host, sep, port_text = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if (not sep or not host or not port_text.isdigit() or int(port_text) > 65535
            or (":" in host and not bracketed)):
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT such as 127.0.0.1:2525 or [::1]:2525, got {value!r}")
    return host, int(port_text)


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number in 1..{MAX_COUNT}, "
                                         f"got {value!r}")
    return number


def add_serve_parser(subparsers: Any) -> None:
    """Add ``serve`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run a scenario's scripted server on a real socket, in real time",
        description="Run a scenario's scripted server on a real socket, in real time, for a "
                    "real board, an emulator or any SMTP client program. Prints the "
                    "dialogue live and, whenever a client disconnects, the server-side "
                    "verdict of that connection. Runs until Ctrl-C or SIGTERM (or the "
                    "first client with --once).")
    parser.add_argument("scenario", metavar="NAME|PATH",
                        help="a catalog scenario name or a scenario file")
    parser.add_argument("--listen", type=listen_address, default=listen_address(DEFAULT_LISTEN),
                        metavar="HOST:PORT", help=f"where to listen (default {DEFAULT_LISTEN}; "
                                                  "port 0: any free port)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE",
                        help="server certificate chain (PEM); default: a throwaway CA's")
    parser.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key (PEM)")
    parser.add_argument("--once", action="store_true",
                        help="stop after the first client disconnects (exit 1 if it failed)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--seed", type=cliargs.seed, default=0, metavar="N",
                        help="seeds what the scenario's rules draw, such as a trickle's "
                             "jitter (default 0)")
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="when serve stops, write an HTML report of the connections "
                             f"judged (the first {REPORT_CONNECTIONS})")
    cliargs.add_show_secrets_argument(parser)
    add_color_argument(parser)
    cliargs.add_pacing_arguments(parser)
    limits = ConnectionLimits()
    parser.add_argument("--max-message-size", type=_count, metavar="BYTES",
                        default=limits.max_message_bytes,
                        help="most content kept of one mail; more gets 552 (default "
                             f"{limits.max_message_bytes}, and never more than the "
                             "scenario's SIZE)")
    parser.add_argument("--max-connection-size", type=_count, metavar="BYTES",
                        default=limits.max_connection_bytes,
                        help="most mail content kept by one connection; a mail past it gets "
                             f"452 (default {limits.max_connection_bytes})")
    parser.add_argument("--memory-budget", type=_count, metavar="BYTES",
                        default=limits.memory_budget_bytes,
                        help="most mail content kept by all connections together; content "
                             "past it is not kept and its mail gets 452 4.3.1 Insufficient "
                             f"system storage (default {limits.memory_budget_bytes})")
    parser.add_argument("--idle-timeout", type=cliargs.positive_seconds, metavar="S",
                        default=limits.idle_timeout_s,
                        help="421 and close after S seconds without a byte from the client "
                             f"(default {limits.idle_timeout_s:g}: RFC 5321's 5 minutes)")
    parser.add_argument("--max-connections", type=_count, metavar="N",
                        default=limits.max_connections,
                        help=f"connections open at once; more get 421 (default "
                             f"{limits.max_connections})")
    parser.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``smtp-hil serve``; returns the exit status."""
    host, port = args.listen
    if args.report is not None:
        check_output_file("--report", args.report)
    options = ServeOptions(
        host=host, port=port, tls_cert=args.tls_cert, tls_key=args.tls_key, once=args.once,
        json=args.json, show_secrets=args.show_secrets,
        pacing=Pacing(time_scale=args.time_scale, max_delay_s=args.max_delay),
        limits=ConnectionLimits(max_message_bytes=args.max_message_size,
                                max_connection_bytes=args.max_connection_size,
                                memory_budget_bytes=args.memory_budget,
                                idle_timeout_s=args.idle_timeout,
                                max_connections=args.max_connections),
        seed=args.seed, report=args.report is not None,
        palette=Palette.for_stream(out, args.color))
    scenario = resolve_scenario(args.scenario)
    outcome = serve(scenario, options, out)
    if outcome.stopped:  # what finished is printed already: say how much it was
        err.write(f"smtp-hil serve: stopped: {outcome.judged} connection(s) judged, "
                  f"{outcome.failed} failed\n")
    if args.report is not None:
        left_out = (f", {outcome.not_in_report} more not in the report"
                    if outcome.not_in_report else "")
        write_report(args.report, [], views=outcome.views,
                     title=f"smtp-hil serve {scenario.name}: {outcome.judged} "
                           f"connection(s){left_out}")
    return EXIT_OK if outcome.passed else EXIT_FAIL
