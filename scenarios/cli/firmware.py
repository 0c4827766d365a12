"""``--firmware`` on ``smtp-hil run`` and ``smtp-hil matrix``: which firmware the board
runs, the "not applicable" outcome, and the matrix's firmware column.

``run SCENARIO --firmware lwip`` runs the scenario on lwIP 2.1.3 (``--firmware model``,
the default, on the Python model; ``--firmware PATH.so`` on a team's own C firmware). A
scenario that needs what the firmware's client cannot do is reported ``N/A`` with the
reason, and is not a pass (the exit status is then 1, like a failure).

``matrix --firmware lwip`` adds one column after the model's releases: ``.`` passes,
``f`` fails (the firmware's own result, not a surprise), ``-`` not applicable. The
matrix's exit status still says only whether the model's releases match the catalog.

This module parses and formats; the runs are :func:`scenarios.runner.run`'s.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Final

from scenarios.applicability import NotApplicable
from scenarios.cli.progress import Palette
from scenarios.firmware_choice import SETTING_WORDS, FirmwareChoice, check_firmware_setting
from scenarios.firmware_choice import resolve_firmware as _resolve
from scenarios.format import Scenario
from scenarios.runner import RunResult, run

PASS_CELL: Final = "."
FAIL_CELL: Final = "f"
NOT_APPLICABLE_CELL: Final = "-"


def firmware_argument(value: str) -> str:
    """argparse type of ``--firmware``."""
    try:
        return check_firmware_setting(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {SETTING_WORDS}, got {value!r}") from None


def add_firmware_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--firmware", type=firmware_argument, default=None,
                        metavar="model|lwip|PATH.so", help=help_text)


def resolve_cli_firmware(setting: str | None) -> FirmwareChoice | None:
    """The firmware ``--firmware`` names (None: each scenario's own); raises
    :class:`~emulator.cfirmware.library.FirmwareUnavailable` (bad input) when it is not
    built."""
    return None if setting is None else _resolve(setting)


def not_applicable_line(exc: NotApplicable, palette: Palette | None = None) -> str:
    word = "N/A" if palette is None else palette.paint("N/A", "note")
    return f"{word}  {exc.scenario} [{exc.firmware}] not applicable: {exc.reason}"


def not_applicable_dict(exc: NotApplicable) -> dict[str, object]:
    return {"scenario": exc.scenario, "firmware": exc.firmware, "verdict": "not applicable",
            "reasons": list(exc.reasons)}


@dataclass
class FirmwareColumn:
    """The matrix's column for one C firmware."""

    label: str
    cells: list[str] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    """Scenario name -> the verdict's reason or why it does not apply."""
    not_applicable: list[NotApplicable] = field(default_factory=list)
    """The scenarios it cannot run, with why (the JUnit file's skipped testcases)."""

    def as_dict(self, scenarios: list[Scenario]) -> dict[str, object]:
        return {"firmware": self.label,
                "cells": {s.name: c for s, c in zip(scenarios, self.cells, strict=True)},
                "reasons": self.notes}

    @property
    def counts(self) -> str:
        passed = self.cells.count(PASS_CELL)
        failed = self.cells.count(FAIL_CELL)
        skipped = self.cells.count(NOT_APPLICABLE_CELL)
        return f"{self.label}: {passed} pass, {failed} fail, {skipped} not applicable"


def firmware_column(scenarios: list[Scenario], choice: FirmwareChoice,
                    seed: int) -> FirmwareColumn:
    """Every scenario once on ``choice`` (as ``current`` is expected to behave)."""
    column = FirmwareColumn(choice.label)
    for scenario in scenarios:
        try:
            result = run(scenario, "current", seed, firmware=choice)
        except NotApplicable as exc:
            column.cells.append(NOT_APPLICABLE_CELL)
            column.not_applicable.append(exc)
            column.notes[scenario.name] = f"not applicable: {exc.reason}"
            continue
        column.results.append(result)
        column.cells.append(PASS_CELL if result.passed else FAIL_CELL)
        column.notes[scenario.name] = result.verdict.reason
    return column


FIRMWARE_LEGEND: Final = ("{label} column: . passes   f fails (the firmware's own result, "
                          "never a surprise)   - not applicable")
