"""``smtp-hil explore``: search faults and inputs from starting scenarios, check the
invariants on every run, shrink each distinct failure to a scenario file.

    smtp-hil explore SCENARIO... [--profile P[,P...]|all] [--budget N | --time S]
        [--seed K] [--jobs J | --scheduler ADDRESS] [--shard K/N] [--out DIR]
        [--vary server,link,job,device] [--invariant NAME[,NAME...]] [--stop-at-first]
        [--json] [--report FILE.html]
    smtp-hil explore --merge SHARD.json... [--json] [--report FILE.html]

While it runs, a progress line (schedules run, per second, failures found) on standard
error: rewritten in place on a terminal, one line every 10 s when piped. At the end one
line per distinct failure with the file written for it, one per kind of note, and a
last line with how much ran (``--report``: the same as an HTML page, with each failure's
first schedule and its shrunk file run on every release, :mod:`scenarios.explore.
htmlreport`). Exit status 1 when anything failed, 0 when nothing did
(notes never fail), 2 on bad input, 130 on Ctrl-C (after printing what it found so far,
not shrunk).

This module parses the subcommand's arguments and prints; the exploration is
:func:`scenarios.explore.explore`'s.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.cli import args as cliargs
from scenarios.cli.outputs import check_output_file, write_html
from scenarios.cli.progress import EXIT_INTERRUPTED, done_progress, progress
from scenarios.explore import (
    DIMENSIONS,
    ExploreReport,
    Progress,
    StartPoint,
    explore,
    load_start,
    merge,
)
from scenarios.format import INVARIANT_NAMES
from smtp.profiles import PROFILE_NAMES

EXIT_OK, EXIT_FAIL = 0, 1
PIPED_EVERY_S: Final = 10.0
"""How often a piped progress line is printed."""


def _shard(value: str) -> tuple[int, int]:
    k, slash, n = value.partition("/")
    try:
        shard = (int(k), int(n)) if slash else (-1, 0)
    except ValueError:
        shard = (-1, 0)
    if not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N, got {value!r}")
    return shard


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value!r}")
    return number


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_explore_parser(subparsers: Any) -> None:
    """Add ``explore`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "explore", help="search faults and inputs, check invariants, shrink failures to "
                        "scenario files",
        description="Search faults and inputs from starting scenarios, check the invariants "
                    "on every run, and shrink each distinct failure to a scenario file. "
                    "Exit status 1 when anything failed, 0 when nothing did, 2 on bad input, "
                    "130 on Ctrl-C (after printing what it found so far, not shrunk).")
    parser.add_argument("scenarios", nargs="*", metavar="NAME|PATH",
                        help="starting scenarios: catalog names or .toml paths")
    parser.add_argument("--profile", type=_names, default=["current"], metavar="P[,P...]",
                        help=f"release(s) to run every schedule on ({', '.join(PROFILE_NAMES)}"
                             f", or all); default current")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=_count, default=None, metavar="N",
                        help="schedules per release (default 2000)")
    budget.add_argument("--time", type=cliargs.positive_seconds, default=None, metavar="S",
                        help="run for S seconds of wall time (the schedules done are a "
                             "prefix: the summary says how many)")
    parser.add_argument("--seed", type=cliargs.seed, default=0,
                        help="campaign seed, an integer >= 0 (default 0)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_count, default=None, metavar="J",
                       help="local processes (default: every core this process may use)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the schedules on a Dask cluster (tcp://host:8786; needs "
                            "pip install 'smtp-hil[dask]')")
    parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                        help="run only schedules i with i %% N == K (the shards' union is "
                             "the unsharded run; combine their --json with --merge)")
    parser.add_argument("--out", type=Path, default=Path("explore-out"), metavar="DIR",
                        help="where shrunk scenario files go (default explore-out/)")
    parser.add_argument("--vary", type=_names, default=None, metavar="DIMS",
                        help=f"what to change: some of {','.join(DIMENSIONS)} (default all)")
    parser.add_argument("--invariant", type=_names, default=None, metavar="NAMES",
                        help="invariants to check (default: all but "
                             "tls.downgrade_announced); see scenarios/README.md")
    parser.add_argument("--stop-at-first", action="store_true",
                        help="stop at the first failing schedule")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                        help="write an HTML report: each distinct failure with its first "
                             "schedule as found and its shrunk file run on every release")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="FILE.json",
                        help="combine the --json reports of a campaign's shards")
    parser.set_defaults(handler=cmd_explore)


class ProgressLine:
    """Progress on standard error: in place on a terminal, every ``every_s`` seconds
    (10) when piped."""

    def __init__(self, err: TextIO, every_s: float = PIPED_EVERY_S) -> None:
        self.err = err
        self.tty = err.isatty()
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, state: Progress) -> None:
        total = f"/{state.total}" if state.total is not None else ""
        releases = ", ".join(state.profiles)
        text = (f"explore: {state.schedules}{total} schedules, {state.per_second:.0f} runs/s, "
                f"{state.failing} failing ({state.distinct} distinct), {state.notes} info "
                f"[{releases}: {', '.join(state.starts)}]")
        if self.tty:
            progress(self.err, text)
        elif time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            self.err.write(text + "\n")
            self.err.flush()


def _merged(paths: list[Path]) -> ExploreReport:
    reports = []
    for path in paths:
        try:
            reports.append(ExploreReport.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserInputError(f"--merge: {path}: not an explore --json report ({exc})"
                                 ) from None
    try:
        return merge(reports)
    except ValueError as exc:
        raise UserInputError(f"--merge: {exc}") from None


def _starts(names: Sequence[str]) -> dict[str, StartPoint]:
    """The starting points that can be loaded again by name (for the report)."""
    found = {}
    for name in names:
        try:
            start = load_start(name)
        except UserInputError:
            continue  # a file start of merged shards: shown without its unshrunk run
        found[start.name] = start
    return found


def cmd_explore(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.report is not None:
        check_output_file("--report", args.report)
    if args.merge is not None:
        if args.scenarios:
            raise UserInputError("--merge combines reports: give no scenarios with it")
        report = _merged(args.merge)
    else:
        if not args.scenarios:
            raise UserInputError("explore: name at least one starting scenario (a catalog "
                                 "name or a .toml path)")
        if args.invariant is not None:
            unknown = [n for n in args.invariant if n not in INVARIANT_NAMES]
            if unknown:
                raise UserInputError(f"--invariant: unknown {', '.join(map(repr, unknown))} "
                                     f"(known: {', '.join(INVARIANT_NAMES)})")
        budget = args.budget if args.budget is not None or args.time is not None else 2000
        line = ProgressLine(err)
        report = explore(args.scenarios, args.profile, budget=budget, time_s=args.time,
                         seed=args.seed, vary=args.vary, invariants=args.invariant,
                         jobs=args.jobs, scheduler=args.scheduler, shard=args.shard,
                         out=args.out, stop_at_first=args.stop_at_first, progress=line)
        done_progress(err)
    if args.report is not None:
        # start-up: the report's views and HTML load only for --report (as run's)
        from scenarios.explore.htmlreport import explore_report  # start-up: see above

        starts = _starts(args.scenarios or report.starts)
        write_html(args.report, explore_report(report, starts))
    if args.json:
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        for text in report.summary():
            out.write(text + "\n")
    if report.interrupted:
        out.flush()
        err.write(f"smtp-hil: interrupted: {report.schedules_run} schedules done per release; "
                  f"the failures above are not shrunk\n")
        return EXIT_INTERRUPTED
    return EXIT_OK if report.passed else EXIT_FAIL
