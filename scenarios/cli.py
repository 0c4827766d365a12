"""The ``smtp-hil`` command line: list, run and matrix here; send, board and serve in their
own modules (``cli_send``, ``cli_board``, ``cli_outside``), wired in below.

Exit status: 0 when everything asked for passed, 1 when a run failed (or the matrix does
not match the catalog), 2 on bad input (a bad scenario, configuration or DUT file, an
unknown profile or scenario, bad arguments, an output path that cannot be written) with
one line per problem and never a traceback. Output paths (``--junit``, ``--artifacts``,
``--report``) are checked before anything runs. Only the error types known to mean bad
input exit 2; anything else is a bug in smtp-hil and shows its traceback.

Ctrl-C (SIGINT) exits 130 without a traceback. ``run`` and ``matrix`` then print what
finished in their normal format (``matrix`` shows ``-`` for the cells not run; its JSON
says ``"interrupted": true`` and ``not_done``), write the JUnit file of the finished runs,
and say on standard error ``smtp-hil: interrupted: 45 of 376 runs done, 331 not done``.
Each run is printed (and flushed) as it finishes; a Ctrl-C during its printing waits
until it is printed and counted whole.

When the reader of standard output goes away (``smtp-hil list | head -1``), the command
stops quietly with status 1, as Python's documentation recommends (``signal`` module,
"Note on SIGPIPE"): standard output is pointed at /dev/null so nothing more is printed,
and the status is not 0 because not everything was reported (a C tool killed by SIGPIPE
would give 141; either fails a ``set -o pipefail`` pipeline the same way).

This module parses arguments and prints; the work is done by the runner, the verdicts
and the artifact views.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, TextIO

from emulator.userinput import UserInputError
from scenarios import cliargs
from scenarios.applicability import NotApplicable
from scenarios.catalog import load_catalog
from scenarios.cli_board import add_board_parser, cmd_board
from scenarios.cli_firmware import (
    FIRMWARE_LEGEND,
    NOT_APPLICABLE_CELL,
    FirmwareColumn,
    FirmwareUnavailable,
    add_firmware_argument,
    firmware_column,
    not_applicable_dict,
    not_applicable_line,
    resolve_cli_firmware,
)
from scenarios.cli_import import add_import_parser, cmd_import
from scenarios.cli_outside import add_dut_arguments, add_serve_parser, cmd_run_dut, cmd_serve
from scenarios.cli_send import add_send_parser, cmd_send
from scenarios.determinism import DeterminismCheck, DeterminismChecker
from scenarios.format import Scenario
from scenarios.golden import write_golden
from scenarios.junit import junit_xml
from scenarios.report.from_runs import FirmwareRuns, build_report, run_outcome
from scenarios.report.html import render_report
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import RunResult, check_runnable, resolve_scenario, run
from smtp.profiles import PROFILE_NAMES

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT: what a shell reports for a command stopped by Ctrl-C."""


