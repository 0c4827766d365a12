"""``smtp-hil run``: scenarios (catalog names or .toml paths, or the catalog's scenarios
chosen with ``-k``/``--tag``) on one release, one line (or one JSON object) per run as it
finishes; with ``--dut`` a client program is the device (:mod:`scenarios.cli.run_dut`).

Exit status 0 when every run passed, 1 when one failed (or was not applicable to the
firmware, or ``--check-determinism`` found a difference), 130 on Ctrl-C after printing
what finished (:mod:`scenarios.cli.progress`). ``--junit``, ``--artifacts`` and
``--report`` are checked before anything runs (:mod:`scenarios.cli.outputs`). A scenario
the firmware cannot run (``--firmware lwip``) is printed as not applicable and is a
skipped testcase of the JUnit file, with the reason, as the matrix writes it.

This module parses the subcommand's arguments and prints; the runs are
:func:`scenarios.runner.run`'s, the views :mod:`scenarios.artifacts`' and the report's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.tracespill import SPILL_BOUND
from emulator.userinput import UserInputError
from scenarios.applicability import NotApplicable
from scenarios.artifacts import result_dict
from scenarios.catalog import load_catalog
from scenarios.cli import args as cliargs
from scenarios.cli.firmware import (
    add_firmware_argument,
    not_applicable_dict,
    not_applicable_line,
    resolve_cli_firmware,
)
from scenarios.cli.outputs import (
    check_output_file,
    make_output_folder,
    write_junit,
    write_report,
    write_run_artifacts,
)
from scenarios.cli.progress import (
    Palette,
    Progress,
    add_color_argument,
    say_interrupted,
    uninterrupted,
)
from scenarios.cli.run_dut import add_dut_arguments, cmd_run_dut
from scenarios.cli.streamrun import run_with_streamed_artifacts
from scenarios.determinism import DeterminismCheck, DeterminismChecker
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import Scenario
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult, check_runnable, resolve_scenario, run, watchable
from scenarios.selection import select

EXIT_OK, EXIT_FAIL = 0, 1
RUN_HELP: Final = "run scenarios (catalog names or .toml paths)"
RUN_DESCRIPTION: Final = (
    "Run scenarios on one release of the modelled client, in virtual time, and print one "
    "line per run: PASS or FAIL, the verdict's reason, virtual and wall time. Names are "
    "catalog scenarios (smtp-hil list) or paths to your own scenario files; without names, "
    "-k and --tag choose from the catalog. With --dut a client program is the device "
    "under test, against the scenario's scripted server on a real socket.")


def add_run_parser(subparsers: Any) -> None:
    """Add ``run`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run", help=RUN_HELP, description=RUN_DESCRIPTION)
    parser.add_argument("scenarios", nargs="*", metavar="NAME|PATH",
                        help="catalog scenario names or scenario files (none: the catalog's "
                             "scenarios that -k/--tag choose)")
    cliargs.add_selection_arguments(parser)
    cliargs.add_profile_argument(parser)
    parser.add_argument("--seed", type=cliargs.seed, default=None,  # None: not given (--dut)
                        help="kernel seed, an integer >= 0 (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument("--artifacts", type=Path, metavar="DIR",
                        help="write transcript, trace, pcap and result JSON per run")
    parser.add_argument("--check-determinism", action="store_true",
                        help="run each scenario again in a fresh process with another "
                             "PYTHONHASHSEED; fail if the trace hashes differ")
    add_firmware_argument(parser, "the board's firmware: model (default: the scenario's), "
                                  "lwip, or a C firmware library")
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="write an HTML report (one self-contained file)")
    cliargs.add_show_secrets_argument(parser)
    add_color_argument(parser)
    add_dut_arguments(parser)
    parser.set_defaults(handler=cmd_run)


def chosen_scenarios(names: list[str], keyword: str | None, tags: list[str]) -> list[Scenario]:
    """The scenarios named (or, with none named, the catalog's), narrowed by ``-k`` and
    ``--tag``; UserInputError when there is nothing to run."""
    if not names and keyword is None and not tags:
        raise UserInputError("name scenarios (catalog names or .toml files), or choose "
                             "from the catalog with -k EXPR or --tag TAG")
    pool = [resolve_scenario(name) for name in names] if names else load_catalog()
    return select(pool, keyword, tags)


def run_line(result: RunResult, palette: Palette | None = None) -> str:
    """One run as ``run`` prints it: verdict, scenario, release, reason, times."""
    verdict = "PASS" if result.passed else "FAIL"
    if palette is not None:
        verdict = palette.paint(verdict, "pass" if result.passed else "fail")
    label = result.profile if result.firmware == "model" else result.firmware
    fleet = f"; {result.fleet.summary()}" if result.fleet is not None else ""
    return (f"{verdict} {result.scenario.name} [{label} seed {result.seed}] "
            f"{result.verdict.reason}{fleet} (virtual {result.virtual_us / 1e6:.3f} s, "
            f"wall {result.wall_s:.3f} s)")


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    scenarios = chosen_scenarios(args.scenarios, args.keyword, args.tags)
    if args.dut is not None:
        return cmd_run_dut(args, scenarios, out, err)
    seed = 0 if args.seed is None else args.seed
    firmware = resolve_cli_firmware(args.firmware)
    if args.junit is not None:
        check_output_file("--junit", args.junit)
    if args.report is not None:
        check_output_file("--report", args.report)
    if args.artifacts is not None:
        make_output_folder("--artifacts", args.artifacts)
    palette = Palette.for_stream(out, args.color)
    results: list[RunResult] = []
    not_applicable: list[NotApplicable] = []  # skipped test cases of the JUnit file
    status = EXIT_OK
    interrupted = False
    with Progress(err, total=len(scenarios), command="smtp-hil run") as progress:
        try:
            with DeterminismChecker() as checker:
                for scenario in scenarios:
                    progress.start(scenario.name)
                    try:
                        check_runnable(scenario, firmware)
                    except NotApplicable as exc:  # neither a pass nor a run
                        status = EXIT_FAIL
                        with uninterrupted(), progress.printing():
                            not_applicable.append(exc)
                            out.write((json.dumps(not_applicable_dict(exc)) if args.json
                                       else not_applicable_line(exc, palette)) + "\n")
                            out.flush()
                            progress.done()
                        continue
                    if args.check_determinism:
                        checker.before(scenario, args.profile, seed, args.firmware)
                    written: Path | None = None
                    if _streams_artifacts(args, scenario, firmware):
                        result, written = run_with_streamed_artifacts(
                            scenario, args.profile, seed, firmware, args.artifacts,
                            args.show_secrets)
                    else:
                        result = run(scenario, args.profile, seed, firmware,
                                     keep_trace=_views_read_the_trace(args),
                                     spill_after=SPILL_BOUND)
                    check = checker.after(scenario, result) if args.check_determinism else None
                    if not result.passed or (check is not None and check.deterministic is False):
                        status = EXIT_FAIL
                    with uninterrupted(), progress.printing():  # printed and counted whole
                        _report_run(args, out, result, check, written, palette)
                        results.append(result)
                        progress.done()
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        status = say_interrupted(out, err, progress.count, len(scenarios))
    if args.junit is not None:
        # start-up: JUnit (and the report's outcomes it uses) load only for --junit
        # (measured: 14 ms of every `smtp-hil run`)
        from scenarios.junit import junit_xml

        write_junit(args.junit, junit_xml(results, show_secrets=args.show_secrets,
                                          not_applicable=not_applicable))
    if args.report is not None:
        names = ", ".join(s.name for s in scenarios)
        on = args.profile if args.firmware in (None, "model") else args.firmware
        write_report(args.report, results, title=f"smtp-hil run {names} on {on} "
                     f"(seed {seed})", matrix=False, artifacts=args.artifacts)
    return status


def _views_read_the_trace(args: argparse.Namespace) -> bool:
    """Whether something asked for reads the whole trace (else the runs are lean)."""
    return bool(args.junit or args.report or args.artifacts or args.check_determinism)


def _streams_artifacts(args: argparse.Namespace, scenario: Scenario,
                       firmware: FirmwareChoice | None) -> bool:
    """Whether the run writes its artifacts as it goes: they are asked for, nothing else
    reads the whole trace, and the run can be watched (one run of the model firmware)."""
    return (args.artifacts is not None and watchable(scenario, firmware)
            and not (args.junit or args.report or args.check_determinism))


def _report_run(args: argparse.Namespace, out: TextIO, result: RunResult,
                check: DeterminismCheck | None, written: Path | None,
                palette: Palette) -> None:
    if args.json:
        data = result_dict(result)
        if check is not None:
            data["deterministic"] = check.deterministic
            data["determinism"] = check.as_dict()
        out.write(json.dumps(data) + "\n")
    else:
        out.write(run_line(result, palette) + "\n")
        for line in check.lines() if check is not None else []:
            out.write(line + "\n")
        why = why_not_reproducible(result.scenario)
        if check is None and why is not None:
            out.write(f"     note: this trace hash is not reproducible: {why}\n")
    if args.artifacts is not None:
        where = written or write_run_artifacts(result, args.artifacts, args.show_secrets)
        if not args.json:
            out.write(f"     artifacts: {where}\n")
    out.flush()  # a reader of a pipe sees each run as it finishes
