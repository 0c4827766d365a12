"""A bounded exploration inside a test: what the pytest fixture ``hil_explore`` and the
Robot keyword ``Explore Scenario`` share.

:class:`Exploration` runs :func:`scenarios.explore.explore` in this process (one job:
a test suite runs its own processes) with the shrunk files under a folder of the test's,
and :func:`failure_message` words what it found for a failing test: the summary lines,
then the first lines of each shrunk scenario file, so the failure says what to run.

This module knows the explorer's report; nothing of pytest or Robot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from scenarios.explore.explorer import explore
from scenarios.explore.report import ExploreReport

SHOWN_FILE_LINES = 12
"""How many lines of each shrunk file a failure message shows."""


class ExplorationFailed(AssertionError):
    """An exploration found failures; the message names each shrunk file."""

    def __init__(self, report: ExploreReport) -> None:
        super().__init__(failure_message(report))
        self.report = report


def failure_message(report: ExploreReport) -> str:
    """The summary, then the top of each shrunk file (its comments say what broke)."""
    found = len({(f.start, f.shrunk, f.signature.invariant, f.signature.reason)
                 for f in report.failures}) or len(report.failing)
    lines = [f"explore found {found} failure{'s' if found != 1 else ''}:", *report.summary()]
    for path in dict.fromkeys(f.file for f in report.failures if f.file):
        head = Path(path).read_text(encoding="utf-8").splitlines()[:SHOWN_FILE_LINES]
        lines += [f"--- {path}", *head]
    return "\n".join(lines)


class Exploration:
    """``Exploration(folder, profile)("pipelining", budget=200)``: a bounded exploration
    whose files go under ``folder``; ``profile`` when the call names none. Each call
    writes to a fresh ``folder/runN`` (the first N not taken, so a suite run again in
    the same output folder gets the files' own names, not ``-2`` copies)."""

    def __init__(self, folder: Path, profile: str = "current") -> None:
        self.folder = folder
        self.profile = profile
        self.reports: list[ExploreReport] = []

    def __call__(self, *scenarios: str, profiles: str | Sequence[str] | None = None,
                 budget: int = 200, seed: int = 0, vary: Iterable[str] | None = None,
                 invariants: Iterable[str] | None = None,
                 stop_at_first: bool = False) -> ExploreReport:
        number = len(self.reports) + 1
        while (self.folder / f"run{number}").exists():  # an earlier run of the suite's
            number += 1
        out = self.folder / f"run{number}"
        report = explore(list(scenarios), self.profile if profiles is None else profiles,
                         budget=budget, seed=seed, vary=vary, invariants=invariants, jobs=1,
                         out=out, stop_at_first=stop_at_first)
        self.reports.append(report)
        return report


def assert_nothing_found(report: ExploreReport) -> None:
    """Fail (:class:`ExplorationFailed`) when ``report`` has failures."""
    __tracebackhide__ = True
    if not report.passed:
        raise ExplorationFailed(report)
