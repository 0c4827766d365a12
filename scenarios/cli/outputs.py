"""The files ``run`` and ``matrix`` write besides their report on standard output: JUnit
XML, the HTML report, the artifacts of each run, the golden hashes.

Each path is checked before anything runs (:func:`check_output_file`,
:func:`make_output_folder`), so a typo costs nothing; a path that still cannot be
written is bad input naming the option. This module knows files and the views that fill
them; it runs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from emulator.userinput import UserInputError
from scenarios.artifacts import write_artifacts
from scenarios.golden import write_golden
from scenarios.runner import RunResult

if TYPE_CHECKING:
    from scenarios.report.from_runs import FirmwareRuns
    from scenarios.report.model import Report, RunView


def check_output_file(option: str, path: Path) -> None:
    """UserInputError unless ``path`` can be written: its folder exists and is writable."""
    where = f"{option} {path}"
    if path.is_dir():
        raise UserInputError(f"{where}: is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise UserInputError(f"{where}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                    and not os.access(path, os.W_OK)):
        raise UserInputError(f"{where}: permission denied")


def make_output_folder(option: str, path: Path) -> None:
    """Create ``path`` (and its parents) now, or UserInputError saying why it cannot be."""
    where = f"{option} {path}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{where}: cannot create the folder: {exc.strerror or exc}"
                             ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserInputError(f"{where}: permission denied")


def write_junit(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserInputError(f"--junit {path}: {exc.strerror or exc}") from None


def write_report(path: Path, results: Sequence[RunResult], *, title: str,
                 matrix: bool = False, artifacts: Path | None = None,
                 firmware: FirmwareRuns | None = None, views: Sequence[RunView] = ()) -> None:
    """``--report FILE.html`` of any subcommand: the simulated ``results`` (with links to
    their ``artifacts``), the grid when ``matrix``, and ready-made ``views`` (a real
    client's connections: :mod:`scenarios.report.from_server`); an unwritable path is
    bad input naming ``--report``."""
    # start-up: the report's views and HTML load only for --report (measured: 13 ms of
    # every `smtp-hil run` and `matrix`)
    from scenarios.report.from_runs import build_report  # start-up: see above

    write_html(path, build_report(results, title=title, matrix=matrix, firmware=firmware,
                                  artifacts=artifacts, report=path, views=views))


def write_html(path: Path, report: Report) -> None:
    """``report`` as the HTML file ``--report`` names."""
    from scenarios.report.html import write_report as write_page  # start-up: see write_report

    try:
        with path.open("w", encoding="utf-8") as out:  # written as made: never whole
            write_page(report, out)
    except OSError as exc:
        raise UserInputError(f"--report {path}: {exc.strerror or exc}") from None


def write_run_artifacts(result: RunResult, folder: Path, show_secrets: bool) -> Path:
    try:
        return write_artifacts(result, folder, show_secrets=show_secrets)
    except OSError as exc:
        raise UserInputError(f"--artifacts {folder}: {exc.strerror or exc}") from None


def write_golden_file(path: Path, results: list[RunResult], seed: int, err: TextIO) -> None:
    """The golden hashes of ``results``, and one line on ``err`` saying what was written."""
    try:
        golden = write_golden(path, results, seed=seed)
    except OSError as exc:
        raise UserInputError(f"--write-golden {path}: {exc.strerror or exc}") from None
    err.write(f"golden hashes of {len(golden.hashes)} runs written to {path} "
              f"({golden.openssl}, Python {golden.python}, seed {seed}"
              + (f"; not reproducible: {', '.join(sorted(golden.not_reproducible))}"
                 if golden.not_reproducible else "") + ")\n")
