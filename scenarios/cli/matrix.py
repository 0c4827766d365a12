"""``smtp-hil matrix``: every catalog scenario against every release, checked against the
catalog: ``current`` passes everything and each release fails exactly the scenarios of
its bugs (``reproduces``). ``-k`` and ``--tag`` choose the rows (:mod:`scenarios.selection`),
and the check applies to the rows chosen. With ``--firmware`` a column for a C firmware
is added (:mod:`scenarios.cli.firmware`); ``--write-golden`` writes every run's trace
hash (of the whole catalog only).

``--jobs N`` runs N at once on worker processes (:mod:`scenarios.cli.jobs`; default:
every core); everything printed and written is the same for any N.

Exit status 0 when the matrix matches the catalog, 1 when it does not, 130 on Ctrl-C
after printing the rows that finished (``-`` for the cells not run; the JSON says
``"interrupted": true`` and ``not_done``).

This module parses the subcommand's arguments and prints; the runs are
:func:`scenarios.runner.run`'s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final, TextIO

from emulator.userinput import UserInputError
from scenarios.catalog import load_catalog
from scenarios.cli import args as cliargs
from scenarios.cli.firmware import (
    FIRMWARE_LEGEND,
    NOT_APPLICABLE_CELL,
    FirmwareColumn,
    add_firmware_argument,
    firmware_column,
    resolve_cli_firmware,
)
from scenarios.cli.jobs import (
    Cell,
    CellOptions,
    default_jobs,
    quiet_collector,
    run_cells,
    uses_tls,
)
from scenarios.cli.outputs import (
    check_output_file,
    make_output_folder,
    write_golden_file,
    write_junit,
    write_report,
)
from scenarios.cli.progress import (
    Palette,
    Progress,
    Tone,
    add_color_argument,
    say_interrupted,
    uninterrupted,
)
from scenarios.format import Scenario
from scenarios.junit import junit_xml
from scenarios.report.from_runs import FirmwareRuns, run_outcome
from scenarios.runner import RunResult
from scenarios.selection import describe, select
from smtp.profiles import PROFILE_NAMES
from stack.tls.certs import default_test_pki

EXIT_OK, EXIT_FAIL = 0, 1
MATRIX_DESCRIPTION: Final = (
    "Run every catalog scenario (or those -k and --tag choose) on every release and check "
    "the catalog: current passes everything and each release fails exactly the scenarios "
    "of its bugs. Prints a table: . passes, x fails as the catalog says, F and P are "
    "surprises. Exit status 0 only when the matrix matches the catalog.")


def add_matrix_parser(subparsers: Any) -> None:
    """Add ``matrix`` to the ``smtp-hil`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "matrix", help="every catalog scenario against every profile",
        description=MATRIX_DESCRIPTION)
    cliargs.add_selection_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument("--seed", type=cliargs.seed, default=0,
                        help="kernel seed, an integer >= 0 (default 0)")
    parser.add_argument("--write-golden", type=Path, metavar="FILE",
                        help="write every run's trace hash to FILE (the golden hashes)")
    add_firmware_argument(parser, "add a column for this C firmware (lwip or a library)")
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="write an HTML report: the grid and every run")
    parser.add_argument("--artifacts", type=Path, metavar="DIR",
                        help="write transcript, trace, pcap and result JSON per run")
    parser.add_argument("--jobs", type=cliargs.jobs, default=default_jobs(), metavar="N",
                        help="runs at once, on N worker processes (default: every core, "
                             f"{default_jobs()} here); the results are the same for any N")
    cliargs.add_show_secrets_argument(parser)
    add_color_argument(parser)
    parser.set_defaults(handler=cmd_matrix)


NOT_RUN = "-"
LEGEND: Final = ((".", "passes"), ("x", "fails as the catalog says (the bug reproduces)"),
                 ("F", "fails unexpectedly"), ("P", "passes although the catalog says it fails"))
"""The cells of the matrix and what they mean, printed under it (the symbols coloured as
in the table)."""
CELL_TONES: Final[dict[str, Tone]] = {".": "pass", "x": "expected", "F": "surprise",
                                      "P": "surprise", "f": "fail", NOT_RUN: "muted"}


def cmd_matrix(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    scenarios = select(load_catalog(), args.keyword, args.tags)
    selection = describe(args.keyword, args.tags) or None
    if args.junit is not None:
        check_output_file("--junit", args.junit)
    if args.write_golden is not None:
        if selection is not None:
            raise UserInputError(f"--write-golden needs the whole catalog: it rewrites every "
                                 f"scenario's hashes ({selection} chooses some)")
        check_output_file("--write-golden", args.write_golden)
    firmware = resolve_cli_firmware(args.firmware)
    if args.report is not None:
        check_output_file("--report", args.report)
    if args.artifacts is not None:
        make_output_folder("--artifacts", args.artifacts)
    cells = [Cell(len(PROFILE_NAMES) * row + col, scenario, profile)
             for row, scenario in enumerate(scenarios)
             for col, profile in enumerate(PROFILE_NAMES)]
    options = CellOptions(seed=args.seed, keep_trace=args.report is not None
                          or args.junit is not None, artifacts=args.artifacts,
                          show_secrets=args.show_secrets)
    finished: dict[int, RunResult] = {}
    total = len(cells)
    column = None
    interrupted = False

    def done(cell: Cell, result: RunResult) -> None:
        with uninterrupted():
            finished[cell.index] = result
            progress.advance()

    workers = min(args.jobs, len(cells))
    with Progress(err, total=total, command="smtp-hil matrix") as progress:
        try:
            with quiet_collector():
                if cells and any(uses_tls(s) for s in scenarios):
                    default_test_pki()  # made once here, so forked workers share it
                progress.start(f"on {workers} workers" if workers > 1 else "one at a time")
                run_cells(cells, options, args.jobs, done)
                if firmware is not None:
                    progress.total = None
                    progress.start(f"{firmware.label} column")
                    column = firmware_column(scenarios, firmware, args.seed)
        except KeyboardInterrupt:
            interrupted = True
    results = [finished[i] for i in sorted(finished)]
    rows, surprises = _rows(scenarios, finished)
    if interrupted:
        rows = [(s, c) for s, c in rows if any(cell != NOT_RUN for cell in c)]
    if args.junit is not None:
        write_junit(args.junit, junit_xml(
            results + (column.results if column else []), suite="smtp-hil-matrix",
            expected_failures=True, show_secrets=args.show_secrets,
            not_applicable=column.not_applicable if column else ()))
    if args.write_golden is not None:
        if interrupted:
            err.write(f"smtp-hil: --write-golden {args.write_golden}: not written, the matrix "
                      f"was interrupted\n")
        else:
            write_golden_file(args.write_golden, results, args.seed, err)
    if args.report is not None:
        _write_matrix_report(args.report, results, scenarios, column, args, interrupted)
    if firmware is not None:
        total += len(scenarios)  # the firmware column: counted done only when complete
    done_count = len(results) + (len(scenarios) if column else 0)
    not_done = total - done_count if interrupted else None
    palette = Palette.for_stream(out, args.color)
    _print_matrix(args.json, out, scenarios, rows, results, surprises, column, not_done,
                  palette, selection)
    if interrupted:
        return say_interrupted(out, err, done_count, total)
    return EXIT_FAIL if surprises else EXIT_OK


def _rows(scenarios: list[Scenario], finished: dict[int, RunResult]
          ) -> tuple[list[tuple[Scenario, list[str]]], list[str]]:
    """Every scenario's cells in release order (``-`` where no run finished) and the
    surprises, in catalog order whatever order the runs finished in."""
    rows: list[tuple[Scenario, list[str]]] = []
    surprises: list[str] = []
    for row, scenario in enumerate(scenarios):
        cells: list[str] = []
        for col, profile in enumerate(PROFILE_NAMES):
            result = finished.get(row * len(PROFILE_NAMES) + col)
            if result is None:
                cells.append(NOT_RUN)
                continue
            outcome = run_outcome(result)
            cells.append(outcome.letter)
            if outcome.surprise:
                surprises.append(f"{scenario.name} on {profile} {outcome.words}: "
                                 f"{result.verdict.reason}")
        rows.append((scenario, cells))
    return rows, surprises


def _write_matrix_report(path: Path, results: list[RunResult], scenarios: list[Scenario],
                         column: FirmwareColumn | None, args: argparse.Namespace,
                         interrupted: bool) -> None:
    """The report with the grid (and the firmware's column), or, after Ctrl-C, the list of
    the runs that finished."""
    if interrupted:
        write_report(path, results, title=f"smtp-hil matrix (seed {args.seed}), interrupted "
                      f"after {len(results)} runs", matrix=False, artifacts=args.artifacts)
        return
    firmware_runs = None if column is None else FirmwareRuns(
        column.label, column.results,
        {s.name: column.notes[s.name] for s, cell in zip(scenarios, column.cells, strict=True)
         if cell == NOT_APPLICABLE_CELL})
    write_report(path, results, title=f"smtp-hil matrix (seed {args.seed})", matrix=True,
                  artifacts=args.artifacts, firmware=firmware_runs)


def _print_matrix(as_json: bool, out: TextIO, scenarios: list[Scenario],
                  rows: list[tuple[Scenario, list[str]]], results: list[RunResult],
                  surprises: list[str], column: FirmwareColumn | None,
                  not_done: int | None, palette: Palette, selection: str | None) -> None:
    """The matrix of the runs done; one interrupted (``not_done`` runs left) shows ``-``
    for the cells not run (JSON: leaves them out, with ``interrupted`` and ``not_done``).
    ``selection`` is the ``-k``/``--tag`` that chose the rows (None: the whole catalog)."""
    interrupted = not_done is not None
    if as_json:
        data: dict[str, object] = {
            "profiles": list(PROFILE_NAMES),
            "rows": [{"scenario": s.name,
                      "cells": {p: cell for p, cell in zip(PROFILE_NAMES, c, strict=True)
                                if cell != NOT_RUN}}
                     for s, c in rows],
            "surprises": surprises, "runs": len(results),
            "wall_s": round(sum(r.wall_s for r in results), 3),
            **({"firmware_column": column.as_dict(scenarios)} if column else {}),
            **({"selection": selection} if selection is not None else {})}
        if interrupted:
            data.update(interrupted=True, not_done=not_done)
        out.write(json.dumps(data, indent=2) + "\n")
        return
    width = max(len(s.name) for s, _ in rows) if rows else 10
    extra = [column.label] if column else []
    out.write(f"{'scenario':<{width}}  "
              + " ".join(f"{p:>7}" for p in [*PROFILE_NAMES, *extra]) + "\n")
    for index, (scenario, cells) in enumerate(rows):
        shown = cells + ([column.cells[index]] if column else [])
        out.write(f"{scenario.name:<{width}}  " + " ".join(
            palette.paint(f"{c:>7}", CELL_TONES.get(c, "muted")) for c in shown) + "\n")
    entries = [*LEGEND, *([(NOT_RUN, "not run (interrupted)")] if interrupted else [])]
    legend = "   ".join(f"{palette.paint(cell, CELL_TONES[cell])} {meaning}"
                       for cell, meaning in entries)
    out.write(f"\n{legend}\n")
    if column:
        out.write(FIRMWARE_LEGEND.format(label=column.label) + f"\n{column.counts}\n")
    wall = sum(r.wall_s for r in results)
    out.write(f"{len(results)} runs, {wall:.2f} s of simulation wall time\n")
    for line in surprises:
        out.write(f"{palette.paint('UNEXPECTED:', 'surprise')} {line}\n")
    if not surprises and not interrupted:
        plural = "s" if len(scenarios) != 1 else ""
        chosen = (f" for the {len(scenarios)} scenario{plural} {selection} chooses"
                  if selection is not None else "")
        out.write(palette.paint(f"matrix matches the catalog{chosen}: current passes "
                                f"everything and each release fails exactly the scenarios "
                                f"of its bugs", "pass") + "\n")
