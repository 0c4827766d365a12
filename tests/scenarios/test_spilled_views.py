"""The views that read a whole trace give the same bytes when its records wait on disk.

``smtp-hil run --report/--junit/--check-determinism`` keep a run's records past
:data:`emulator.tracespill.SPILL_BOUND` in an unnamed temporary file and read them back
record by record. Here the bound is forced down to a few records, so nearly every record
of each run goes to disk, and each view is compared with the same view of the same run
kept in memory: the HTML report, the JUnit XML (with and without the credentials shown),
the transcript, the determinism checker's digests and the record it names. Scenarios:
plaintext, STARTTLS, implicit TLS, AUTH (PLAIN, LOGIN, CRAM-MD5), a lossy link, a long
dialogue, and failing runs of older releases (their JUnit has the transcript's tail).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from emulator.trace import encode_record
from emulator.tracespill import SpillingRecords
from scenarios import determinism
from scenarios.artifacts import transcript_lines, write_artifacts
from scenarios.junit import junit_xml
from scenarios.report import device, dialogue, tcpview
from scenarios.report.dialogue import dialogue_rows
from scenarios.report.from_runs import build_report
from scenarios.report.html import render_report
from scenarios.report.masking import report_records
from scenarios.report.tcpview import tcp_view
from scenarios.runner import RunResult, resolve_scenario, run
from tests.scenarios.test_masking import FORMS

ROOT = Path(__file__).resolve().parents[2]
TINY = 3
CASES = [("starttls", "current"), ("implicit-tls", "current"), ("auth-plain", "current"),
         ("auth-login", "2.0"), ("auth-cram-md5", "current"), ("lossy-link", "current"),
         ("replies-byte-by-byte", "current"), ("blank-line-truncation", "2.0"),
         ("tls-drop-mid-transaction", "2.0")]


def _pair(name: str, profile: str) -> tuple[RunResult, RunResult]:
    """The run kept in memory and the run with nearly every record on disk (wall time
    zeroed: it is the one thing that differs)."""
    scenario = resolve_scenario(name)
    whole = run(scenario, profile)
    spilled = run(scenario, profile, spill_after=TINY)
    assert isinstance(spilled.trace, SpillingRecords) and spilled.trace.spilled > 0
    assert not isinstance(whole.trace, SpillingRecords)
    assert spilled.trace_sha256 == whole.trace_sha256
    assert spilled.verdict == whole.verdict
    return dataclasses.replace(whole, wall_s=0.0), dataclasses.replace(spilled, wall_s=0.0)


def _junit(results: list[RunResult], show_secrets: bool, matrix: bool = True) -> str:
    """JUnit as the matrix (expected failures) or ``run`` (failures) writes it."""
    text = junit_xml(results, expected_failures=matrix, show_secrets=show_secrets)
    return re.sub(r'timestamp="[^"]*"', "", text)


@pytest.mark.parametrize(("name", "profile"), CASES)
def test_report_junit_and_transcript_are_byte_identical_with_the_trace_on_disk(
        name: str, profile: str) -> None:
    whole, spilled = _pair(name, profile)
    report = render_report(build_report([whole], title=name))
    assert render_report(build_report([spilled], title=name)) == report
    for show in (False, True):
        for matrix in (False, True):
            assert _junit([spilled], show, matrix) == _junit([whole], show, matrix)
        assert (transcript_lines(spilled.trace, show_secrets=show)
                == transcript_lines(whole.trace, show_secrets=show))
    assert [encode_record(r) for r in spilled.trace] == [encode_record(r) for r in whole.trace]
    if name.startswith("auth"):
        for form in FORMS:
            assert form.decode() not in report
            assert form.decode() not in _junit([spilled], False)


@pytest.mark.parametrize(("name", "profile"), [("auth-plain", "current"),
                                               ("lossy-link", "current"),
                                               ("blank-line-truncation", "2.0")])
@pytest.mark.parametrize("show_secrets", [False, True])
def test_artifacts_written_after_the_run_are_byte_identical_from_the_trace_on_disk(
        name: str, profile: str, show_secrets: bool, tmp_path: Path) -> None:
    """``run --report --artifacts``: the artifacts are written after the run, from the
    trace on disk (plaintext scenarios: TLS ciphertext differs between two runs)."""
    whole, spilled = _pair(name, profile)
    folders = [write_artifacts(r, tmp_path / label, show_secrets=show_secrets)
               for r, label in ((whole, "whole"), (spilled, "spilled"))]
    for file in ("transcript.txt", "trace.jsonl", "capture.pcap"):
        assert (folders[1] / file).read_bytes() == (folders[0] / file).read_bytes(), file
    if name == "auth-plain" and not show_secrets:
        for file in ("transcript.txt", "trace.jsonl", "capture.pcap"):
            data = (folders[1] / file).read_bytes()
            assert not any(form in data for form in FORMS), file


def test_a_failing_run_s_junit_tail_comes_from_the_trace_on_disk() -> None:
    whole, spilled = _pair("blank-line-truncation", "2.0")
    assert not whole.passed
    text = _junit([spilled], False, matrix=False)
    assert "<failure" in text and " C: " in text
    assert text == _junit([whole], False, matrix=False)


def test_the_report_of_several_runs_is_byte_identical() -> None:
    pairs = [_pair(name, profile) for name, profile in CASES[:4]]
    assert (render_report(build_report([s for _, s in pairs], title="t"))
            == render_report(build_report([w for w, _ in pairs], title="t")))


def test_the_dialogue_leaves_out_the_same_middle_rows_as_it_goes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialogue longer than HEAD_ROWS + TAIL_ROWS is built with its middle dropped as it
    goes; the rows kept are the first and the last of the whole list of rows."""
    result = run(resolve_scenario("replies-byte-by-byte"), "current", spill_after=TINY)
    records = report_records(result.trace)
    monkeypatch.setattr(dialogue, "HEAD_ROWS", 10 ** 9)
    every, none_left_out = dialogue_rows(records)
    assert none_left_out == 0 and len(every) > 20
    monkeypatch.setattr(dialogue, "HEAD_ROWS", 7)
    monkeypatch.setattr(dialogue, "TAIL_ROWS", 4)
    rows, omitted = dialogue_rows(records)
    assert rows == every[:7] + every[-4:]
    assert omitted == len(every) - 11


