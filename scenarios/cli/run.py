"""``smtp-hil run``: scenarios (catalog names or .toml paths) on one release, one line (or
one JSON object) per run as it finishes; with ``--dut`` a client program is the device
(:mod:`scenarios.cli.run_dut`).

Exit status 0 when every run passed, 1 when one failed (or was not applicable to the
firmware, or ``--check-determinism`` found a difference), 130 on Ctrl-C after printing
what finished (:mod:`scenarios.cli.progress`). ``--junit``, ``--artifacts`` and
``--report`` are checked before anything runs (:mod:`scenarios.cli.outputs`).

This module parses the subcommand's arguments and prints; the runs are
:func:`scenarios.runner.run`'s, the views :mod:`scenarios.artifacts`' and the report's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.applicability import NotApplicable
from scenarios.artifacts import result_dict
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
from scenarios.cli.progress import done_progress, progress, say_interrupted, uninterrupted
from scenarios.cli.run_dut import add_dut_arguments, cmd_run_dut
from scenarios.cli.streamrun import run_with_streamed_artifacts
from scenarios.determinism import DeterminismCheck, DeterminismChecker
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import Scenario
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult, check_runnable, resolve_scenario, run, watchable

EXIT_OK, EXIT_FAIL = 0, 1
RUN_HELP: Final = "run scenarios (catalog names or .toml paths)"


def add_run_parser(subparsers: Any) -> None:
    """Add ``run`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser("run", help=RUN_HELP)
    parser.add_argument("scenarios", nargs="+", metavar="NAME|PATH")
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
    add_dut_arguments(parser)
    parser.set_defaults(handler=cmd_run)


def run_line(result: RunResult) -> str:
    """One run as ``run`` prints it: verdict, scenario, release, reason, times."""
    verdict = "PASS" if result.passed else "FAIL"
    label = result.profile if result.firmware == "model" else result.firmware
    fleet = f"; {result.fleet.summary()}" if result.fleet is not None else ""
    return (f"{verdict} {result.scenario.name} [{label} seed {result.seed}] "
            f"{result.verdict.reason}{fleet} (virtual {result.virtual_us / 1e6:.3f} s, "
            f"wall {result.wall_s:.3f} s)")


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.dut is not None:
        if args.report is not None:
            raise UserInputError("--report does not work with --dut yet")
        return cmd_run_dut(args, out, err)
    seed = 0 if args.seed is None else args.seed
    scenarios: list[Scenario] = [resolve_scenario(name) for name in args.scenarios]
    firmware = resolve_cli_firmware(args.firmware)
    if args.junit is not None:
        check_output_file("--junit", args.junit)
    if args.report is not None:
        check_output_file("--report", args.report)
    if args.artifacts is not None:
        make_output_folder("--artifacts", args.artifacts)
    results: list[RunResult] = []
    status = EXIT_OK
    done = 0  # scenarios reported, as passed, failed or not applicable
    try:
        with DeterminismChecker() as checker:
            for index, scenario in enumerate(scenarios, 1):
                progress(err, f"[{index}/{len(scenarios)}] {scenario.name}")
                try:
                    check_runnable(scenario, firmware)
                except NotApplicable as exc:  # neither a pass nor a run
                    status = EXIT_FAIL
                    with uninterrupted():
                        done_progress(err)
                        out.write((json.dumps(not_applicable_dict(exc)) if args.json
                                   else not_applicable_line(exc)) + "\n")
                        out.flush()
                        done += 1
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
                                 keep_trace=_views_read_the_trace(args))
                check = checker.after(scenario, result) if args.check_determinism else None
                if not result.passed or (check is not None and check.deterministic is False):
                    status = EXIT_FAIL
                with uninterrupted():  # a run is printed and counted whole
                    done_progress(err)
                    _report_run(args, out, result, check, written)
                    results.append(result)
                    done += 1
    except KeyboardInterrupt:
        status = say_interrupted(out, err, done, len(scenarios))
    if args.junit is not None:
        # start-up: JUnit (and the report's outcomes it uses) load only for --junit
        # (measured: 14 ms of every `smtp-hil run`)
        from scenarios.junit import junit_xml

        write_junit(args.junit, junit_xml(results, show_secrets=args.show_secrets))
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
                check: DeterminismCheck | None, written: Path | None) -> None:
    if args.json:
        data = result_dict(result)
        if check is not None:
            data["deterministic"] = check.deterministic
            data["determinism"] = check.as_dict()
        out.write(json.dumps(data) + "\n")
    else:
        out.write(run_line(result) + "\n")
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
