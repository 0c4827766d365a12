"""The HTML report in headless Chromium: the matrix and a failing run, as a person sees
them. Each test loads a report written by the command line, checks that the page's
script ran without an error, looks for every part the report promises, and takes
screenshots (under pytest's temporary folder)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from scenarios.cli.main import main
from scenarios.report.html import render_report
from scenarios.report.model import Report, RunView
from smtp.profiles import PROFILE_NAMES

Chromium = Any  # the fixture's class (conftest.py); tests cannot import a conftest
Page = Any

SHOWN = "document.documentElement.getAttribute('data-run-shown')"


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue()


def _load(page: Page, path: Path, fragment: str = "") -> None:
    page.open(path.as_uri() + fragment)
    page.wait_for("document.documentElement.getAttribute('data-report-state') !== 'loading'")
    state = page.evaluate("document.documentElement.getAttribute('data-report-state')")
    errors = page.evaluate("document.documentElement.getAttribute('data-report-errors')")
    assert (state, errors, page.errors()) == ("ready", None, [])


def _show(page: Page, run_id: str) -> None:
    """Open a run as a person does: a click on its cell of the grid."""
    page.evaluate(f"document.querySelector('a.cell[href=\"#run-{run_id}\"]').click()")
    page.wait_for(f"{SHOWN} === {json.dumps(run_id)}")
    assert page.errors() == []


def _count(page: Page, selector: str) -> int:
    return int(page.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))


def _texts(page: Page, selector: str) -> list[str]:
    found: list[str] = page.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")
    return found


def _search(page: Page, query: str) -> dict[str, Any]:
    page.evaluate("(() => { const box = document.getElementById('transcript-search');"
                  f" box.value = {json.dumps(query)};"
                  " box.dispatchEvent(new Event('input')); })()")
    result: dict[str, Any] = page.evaluate(
        "({count: document.getElementById('transcript-count').textContent,"
        " shown: [...document.querySelectorAll('.tline:not(.miss)')].map(e => e.textContent),"
        " marks: document.querySelectorAll('.tline mark').length})")
    return result


@pytest.fixture(scope="module")
def matrix_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("matrix-report")
    report = folder / "matrix.html"
    code, out = _cli("matrix", "--json", "--report", str(report))
    assert code == 0
    return report, json.loads(out)


def test_the_matrix_report(chromium: Chromium, matrix_report: tuple[Path, dict[str, Any]],
                           tmp_path: Path) -> None:
    report, table = matrix_report
    page = chromium.new_page()
    _load(page, report)
    # the grid: the same letters as the command's own table, every cell a link to its run
    assert _texts(page, "table.matrix thead th")[1:] == list(PROFILE_NAMES)
    grid = page.evaluate("[...document.querySelectorAll('table.matrix tbody tr')].map(r =>"
                         " [r.dataset.scenario, [...r.querySelectorAll('.cell')]"
                         ".map(c => c.textContent)])")
    assert grid == [[row["scenario"], [row["cells"][p] for p in PROFILE_NAMES]]
                    for row in table["rows"]]
    assert page.evaluate("[...document.querySelectorAll('a.cell')].every(a =>"
                         " document.getElementById('run-data-' + a.hash.slice(5)))")
    assert _count(page, "a.cell.o-reproduces") == sum(
        list(row["cells"].values()).count("x") for row in table["rows"])
    page.screenshot(tmp_path / "matrix.png", selector="#matrix")
    # the filter keeps the rows whose name matches
    page.evaluate("(() => { const f = document.getElementById('matrix-filter');"
                  " f.value = 'pipelin'; f.dispatchEvent(new Event('input')); })()")
    assert _texts(page, "table.matrix tbody tr:not(.hidden) th") == [
        "pipeline-coalesced-replies", "pipeline-mail-rejected", "pipelining",
        "starttls-pipelined-fake-replies"]

    # a reproduced bug: the body cut at the first blank line on 2.4
    _show(page, "blank-line-truncation--2.4--seed0")
    assert "o-reproduces" in page.evaluate("document.getElementById('run-outcome').className")
    checks = page.evaluate("[...document.querySelectorAll('#checks tbody tr')].map(r =>"
                           " [...r.cells].map(c => c.textContent))")
    body = next(c for c in checks if c[0] == "body_exact")
    assert body[2] == "\u2717 fail" and "cut at the first blank line" in body[3]
    assert page.evaluate("document.getElementById('terminal').textContent").startswith("sent")
    assert _count(page, "svg.sequence g.arrow.c2s") >= 3
    assert _count(page, "svg.sequence g.arrow.s2c") >= 3
    assert _count(page, "svg.sequence g.mark.s-terminal") == 1
    assert _count(page, "svg.pool-chart path.series-in-use") == 1
    assert _count(page, "table.segments tbody tr") > 10
    found = _search(page, "quit")
    assert found["count"].startswith("1 of ") and found["shown"][0].endswith("C: QUIT")
    assert found["marks"] == 1
    page.screenshot(tmp_path / "run.png", selector="#run")

    # TLS phases, pipelined groups, faults, timers, the watchdog: where they happened
    _show(page, "starttls--current--seed0")
    assert _count(page, "rect.band-handshake") == 1 and _count(page, "rect.band-tls") == 1
    _show(page, "pipelining--current--seed0")
    assert any(t.startswith("pipelined group")  # then its tooltip's text
               for t in _texts(page, "svg.sequence .group-label"))
    assert "5 replies" in _texts(page, "svg.sequence .group-label")
    _show(page, "lossy-link--current--seed0")
    assert _count(page, "g.mark.s-fault") >= 2 and _count(page, "g.mark.s-drop") >= 2
    assert _count(page, "table.segments tr.s-retransmission") >= 3
    assert _count(page, "svg.tcp-graph line.seg.retransmission") >= 3
    _show(page, "greeting-timeout--current--seed0")
    timers = [t for t in _texts(page, "g.mark.s-timer text, g.mark.s-terminal text")
              if "GREETING" in t]
    assert timers[0].startswith("GREETING timer starts (300 s)")
    assert _texts(page, "svg.sequence text.gap") == ["\u2026 5 min later \u2026"]
    _show(page, "buffer-exhaustion-during-content--1.0--seed0")
    assert _count(page, "svg.pool-chart line.mark-watchdog") == 1
    assert _count(page, "svg.pool-chart path.mark-failed") == 3
    assert _count(page, "svg.pool-chart path.mark-drop") == 3
    assert _count(page, "svg.pool-chart rect.busy") == 1
    page.screenshot(tmp_path / "pool.png", selector="#pool-chart")
    for name in ("matrix.png", "run.png", "pool.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_of_one_failing_run_with_its_artifacts(chromium: Chromium,
                                                          tmp_path: Path) -> None:
    report = tmp_path / "reports" / "run.html"
    report.parent.mkdir()
    code, _ = _cli("run", "blank-line-truncation", "--profile", "2.4", "--report",
                   str(report), "--artifacts", str(tmp_path / "out"))
    assert code == 1
    page = chromium.new_page()
    _load(page, report)
    # one run: shown at once, no grid
    assert page.evaluate(SHOWN) == "blank-line-truncation--2.4--seed0"
    assert _count(page, "#matrix") == 0
    assert "cut at the first blank line" in page.evaluate(
        "document.getElementById('run-outcome').textContent")
    links = page.evaluate("[...document.querySelectorAll('.artifacts a')].map(a =>"
                          " [a.textContent, a.getAttribute('href')])")
    assert [label for label, _ in links] == ["capture (pcap)", "TLS key log",
                                             "trace (JSON lines)", "transcript",
                                             "result (JSON)"]
    for _, href in links:
        assert not href.startswith("/") and (report.parent / unquote(href)).is_file()
    assert _count(page, "svg.sequence g.arrow") >= 6
    assert _count(page, "#checks tbody tr") >= 4
    shot = page.screenshot(tmp_path / "failing-run.png", full_page=True)
    assert shot.stat().st_size > 20_000


def test_a_server_side_report_draws_without_the_device(
        chromium: Chromium, server_side_view: RunView, tmp_path: Path) -> None:
    """What ``serve`` will write: a real client's dialogue, no device to chart."""
    report = tmp_path / "serve.html"
    report.write_text(render_report(Report(title="serve", runs=(server_side_view,))))
    page = chromium.new_page()
    _load(page, report)
    assert page.evaluate(SHOWN) == "starttls--serve--c1"
    assert "not observable" in page.evaluate("document.getElementById('terminal').textContent")
    assert _count(page, "svg.pool-chart") == 0 and _count(page, "section.tcp") == 0
    assert _count(page, "svg.sequence g.arrow") == 11  # 6 from the server, 5 to it
    assert _count(page, "rect.band-handshake") == 1 and _count(page, "rect.band-tls") == 1
    assert any(t.startswith("pipelined group")
               for t in _texts(page, "svg.sequence .group-label"))
    (auth,) = _search(page, "auth plain")["shown"]
    assert auth.endswith("C: AUTH PLAIN <credentials hidden, 28 bytes>")
    page.screenshot(tmp_path / "serve.png", full_page=True)