def test_the_tcp_view_keeps_the_same_first_and_last_segments_as_it_goes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments neither among the first nor the last are let go of as the view goes; the
    figures still count every segment, and the notes of dropped and lost ones stay."""
    result = run(resolve_scenario("lossy-link"), "current", spill_after=TINY)
    records = report_records(result.trace)
    monkeypatch.setattr(tcpview, "HEAD_SEGMENTS", 10 ** 9)
    whole = tcp_view(records)
    assert whole is not None and whole.omitted == 0 and len(whole.segments) > 20
    assert whole.summary["link_drops"] > 0
    monkeypatch.setattr(tcpview, "HEAD_SEGMENTS", 6)
    monkeypatch.setattr(tcpview, "TAIL_SEGMENTS", 5)
    short = tcp_view(records)
    assert short is not None
    assert short.segments == whole.segments[:6] + whole.segments[-5:]
    assert short.omitted == len(whole.segments) - 11
    assert short.summary == whole.summary


def test_the_pool_chart_merges_its_points_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """More points than MAX_POINTS are merged in runs as they come: the time of each
    run's first point, the state after its last, the peaks of all."""
    result = run(resolve_scenario("replies-byte-by-byte"), "current", spill_after=TINY)
    records = report_records(result.trace)
    monkeypatch.setattr(device, "MAX_POINTS", 10 ** 9)
    (whole,) = device.device_charts(records, result.virtual_us)
    points = list(whole.points)
    assert len(points) > 40
    monkeypatch.setattr(device, "MAX_POINTS", 37)
    (short,) = device.device_charts(records, result.virtual_us)
    step = -(-len(points) // 37)
    runs = [points[i:i + step] for i in range(0, len(points), step)]
    assert list(short.points) == [(r[0][0], r[-1][1], max(p[2] for p in r), r[-1][3],
                                   max(p[4] for p in r)) for r in runs]
    assert short.summary == whole.summary and short.marks == whole.marks


@pytest.mark.parametrize(("name", "profile"), [("starttls", "current"), ("auth-login", "2.0"),
                                               ("lossy-link", "current")])
def test_the_determinism_worker_answers_the_same_with_its_trace_on_disk(
        name: str, profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = resolve_scenario(name)
    assert scenario.source is not None
    requests = "".join(json.dumps(r) + "\n" for r in (
        {"op": "run", "path": scenario.source, "profile": profile, "seed": 0},
        {"op": "digests"}, {"op": "record", "index": 5}, {"op": "record", "index": 10 ** 6}))

    def answers(bound: int) -> list[object]:
        monkeypatch.setattr(determinism, "SPILL_BOUND", bound)
        out = io.StringIO()
        determinism.serve(io.StringIO(requests), out)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    assert answers(TINY) == answers(10 ** 9)


def test_the_first_differing_record_is_named_from_the_trace_on_disk() -> None:
    """Compared with another seed's copy, the checker names the same first differing
    record whether this process's trace is in memory or on disk."""
    scenario = resolve_scenario("pipelining")
    assert scenario.source is not None
    parts = []
    for bound in (None, TINY):
        with determinism.FreshProcess() as worker:
            worker.submit(scenario.source, "current", 1)
            replay = worker.compare(run(scenario, "current", 0, spill_after=bound))
        assert replay.divergence is not None
        parts.append(replay.divergence)
    assert parts[0] == parts[1]


SPILL_HOOK = '''
import emulator.tracespill
emulator.tracespill.SPILL_BOUND = {bound}
'''


def _cli(tmp_path: Path, bound: int | None, *argv: str) -> tuple[str, Path]:
    """``smtp-hil run`` with the spill bound set by a ``sitecustomize`` hook (in the CLI
    and in its determinism worker) and a private temporary folder; its output, wall
    times blanked, and that folder."""
    hook, temp = tmp_path / f"hook-{bound}", tmp_path / f"tmp-{bound}"
    hook.mkdir()
    temp.mkdir()
    if bound is not None:
        (hook / "sitecustomize.py").write_text(SPILL_HOOK.format(bound=bound))
    env = dict(os.environ, PYTHONPATH=str(hook), TMPDIR=str(temp), PYTHONHASHSEED="0")
    done = subprocess.run([sys.executable, "-m", "scenarios.cli", "run", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr
    return re.sub(r"wall \d+\.\d+ s", "wall s", done.stdout), temp


def test_the_cli_prints_and_writes_the_same_with_nearly_every_record_on_disk(
        tmp_path: Path) -> None:
    outputs = {}
    for bound in (None, TINY):
        junit, report = tmp_path / f"{bound}.xml", tmp_path / f"{bound}.html"
        out, temp = _cli(tmp_path, bound, "starttls", "auth-login", "--check-determinism",
                         "--junit", str(junit), "--report", str(report))
        assert os.listdir(temp) == []  # the spill files never had a name there
        html = re.sub(r"wall time\",\"[0-9.]+ s", "", report.read_text())
        outputs[bound] = (out, re.sub(r'(timestamp|time)="[^"]*"', "", junit.read_text()),
                          html)
    assert outputs[TINY] == outputs[None]
    assert "deterministic: trace_sha256" in outputs[TINY][0]


def test_a_run_interrupted_or_failing_leaves_no_file_in_the_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scenario = resolve_scenario("replies-byte-by-byte")
    seen: list[int] = []

    def interrupt(record: object) -> None:
        seen.append(1)
        if len(seen) == 500:
            assert os.listdir(tmp_path) == []  # records are on disk already, unnamed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(scenario, "current", spill_after=TINY, watch=[interrupt])
    assert os.listdir(tmp_path) == []
    result = run(scenario, "current", spill_after=TINY)
    assert isinstance(result.trace, SpillingRecords) and result.trace.spilled > 1000
    assert os.listdir(tmp_path) == []
