"""scenarios/explore/explorer.py: the progress a search reports as it goes counts what
its report holds at the end (kept as results come, not recounted from every run)."""

from __future__ import annotations

from pathlib import Path

from scenarios.explore import explore
from scenarios.explore.explorer import Progress


def test_the_last_progress_counts_what_the_report_holds(tmp_path: Path) -> None:
    seen: list[Progress] = []
    report = explore(["date-header"], ["2.2", "current"], budget=8, seed=0, jobs=1,
                     invariants=["mail.date_is_rtc", "terminal.exactly_one"],
                     out=tmp_path, progress=seen.append)
    last = seen[-1]
    distinct = {s for f in report.failing for s in f.signatures}
    assert report.failing and last.failing == len(report.failing)
    assert last.distinct == len(distinct) >= 1
    assert last.runs == report.runs == 16 and last.schedules == 8
    # runs with a note: at most the notes counted by kind, and none only when none is
    assert last.notes <= sum(report.notes.values())
    assert (last.notes == 0) == (not report.notes)
