"""The ``run.deterministic`` invariant fires (scenarios/explore/examine.py): each written
file is run again in a fresh process, and a trace hash that differs from this process's
copy marks the finding NOT DETERMINISTIC. The non-determinism is made real for the test:
this process's copy of the run gets another kernel seed than the file says, as a run
that read the wall clock or the OS RNG would differ from its replay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenarios.explore import examine as examine_module
from scenarios.explore import explore, load_start
from scenarios.explore.htmlreport import explore_report
from scenarios.runner import run

CASE = {"profiles": ["2.4"], "budget": 10, "vary": ["job"], "jobs": 1,
        "invariants": ["mail.sent_means_one_exact_copy"], "stop_at_first": True}


def test_a_reproducible_finding_is_deterministic(tmp_path: Path) -> None:
    [failure] = explore(["pipelining"], out=tmp_path, **CASE).failures  # type: ignore[arg-type]
    assert failure.deterministic is True
    assert "NOT DETERMINISTIC" not in failure.line()
    # the file is as readable as any file the user writes (not mkstemp's 0600)
    umask = os.umask(0o022)
    os.umask(umask)
    assert failure.file is not None
    assert Path(failure.file).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_run_that_differs_in_a_fresh_process_breaks_deterministic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(examine_module, "run",
                        lambda scenario, profile, seed: run(scenario, profile, seed + 1))
    [failure] = explore(["pipelining"], out=tmp_path, **CASE).failures  # type: ignore[arg-type]
    assert failure.deterministic is False
    assert failure.line().endswith(" NOT DETERMINISTIC")
    assert failure.to_json()["deterministic"] is False


def test_a_client_that_raises_breaks_no_crash_and_the_search_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client mutant with a year-2038 bug: building the Date header raises past 2037.
    The exception is a finding (device.no_crash, shrunk to the RTC change), not the end
    of the campaign."""
    from smtp import transaction

    real = transaction.format_date_header

    def y2038(t: transaction.RtcFields, **kwargs: int) -> str:
        if t.year > 2037:
            raise OverflowError("time_t overflow")
        return real(t, **kwargs)

    monkeypatch.setattr(transaction, "format_date_header", y2038)
    report = explore(["date-header"], profiles=["current"], budget=60, vary=["device"],
                     jobs=1, invariants=["device.no_crash"], out=tmp_path)
    assert report.schedules_run == 60
    [failure] = report.failures
    assert (failure.signature.invariant, failure.signature.reason) == (
        "device.no_crash", "exception")
    assert "OverflowError: time_t overflow" in failure.shrunk_text
    assert [m.kind for m in failure.shrunk] == ["rtc"]
    # its HTML report says so instead of raising in turn
    page = explore_report(report, {"date-header": load_start("date-header")})
    assert page.summary[0].text.endswith("(the run raises: nothing to draw)")
    assert page.matrix is None and not page.runs
