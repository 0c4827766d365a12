"""The HTML file (scenarios/report/html.py) and the views it is made of
(scenarios/report/from_runs.py): self-contained, safe, complete, without credentials."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scenarios.artifacts import run_dirname, write_artifacts
from scenarios.report.from_runs import artifact_links, build_report, run_view
from scenarios.report.html import render_report
from scenarios.report.model import MatrixCell, MatrixGrid, MatrixRow, Outcome, Report
from scenarios.runner import RunResult, resolve_scenario, run

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SECRETS = ("s3cret-pump7", "czNjcmV0LXB1bXA3", "AHB1bXA3AHMzY3JldC1wdW1wNw==")
"""The catalog's password, its base64 (AUTH LOGIN) and the AUTH PLAIN response."""


def _without_run_data(html: str) -> str:
    return re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", html, flags=re.S)


def _run_data(html: str) -> dict[str, dict[str, object]]:
    return {m.group(1): json.loads(m.group(2)) for m in re.finditer(
        r'<script type="application/json" id="run-data-([^"]+)">(.*?)</script>', html, re.S)}


@pytest.fixture(scope="module")
def matrix_html(matrix_results: list[RunResult]) -> str:
    return render_report(build_report(matrix_results, title="matrix", matrix=True))


def test_the_page_needs_nothing_from_the_network(matrix_html: str) -> None:
    page = _without_run_data(matrix_html)
    assert "<link" not in page and " src=" not in page
    assert "@import" not in page and "url(" not in page
    assert set(re.findall(r"https?://[^\s\"'`<>)]+", page)) == {SVG_NAMESPACE}
    assert "function drawSequence" in page and ".matrix-verdict" in page  # inline


def test_every_cell_links_to_a_run_embedded_in_the_page(
        matrix_html: str, matrix_results: list[RunResult]) -> None:
    links = re.findall(r'<a class="cell o-([a-z-]+)" href="#run-([^"]+)"', matrix_html)
    data = _run_data(matrix_html)
    assert len(links) == len(data) == len(matrix_results)
    for outcome, run_id in links:
        assert data[run_id]["outcome"] == outcome
    assert {o for o, _ in links} == {"pass", "reproduces"}  # the catalog holds
    assert "the matrix matches the catalog" in matrix_html


def test_no_credential_is_anywhere_in_the_matrix_report(matrix_html: str) -> None:
    for secret in SECRETS:
        assert secret not in matrix_html
    assert "AUTH PLAIN ****" in matrix_html  # the exchange is shown, its secret is not


def test_script_text_in_a_transcript_cannot_end_its_script_element() -> None:
    result = run(resolve_scenario("starttls"))
    view = run_view(result)
    view.transcript.append("0.1 C: </script><script>alert(1)</script> <!--")
    html = render_report(Report(title="t", runs=(view,)))
    assert "</script><script>alert(1)" not in html
    assert _run_data(html)[view.run_id]["transcript"][-1] == view.transcript[-1]


def test_a_not_applicable_cell_is_shown_without_a_link() -> None:
    result = run(resolve_scenario("starttls"))
    view = run_view(result)
    grid = MatrixGrid(("current", "lwip"), (MatrixRow("starttls", "STARTTLS", (
        MatrixCell(Outcome.PASS, view.run_id, "passes"),
        MatrixCell(Outcome.NOT_APPLICABLE, None, "lwip: no STARTTLS in this build"))),))
    html = render_report(Report(title="t", runs=(view,), matrix=grid))
    assert ('<span class="cell o-not-applicable" title="lwip: no STARTTLS in this build">'
            "-</span>") in html
    assert "not applicable to this firmware" in html
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        MatrixGrid(("current", "lwip"), (MatrixRow("x", "x", (grid.rows[0].cells[0],)),))


def test_artifact_links_are_relative_to_the_report_and_only_to_files_written(
        tmp_path: Path) -> None:
    result = run(resolve_scenario("blank-line-truncation"), "2.4")
    folder = write_artifacts(result, tmp_path / "out")
    (folder / "keylog.txt").write_text("")  # what the capture work adds beside the pcap
    report = tmp_path / "reports" / "r.html"
    report.parent.mkdir()
    links = {a.label: a.href for a in artifact_links(result, tmp_path / "out", report)}
    name = run_dirname(result)
    assert links == {
        "capture (pcap)": f"../out/{name}/capture.pcap",
        "TLS key log": f"../out/{name}/keylog.txt",
        "trace (JSON lines)": f"../out/{name}/trace.jsonl",
        "transcript": f"../out/{name}/transcript.txt",
        "result (JSON)": f"../out/{name}/result.json"}
    (folder / "keylog.txt").unlink()
    assert "TLS key log" not in {a.label for a in artifact_links(result, tmp_path / "out",
                                                                  report)}
