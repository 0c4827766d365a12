"""The matrix's C-firmware column in the report (``matrix --firmware lwip --report``):
lwIP's own passes and failures, and the scenarios it cannot run, each its own colour.

Needs lwIP built (``make lwip``, run by ``make test``); the module skips with one line
saying why when it is not."""

from __future__ import annotations

import pytest

from emulator.cfirmware.library import FirmwareUnavailable
from scenarios.applicability import NotApplicable
from scenarios.firmware_choice import resolve_firmware
from scenarios.report.from_runs import FirmwareRuns, build_report
from scenarios.report.html import render_report
from scenarios.report.model import Outcome
from scenarios.runner import RunResult, check_runnable, resolve_scenario, run
from smtp.profiles import PROFILE_NAMES

try:
    LWIP = resolve_firmware("lwip")
except FirmwareUnavailable as exc:
    pytest.skip(f"lwIP column tests: {exc}", allow_module_level=True)

NAMES = ("auth-login", "blank-line-truncation", "starttls")


def test_lwip_passes_fails_and_does_not_apply_in_its_own_column() -> None:
    model: list[RunResult] = [run(resolve_scenario(name), profile)
                              for name in NAMES for profile in PROFILE_NAMES]
    runs, not_applicable = [], {}
    for name in NAMES:
        scenario = resolve_scenario(name)
        try:
            check_runnable(scenario, LWIP)
        except NotApplicable as exc:
            not_applicable[name] = f"not applicable: {exc.reason}"
            continue
        runs.append(run(scenario, "current", 0, firmware=LWIP))
    assert list(not_applicable) == ["starttls"]  # lwIP's SMTP client has no STARTTLS
    report = build_report(model, title="t", matrix=True,
                          firmware=FirmwareRuns("lwip", runs, not_applicable))
    assert report.matrix is not None
    grid = {row.scenario: row.cells for row in report.matrix.rows}
    assert report.matrix.columns[-1] == "lwip"
    assert [grid[name][-1].outcome for name in NAMES] == [
        Outcome.PASS, Outcome.FAILS, Outcome.NOT_APPLICABLE]
    assert grid["blank-line-truncation"][-1].run_id == "blank-line-truncation--lwip--seed0"
    assert grid["starttls"][-1].run_id is None
    assert "STARTTLS" in grid["starttls"][-1].text or "TLS" in grid["starttls"][-1].text
    lwip_view = next(v for v in report.runs if v.run_id == "blank-line-truncation--lwip--seed0")
    assert lwip_view.column == "lwip" and lwip_view.devices and lwip_view.tcp is not None
    html = render_report(report)
    assert 'href="#run-blank-line-truncation--lwip--seed0"' in html
    assert '<span class="cell o-not-applicable"' in html
