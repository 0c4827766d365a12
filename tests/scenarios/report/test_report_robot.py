"""The Robot library in a suite of several tests, as a team writes one: no teardown, each
test starts its own server and boots its own board (the library shuts down what a test
set up when it ends); and the HTML report of a test's runs, linked from Robot's log and
drawn in headless Chromium without a script error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[3]
Chromium = Any

NATURAL_SUITE = """
*** Settings ***
Library    scenarios.robotlib.SmtpHilLibrary{options}

*** Test Cases ***
Current Sends The Report Whole
    Start Scenario Server    blank-line-truncation
    Boot Emulated Board    profile=current
    Send Mail    pump7@example.com    ops@example.net    body=Report.\\n\\nAll nominal.
    Wait For Device Event    sent    timeout=10 min
    Mail Body Should Be    Report.\\n\\nAll nominal.

Release 2.4 Cuts It
    Start Scenario Server    blank-line-truncation
    Boot Emulated Board    profile=2.4
    Send Mail    pump7@example.com    ops@example.net    body=Report.\\n\\nAll nominal.
    Wait For Device Event    sent    timeout=10 min
    Run Keyword And Expect Error    *cut at the first blank line*
    ...    Mail Body Should Be    Report.\\n\\nAll nominal.

Another Scenario Server
    Start Scenario Server    pipeline-mail-rejected
    Boot Emulated Board
    Send Scenario Job
    Wait For Device Event    command_abort    timeout=10 min
    Run Scenario    chunking    profile=1.0
    Save Artifacts
"""


def _robot(tmp_path: Path, suite: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """Run the suite; its exit status and each test's status and message."""
    path = tmp_path / "natural.robot"
    path.write_text(suite)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "robot", "--outputdir", str(out),
                           "--consolecolors", "off", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=300)
    tests = {t.get("name", ""): (t.find("status").get("status", ""),  # type: ignore[union-attr]
                                 t.find("status").text or "")  # type: ignore[union-attr]
             for t in ElementTree.parse(out / "output.xml").getroot().iter("test")}
    assert tests, proc.stdout + proc.stderr
    return proc.returncode, tests


def test_a_suite_of_several_tests_needs_no_teardown(tmp_path: Path) -> None:
    code, tests = _robot(tmp_path, NATURAL_SUITE.format(options=""))
    assert code == 0, tests
    assert all(status == "PASS" for status, _ in tests.values()), tests


def test_suite_level_closing_keeps_the_board_across_tests(tmp_path: Path) -> None:
    """``auto_closing_level=SUITE``, the library's behaviour before: the second test finds
    the first one's board still booted."""
    code, tests = _robot(tmp_path, NATURAL_SUITE.format(
        options="    auto_closing_level=SUITE"))
    assert code != 0
    status, message = tests["Release 2.4 Cuts It"]
    assert status == "FAIL" and message.startswith("The board is already booted"), message


def _runs(html: str) -> list[dict[str, Any]]:
    found = re.findall(r'<script type="application/json" id="run-data-[^"]*">(.*?)</script>',
                       html, re.S)
    return [json.loads(text) for text in found]


def test_save_artifacts_writes_the_report_of_the_tests_runs(
        tmp_path: Path, chromium: Chromium) -> None:
    code, tests = _robot(tmp_path, NATURAL_SUITE.format(options=""))
    assert code == 0, tests
    folder = tmp_path / "out" / "artifacts" / "another-scenario-server"
    report = folder / "smtp-hil-report.html"
    runs = _runs(report.read_text())
    # the Run Scenario of the test (its verdict), then nothing else: the run replaced the
    # board the test had booted
    assert [r["id"] for r in runs] == ["chunking--1.0--seed0--run1"]
    assert runs[0]["outcome"] == "reproduces" and runs[0]["checks"]
    assert {label for label, _ in runs[0]["artifacts"]} >= {"capture (pcap)", "TLS key log",
                                                            "result (JSON)"}
    assert all((folder / href).is_file() for _, href in runs[0]["artifacts"])
    log = (tmp_path / "out" / "log.html").read_text()
    linked = set(re.findall(r'href=\\?"(artifacts/[^"\\]+)\\?"', log))
    saved = {f"artifacts/another-scenario-server/{path.relative_to(folder).as_posix()}"
             for path in folder.rglob("*") if path.is_file()}
    # every file saved (the report, the pcap, the key log ...) is a link in Robot's log
    assert "artifacts/another-scenario-server/smtp-hil-report.html" in saved
    assert any(name.endswith(".pcap") for name in saved)
    assert any(name.endswith("keylog.txt") for name in saved)
    assert saved <= linked, sorted(saved - linked)
    page = chromium.new_page()
    page.open(report.as_uri())
    page.wait_for("document.documentElement.getAttribute('data-report-state') !== 'loading'")
    assert page.evaluate("document.documentElement.getAttribute('data-report-errors')") \
        is None
    assert page.errors() == []


DRIVEN = """
*** Settings ***
Library    scenarios.robotlib.SmtpHilLibrary

*** Test Cases ***
Driven Board
    Start Scenario Server    blank-line-truncation
    Boot Emulated Board    profile=2.4
    Send Mail    pump7@example.com    ops@example.net    body=Report.\\n\\nAll nominal.
    Wait For Device Event    sent    timeout=10 min
    Save Report
"""


def test_a_board_driven_by_keywords_is_reported_without_a_verdict(
        tmp_path: Path, chromium: Chromium) -> None:
    code, tests = _robot(tmp_path, DRIVEN)
    assert code == 0, tests
    report = tmp_path / "out" / "artifacts" / "driven-board" / "smtp-hil-report.html"
    [run] = _runs(report.read_text())
    assert (run["id"], run["outcome"], run["column"]) == (
        "blank-line-truncation--2.4--keywords", "no-verdict", "2.4")
    assert run["checks"] == [] and run["terminal"][1].startswith("sent 250")
    assert run["devices"] and run["tcp"] is not None
    assert any(line.endswith("C: Report.") for line in run["transcript"])
    page = chromium.new_page()
    page.open(report.as_uri())
    page.wait_for("document.documentElement.getAttribute('data-run-shown') === "
                  "'blank-line-truncation--2.4--keywords'")
    assert page.evaluate("document.documentElement.getAttribute('data-report-errors')") \
        is None
    assert int(page.evaluate("document.querySelectorAll('svg.pool-chart').length")) == 1
    assert page.errors() == []