class BadInput(Exception):
    """Input the user must fix; the message is printed as is, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise BadInput(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smtp-hil", description=(
        "Deterministic hardware-in-the-loop harness for an embedded SMTP client."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_list = sub.add_parser("list", help="the catalog: name, title, tags, what it reproduces")
    p_list.add_argument("--json", action="store_true", help="print JSON")

    p_run = sub.add_parser("run", help="run scenarios (catalog names or .toml paths)")
    p_run.add_argument("scenarios", nargs="+", metavar="NAME|PATH")
    p_run.add_argument("--profile", type=cliargs.profile_name, default="current",
                       help=f"release profile ({', '.join(PROFILE_NAMES)}); default current")
    p_run.add_argument("--seed", type=cliargs.seed, default=None,  # None: not given (see --dut)
                       help="kernel seed, an integer >= 0 (default 0)")
    p_run.add_argument("--json", action="store_true", help="print one JSON object per run")
    p_run.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    p_run.add_argument("--artifacts", type=Path, metavar="DIR",
                       help="write transcript, trace, pcap and result JSON per run")
    p_run.add_argument("--check-determinism", action="store_true",
                       help="run each scenario again in a fresh process with another "
                            "PYTHONHASHSEED; fail if the trace hashes differ")
    add_firmware_argument(p_run, "the board's firmware: model (default: the scenario's), "
                                 "lwip, or a C firmware library")
    p_run.add_argument("--report", type=Path, metavar="FILE.html",
                       help="write an HTML report (one self-contained file)")
    cliargs.add_show_secrets_argument(p_run)
    add_dut_arguments(p_run)

    p_matrix = sub.add_parser("matrix", help="every catalog scenario against every profile")
    p_matrix.add_argument("--json", action="store_true", help="print JSON")
    p_matrix.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    p_matrix.add_argument("--seed", type=cliargs.seed, default=0,
                          help="kernel seed, an integer >= 0 (default 0)")
    p_matrix.add_argument("--write-golden", type=Path, metavar="FILE",
                          help="write every run's trace hash to FILE (the golden hashes)")
    add_firmware_argument(p_matrix, "add a column for this C firmware (lwip or a library)")
    p_matrix.add_argument("--report", type=Path, metavar="FILE.html",
                          help="write an HTML report: the grid and every run")
    p_matrix.add_argument("--artifacts", type=Path, metavar="DIR",
                          help="write transcript, trace, pcap and result JSON per run")
    cliargs.add_show_secrets_argument(p_matrix)

    add_send_parser(sub)
    add_board_parser(sub)
    add_serve_parser(sub)
    add_import_parser(sub)
    return parser


def _progress(stream: TextIO, text: str) -> None:
    if stream.isatty():
        stream.write(f"\r\033[K{text}")
        stream.flush()


def _done_progress(stream: TextIO) -> None:
    if stream.isatty():
        stream.write("\r\033[K")
        stream.flush()


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    scenarios = load_catalog()
    if args.json:
        out.write(json.dumps([{
            "name": s.name, "title": s.title, "tags": s.tags,
            "reproduces": [{"changelog": r.changelog, "profiles": r.profiles, "why": r.why}
                           for r in s.reproduces]} for s in scenarios], indent=2) + "\n")
        return EXIT_OK
    width = max((len(s.name) for s in scenarios), default=10)
    for s in scenarios:
        profiles = sorted({p for r in s.reproduces for p in r.profiles})
        repro = f"  [fails on {', '.join(profiles)}]" if profiles else ""
        out.write(f"{s.name:<{width}}  {s.title}{repro}\n")
        if s.tags:
            out.write(f"{'':<{width}}  tags: {', '.join(s.tags)}\n")
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# Output paths, checked before anything runs


def check_output_file(option: str, path: Path) -> None:
    """BadInput unless ``path`` can be written: its folder exists and is writable."""
    where = f"smtp-hil: {option} {path}"
    if path.is_dir():
        raise BadInput(f"{where}: is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise BadInput(f"{where}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                    and not os.access(path, os.W_OK)):
        raise BadInput(f"{where}: permission denied")


def make_output_folder(option: str, path: Path) -> None:
    """Create ``path`` (and its parents) now, or BadInput saying why it cannot be."""
    where = f"smtp-hil: {option} {path}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{where}: cannot create the folder: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{where}: permission denied")


def _write_junit(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise BadInput(f"smtp-hil: --junit {path}: {exc.strerror or exc}") from None


def _write_report(path: Path, results: list[RunResult], *, title: str, matrix: bool,
                  artifacts: Path | None, firmware: FirmwareRuns | None = None) -> None:
    report = build_report(results, title=title, matrix=matrix, firmware=firmware,
                          artifacts=artifacts, report=path)
    try:
        path.write_text(render_report(report), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"smtp-hil: --report {path}: {exc.strerror or exc}") from None


def _write_artifacts(result: RunResult, folder: Path, show_secrets: bool) -> Path:
    from scenarios.artifacts import write_artifacts

    try:
        return write_artifacts(result, folder, show_secrets=show_secrets)
    except OSError as exc:
        raise BadInput(f"smtp-hil: --artifacts {folder}: {exc.strerror or exc}") from None


def _line(result: RunResult) -> str:
    verdict = "PASS" if result.passed else "FAIL"
    label = result.profile if result.firmware == "model" else result.firmware
    return (f"{verdict} {result.scenario.name} [{label} seed {result.seed}] "
            f"{result.verdict.reason} (virtual {result.virtual_us / 1e6:.3f} s, "
            f"wall {result.wall_s:.3f} s)")


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C waits until the block is done, so that a run is reported and counted whole
    (SIGINT blocked, then delivered; only the main thread of a POSIX process can)."""
    if not hasattr(signal, "pthread_sigmask") or (
            threading.current_thread() is not threading.main_thread()):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _interrupted(out: TextIO, err: TextIO, done: int, total: int) -> int:
    """After Ctrl-C: say how far it got (what finished is printed already)."""
    _done_progress(err)
    out.flush()
    err.write(f"smtp-hil: interrupted: {done} of {total} runs done, {total - done} not done\n")
    return EXIT_INTERRUPTED


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.dut is not None:
        if args.report is not None:
            raise BadInput("smtp-hil: --report does not work with --dut yet")
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
                _progress(err, f"[{index}/{len(scenarios)}] {scenario.name}")
                try:
                    check_runnable(scenario, firmware)
                except NotApplicable as exc:  # neither a pass nor a run
                    status = EXIT_FAIL
                    with _uninterrupted():
                        _done_progress(err)
                        out.write((json.dumps(not_applicable_dict(exc)) if args.json
                                   else not_applicable_line(exc)) + "\n")
                        out.flush()
                        done += 1
                    continue
                if args.check_determinism:
                    checker.before(scenario, args.profile, seed, args.firmware)
                result = run(scenario, args.profile, seed, firmware)
                check = checker.after(scenario, result) if args.check_determinism else None
                if not result.passed or (check is not None and check.deterministic is False):
                    status = EXIT_FAIL
                with _uninterrupted():  # a run is printed and counted whole
                    _done_progress(err)
                    _report_run(args, out, result, check)
                    results.append(result)
                    done += 1
    except KeyboardInterrupt:
        status = _interrupted(out, err, done, len(scenarios))
    if args.junit is not None:
        _write_junit(args.junit, junit_xml(results, show_secrets=args.show_secrets))
    if args.report is not None:
        names = ", ".join(s.name for s in scenarios)
        on = args.profile if args.firmware in (None, "model") else args.firmware
        _write_report(args.report, results, title=f"smtp-hil run {names} on {on} "
                      f"(seed {seed})", matrix=False, artifacts=args.artifacts)
    return status


