"""``--report`` of the commands that face a real client: ``run --dut`` and ``serve``.
Each writes the same page as the simulated runs, a view per run or connection as the
scripted server saw it; the page draws in headless Chromium without a script error and
never shows a credential."""

from __future__ import annotations

import io
import json
import re
import smtplib
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scenarios.cli.main import main
from scenarios.outside.dut import message_for
from scenarios.runner import resolve_scenario

ROOT = Path(__file__).resolve().parents[3]
GUARD_S = 30.0
PASSWORD = "s3cret-pump7"  # the starttls and auth-plain scenarios' device password
Chromium = Any


def _runs(html: str) -> list[dict[str, Any]]:
    """The run views embedded in a report."""
    found = re.findall(r'<script type="application/json" id="run-data-[^"]*">(.*?)</script>',
                       html, re.S)
    return [json.loads(text) for text in found]


def _load(chromium: Chromium, path: Path) -> Any:
    page = chromium.new_page()
    page.open(path.as_uri())
    page.wait_for("document.documentElement.getAttribute('data-report-state') !== 'loading'")
    assert page.evaluate("document.documentElement.getAttribute('data-report-state')") \
        == "ready"
    assert page.evaluate("document.documentElement.getAttribute('data-report-errors')") \
        is None
    assert page.errors() == []
    return page


def test_run_with_a_client_program_writes_a_report_of_each_run(
        tmp_path: Path, chromium: Chromium) -> None:
    report = tmp_path / "dut.html"
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "starttls", "pipelining", "--dut", "smtplib", "--report",
                 str(report)], out=out, err=err)
    assert code == 1, out.getvalue()  # smtplib never pipelines (README's table)
    html = report.read_text()
    runs = {run["id"]: run for run in _runs(html)}
    assert set(runs) == {"starttls--dut-smtplib", "pipelining--dut-smtplib"}
    starttls, pipelining = runs["starttls--dut-smtplib"], runs["pipelining--dut-smtplib"]
    assert (starttls["outcome"], pipelining["outcome"]) == ("pass", "unexpected-fail")
    assert starttls["column"] == "dut smtplib" and starttls["client"] is False
    assert ["client program", "smtplib: exit status 0"] in starttls["facts"]
    assert "the client did not pipeline" in pipelining["reason"]
    assert any("<credentials hidden" in line for line in starttls["transcript"])
    assert PASSWORD not in html
    page = _load(chromium, report)
    page.evaluate("document.querySelector('a[href=\"#run-starttls--dut-smtplib\"]').click()")
    page.wait_for("document.documentElement.getAttribute('data-run-shown') === "
                  "'starttls--dut-smtplib'")
    assert int(page.evaluate("document.querySelectorAll('svg.sequence g.arrow').length")) >= 8
    assert page.errors() == []


def test_serve_writes_a_report_of_the_connections_it_judged_when_stopped(
        tmp_path: Path, chromium: Chromium) -> None:
    report = tmp_path / "serve.html"
    process = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "serve", "starttls", "--listen",
         "127.0.0.1:0", "--report", str(report)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[3].rsplit(":", 1)[1])
        ca_file = process.stdout.readline().split(": ", 1)[1].strip()
        message = message_for(resolve_scenario("starttls"), datetime.now(UTC))
        for _ in range(2):
            with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com",
                              timeout=GUARD_S) as client:
                client.starttls(context=ssl.create_default_context(cafile=ca_file))
                client.login("pump7", PASSWORD)
                client.sendmail("pump7@example.com", ["ops@example.net"], message)
        seen = ""
        while seen.count("(server side, connection") < 2:
            line = process.stdout.readline()
            assert line, f"serve ended early: {seen}"
            seen += line
        process.terminate()
        rest, err = process.communicate(timeout=GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, seen + rest
    assert err == "smtp-hil serve: stopped: 2 connection(s) judged, 0 failed\n"
    html = report.read_text()
    runs = _runs(html)
    assert [run["id"] for run in runs] == ["starttls--serve--c1", "starttls--serve--c2"]
    assert all(run["outcome"] == "pass" and run["devices"] == [] and run["tcp"] is None
               for run in runs)
    assert any(line.endswith("C: ehlo dev.example.com") for line in runs[0]["transcript"])
    assert PASSWORD not in html
    assert "smtp-hil serve starttls: 2 connection(s)" in html
    page = _load(chromium, report)
    assert int(page.evaluate("document.querySelectorAll('.run-list li').length")) == 2
