"""``smtp-hil explore --report FILE.html``: what an exploration found, in the report's page
(scenarios/explore/htmlreport.py). The campaign: ``chunking`` on 2.0 with only the
server varied, which finds the silent pipelined MAIL failure (a hang) at schedule 16.
The page is checked as written (its summary, grid and runs) and in headless Chromium."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from scenarios.cli.main import main
from smtp.profiles import PROFILE_NAMES

Chromium = Any  # the fixture's class (conftest.py)

CAMPAIGN = ("explore", "chunking", "--profile", "2.0", "--budget", "30", "--seed", "0",
            "--jobs", "1", "--vary", "server", "--invariant", "terminal.exactly_one")


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("explore-report")
    report = folder / "explore.html"
    out, err = io.StringIO(), io.StringIO()
    code = main([*CAMPAIGN, "--out", str(folder / "found"), "--report", str(report),
                 "--json"], out=out, err=err)
    assert code == 1, err.getvalue()
    return report, json.loads(out.getvalue())


def _run_data(html: str, run_id: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="run-data-{re.escape(run_id)}">'
                      r"(.*?)</script>", html, re.S)
    assert found, f"no run {run_id} in the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_page_shows_each_failure_its_schedule_as_found_and_its_shrunk_runs(
        explored: tuple[Path, dict[str, Any]]) -> None:
    report, found = explored
    html = report.read_text(encoding="utf-8")
    [failure] = found["failures"]
    name = Path(failure["file"]).stem
    # the summary: the CLI's line, with links to the schedule as found and the shrunk run
    assert '<section id="summary"' in html and "1 distinct failure found" in html
    as_found = f"chunking-schedule-{failure['index']}--2.0--seed{failure['kernel_seed']}"
    shrunk = f"{name}--2.0--seed{failure['shrunk_seed']}"
    assert f'href="#run-{as_found}">schedule {failure["index"]} as found</a>' in html
    assert f'href="#run-{shrunk}">shrunk, on 2.0</a>' in html
    # the schedule as found: every change, judged by the invariant it broke
    run = _run_data(html, as_found)
    assert run["outcome"] == "reproduces" and "not shrunk" in run["title"]
    assert any(r.startswith("invariant terminal.exactly_one: no terminal event")
               for r in "; ".join(run["reasons"]).split("; "))
    assert run["terminal"] is None and run["rows"]
    # the grid: the written file on every release, failing where its bisect said
    grid = re.search(r'<tr data-scenario="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    assert grid and grid.group(1) == name
    letters = re.findall(r'class="cell o-([a-z-]+)"', grid.group(2))
    assert letters == ["reproduces" if p in failure["fails_on"] else "pass"
                       for p in PROFILE_NAMES]
    assert failure["fails_on"] == ["2.0"]
    for profile in PROFILE_NAMES:
        data = _run_data(html, f"{name}--{profile}--seed{failure['shrunk_seed']}")
        assert data["outcome"] == (
            "reproduces" if profile == "2.0" else "pass")


def test_nothing_found_still_writes_a_page(tmp_path: Path) -> None:
    report = tmp_path / "nothing.html"
    code = main(["explore", "chunking", "--profile", "current", "--budget", "5",
                 "--jobs", "1", "--vary", "server", "--out", str(tmp_path / "found"),
                 "--report", str(report)], out=io.StringIO(), err=io.StringIO())
    assert code == 0
    html = report.read_text(encoding="utf-8")
    assert "<h2>nothing failed" in html and 'id="matrix"' not in html


def test_a_report_path_that_cannot_be_written_is_bad_input(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["explore", "chunking", "--budget", "1", "--report",
                 str(tmp_path / "no" / "such" / "r.html")], out=io.StringIO(), err=err)
    assert code == 2 and "--report" in err.getvalue() and "no such directory" in err.getvalue()
    assert not (tmp_path / "no").exists()


def test_the_page_in_chromium(chromium: Chromium, explored: tuple[Path, dict[str, Any]],
                              tmp_path: Path) -> None:
    report, found = explored
    [failure] = found["failures"]
    page = chromium.new_page()
    page.open(report.as_uri())
    page.wait_for("document.documentElement.getAttribute('data-report-state') !== 'loading'")
    assert page.evaluate("document.documentElement.getAttribute('data-report-state')") == \
        "ready"
    assert page.errors() == []
    links = page.evaluate("[...document.querySelectorAll('#summary a')].map(a => a.textContent)")
    assert links == [f"schedule {failure['index']} as found", "shrunk, on 2.0"]
    page.screenshot(tmp_path / "explore-summary.png", selector="main")
    # a click on the schedule as found draws it: the dialogue up to the hang
    page.evaluate("document.querySelector('#summary a').click()")
    page.wait_for("document.documentElement.getAttribute('data-run-shown') !== null")
    shown = page.evaluate("document.documentElement.getAttribute('data-run-shown')")
    assert shown.startswith(f"chunking-schedule-{failure['index']}--2.0")
    assert int(page.evaluate("document.querySelectorAll('svg.sequence g.arrow').length")) >= 4
    assert "terminal.exactly_one" in page.evaluate(
        "document.getElementById('run-outcome').textContent")
    assert page.errors() == []
    shot = page.screenshot(tmp_path / "explore-run.png", selector="#run")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