def _report_run(args: argparse.Namespace, out: TextIO, result: RunResult,
                check: DeterminismCheck | None) -> None:
    from scenarios.artifacts import result_dict

    if args.json:
        data = result_dict(result)
        if check is not None:
            data["deterministic"] = check.deterministic
            data["determinism"] = check.as_dict()
        out.write(json.dumps(data) + "\n")
    else:
        out.write(_line(result) + "\n")
        for line in check.lines() if check is not None else []:
            out.write(line + "\n")
        why = why_not_reproducible(result.scenario)
        if check is None and why is not None:
            out.write(f"     note: this trace hash is not reproducible: {why}\n")
    if args.artifacts is not None:
        where = _write_artifacts(result, args.artifacts, args.show_secrets)
        if not args.json:
            out.write(f"     artifacts: {where}\n")
    out.flush()  # a reader of a pipe sees each run as it finishes


NOT_RUN = "-"
LEGEND = (". passes   x fails as the catalog says (the bug reproduces)   "
          "F fails unexpectedly   P passes although the catalog says it fails")


def cmd_matrix(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    scenarios = load_catalog()
    if args.junit is not None:
        check_output_file("--junit", args.junit)
    if args.write_golden is not None:
        check_output_file("--write-golden", args.write_golden)
    firmware = resolve_cli_firmware(args.firmware)
    if args.report is not None:
        check_output_file("--report", args.report)
    if args.artifacts is not None:
        make_output_folder("--artifacts", args.artifacts)
    results: list[RunResult] = []
    rows: list[tuple[Scenario, list[str]]] = []
    surprises: list[str] = []
    total = len(scenarios) * len(PROFILE_NAMES)
    column = None
    interrupted = False
    try:
        for scenario in scenarios:
            cells: list[str] = []
            rows.append((scenario, cells))
            for profile in PROFILE_NAMES:
                _progress(err, f"[{len(results) + 1}/{total}] {scenario.name} on {profile}")
                _matrix_cell(scenario, profile, args.seed, results, cells, surprises)
        if firmware is not None:
            _progress(err, f"{firmware.label} column")
            column = firmware_column(scenarios, firmware, args.seed)
    except KeyboardInterrupt:
        interrupted = True
        rows = [(s, c) for s, c in rows if c]  # a row begun but with no run done: not shown
    _done_progress(err)
    if args.junit is not None:
        _write_junit(args.junit, junit_xml(results, suite="smtp-hil-matrix",
                                           expected_failures=True,
                                           show_secrets=args.show_secrets))
    if args.write_golden is not None:
        if interrupted:
            err.write(f"smtp-hil: --write-golden {args.write_golden}: not written, the matrix "
                      f"was interrupted\n")
        else:
            _write_golden(args.write_golden, results, args.seed, err)
    for result in results if args.artifacts is not None else []:
        _write_artifacts(result, args.artifacts, args.show_secrets)
    if args.report is not None:
        _write_matrix_report(args.report, results, scenarios, column, args, interrupted)
    if firmware is not None:
        total += len(scenarios)  # the firmware column: counted done only when complete
    done = len(results) + (len(scenarios) if column else 0)
    not_done = total - done if interrupted else None
    _print_matrix(args.json, out, scenarios, rows, results, surprises, column, not_done)
    if interrupted:
        return _interrupted(out, err, done, total)
    return EXIT_FAIL if surprises else EXIT_OK


def _matrix_cell(scenario: Scenario, profile: str, seed: int, results: list[RunResult],
                 cells: list[str], surprises: list[str]) -> None:
    """Run one cell of the matrix and record it (all at once, after the run)."""
    result = run(scenario, profile, seed)
    outcome = run_outcome(result)
    with _uninterrupted():
        results.append(result)
        cells.append(outcome.letter)
        if outcome.surprise:
            surprises.append(f"{scenario.name} on {profile} {outcome.words}: "
                             f"{result.verdict.reason}")


def _write_matrix_report(path: Path, results: list[RunResult], scenarios: list[Scenario],
                         column: FirmwareColumn | None, args: argparse.Namespace,
                         interrupted: bool) -> None:
    """The report with the grid (and the firmware's column), or, after Ctrl-C, the list of
    the runs that finished."""
    if interrupted:
        _write_report(path, results, title=f"smtp-hil matrix (seed {args.seed}), interrupted "
                      f"after {len(results)} runs", matrix=False, artifacts=args.artifacts)
        return
    firmware_runs = None if column is None else FirmwareRuns(
        column.label, column.results,
        {s.name: column.notes[s.name] for s, cell in zip(scenarios, column.cells, strict=True)
         if cell == NOT_APPLICABLE_CELL})
    _write_report(path, results, title=f"smtp-hil matrix (seed {args.seed})", matrix=True,
                  artifacts=args.artifacts, firmware=firmware_runs)


def _print_matrix(as_json: bool, out: TextIO, scenarios: list[Scenario],
                  rows: list[tuple[Scenario, list[str]]], results: list[RunResult],
                  surprises: list[str], column: FirmwareColumn | None,
                  not_done: int | None) -> None:
    """The matrix of the runs done; one interrupted (``not_done`` runs left) shows ``-``
    for the cells not run (JSON: leaves them out, with ``interrupted`` and ``not_done``)."""
    interrupted = not_done is not None
    if as_json:
        data: dict[str, object] = {
            "profiles": list(PROFILE_NAMES),
            "rows": [{"scenario": s.name, "cells": dict(zip(PROFILE_NAMES, c, strict=False))}
                     for s, c in rows],
            "surprises": surprises, "runs": len(results),
            "wall_s": round(sum(r.wall_s for r in results), 3),
            **({"firmware_column": column.as_dict(scenarios)} if column else {})}
        if interrupted:
            data.update(interrupted=True, not_done=not_done)
        out.write(json.dumps(data, indent=2) + "\n")
        return
    width = max(len(s.name) for s, _ in rows) if rows else 10
    extra = [column.label] if column else []
    out.write(f"{'scenario':<{width}}  "
              + " ".join(f"{p:>7}" for p in [*PROFILE_NAMES, *extra]) + "\n")
    for index, (scenario, cells) in enumerate(rows):
        shown = cells + [NOT_RUN] * (len(PROFILE_NAMES) - len(cells))
        shown += [column.cells[index]] if column else []
        out.write(f"{scenario.name:<{width}}  " + " ".join(f"{c:>7}" for c in shown) + "\n")
    legend = LEGEND + (f"   {NOT_RUN} not run (interrupted)" if interrupted else "")
    out.write(f"\n{legend}\n")
    if column:
        out.write(FIRMWARE_LEGEND.format(label=column.label) + f"\n{column.counts}\n")
    wall = sum(r.wall_s for r in results)
    out.write(f"{len(results)} runs, {wall:.2f} s of simulation wall time\n")
    for line in surprises:
        out.write(f"UNEXPECTED: {line}\n")
    if not surprises and not interrupted:
        out.write("matrix matches the catalog: current passes everything and each release "
                  "fails exactly the scenarios of its bugs\n")


def _write_golden(path: Path, results: list[RunResult], seed: int, err: TextIO) -> None:
    try:
        golden = write_golden(path, results, seed=seed)
    except OSError as exc:
        raise BadInput(f"smtp-hil: --write-golden {path}: {exc.strerror or exc}") from None
    err.write(f"golden hashes of {len(golden.hashes)} runs written to {path} "
              f"({golden.openssl}, Python {golden.python}, seed {seed}"
              + (f"; not reproducible: {', '.join(sorted(golden.not_reproducible))}"
                 if golden.not_reproducible else "") + ")\n")


_PATH_ERRORS: Final = (FileNotFoundError, IsADirectoryError, NotADirectoryError,
                       PermissionError)
"""OSErrors that, reaching :func:`main`, can only come from a path the user gave."""


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "list":
        return cmd_list(args, out)
    if args.command == "run":
        return cmd_run(args, out, err)
    if args.command == "matrix":
        return cmd_matrix(args, out, err)
    if args.command == "board":
        return cmd_board(args, out, err)
    if args.command == "send":
        return cmd_send(args, out, err)
    if args.command == "serve":
        return cmd_serve(args, out, err)
    if args.command == "import":
        return cmd_import(args, out, err)
    raise AssertionError(f"unknown command {args.command!r}")  # argparse refused it


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
    try:
        status = _dispatch(build_parser().parse_args(argv), out, err)
        out.flush()  # here, so a reader that went away is noticed below
        return status
    except BrokenPipeError:
        if not _output_gone(out):
            raise  # a pipe other than standard output: not the reader leaving
        return EXIT_FAIL
    except KeyboardInterrupt:  # run and matrix report what finished themselves
        err.write("smtp-hil: interrupted\n")
        return EXIT_INTERRUPTED
    except BadInput as exc:
        err.write(f"{exc}\n")
    except UserInputError as exc:
        for problem in exc.problems:
            err.write(f"smtp-hil: {problem}\n")
    except FirmwareUnavailable as exc:
        err.write(f"smtp-hil: {exc}\n")
    except _PATH_ERRORS as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        err.write(f"smtp-hil: {where}{exc.strerror or exc}\n")
    return EXIT_BAD_INPUT


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
