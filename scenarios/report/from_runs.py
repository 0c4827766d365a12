"""Report views of simulated run results: the one place the report meets ``RunResult``.

A :class:`~scenarios.runner.RunResult` becomes a :class:`~scenarios.report.model.RunView`
from its plain fields (scenario, profile, seed, verdict, events, mailbox, pool and
watchdog figures, trace hash) and its trace records, with credentials masked first
(:func:`report_records`), so nothing below this module ever sees them. A list of results
of every scenario on every release becomes the :class:`MatrixGrid` too.

The other front doors (``serve``, ``explore``, the pytest plugin, Robot) make their
views here as well when they get a report, and render them with the same
:func:`scenarios.report.html.render_report`.

This module knows run results and the report's records; it writes no files and draws
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from urllib.parse import quote

from emulator.trace import TraceRecord
from emulator.units import SECOND, format_us
from scenarios.artifacts import run_dirname, transcript_lines
from scenarios.report.checks import expectation_checks
from scenarios.report.device import device_charts
from scenarios.report.dialogue import ExtraMark, dialogue_rows
from scenarios.report.masking import report_records
from scenarios.report.model import (
    Artifact,
    MatrixCell,
    MatrixGrid,
    MatrixRow,
    Outcome,
    Report,
    RunView,
    outcome_of,
)
from scenarios.report.tcpview import tcp_view
from scenarios.runner import RunResult
from scenarios.serververdict import observation_notes
from smtp.events import Timeout, describe
from smtp.profiles import PROFILE_NAMES

ARTIFACT_FILES: Final = (
    ("capture.pcap", "capture (pcap)"),
    ("keylog.txt", "TLS key log"),
    ("trace.jsonl", "trace (JSON lines)"),
    ("transcript.txt", "transcript"),
    ("result.json", "result (JSON)"),
)
"""The files of ``--artifacts`` a run's view links to, when they were written."""


def expected_to_fail(result: RunResult) -> bool:
    """Whether the catalog says this run's release fails its scenario."""
    return result.profile != "current" and result.scenario.reproduced_by(result.profile)


def run_outcome(result: RunResult) -> Outcome:
    return outcome_of(result.passed, expected_to_fail(result))


def artifact_links(result: RunResult, artifacts: Path, report: Path) -> list[Artifact]:
    """Links, relative to the report's folder, to the run's files under ``artifacts``."""
    folder = artifacts / run_dirname(result)
    links = []
    for name, label in ARTIFACT_FILES:
        path = folder / name
        if path.is_file():
            relative = os.path.relpath(path.resolve(), report.resolve().parent)
            links.append(Artifact(label, quote(Path(relative).as_posix())))
    return links


def _timer_marks(result: RunResult) -> list[ExtraMark]:
    """Where each SMTP command timer that fired was started (it ran ``after_us``)."""
    marks: list[ExtraMark] = []
    for timed in result.events:
        event = timed.event
        if isinstance(event, Timeout):
            marks.append((timed.t_us - event.after_us, "client", "timer",
                          f"{event.command} timer starts ({event.after_us // SECOND} s); "
                          f"it fires at {format_us(timed.t_us)} s"))
    return marks


def _facts(result: RunResult) -> list[tuple[str, str]]:
    pool = result.pool
    facts = [
        ("virtual time", f"{format_us(result.virtual_us)} s"),
        ("wall time", f"{result.wall_s:.3f} s"),
        ("seed", str(result.seed)),
        ("trace SHA-256", result.trace_sha256),
        ("mails received", ", ".join(f"{len(m.content)} bytes via {m.via}"
                                     for m in result.mailbox) or "none"),
        ("buffer pool", f"{pool.count} buffers, peak {pool.peak_in_use} in use, "
                        f"{pool.failed_allocations} failed allocation(s), "
                        f"{pool.frames_dropped} frame(s) dropped, "
                        f"{result.pool_in_use_at_end} in use at the end"),
        ("watchdog resets", str(result.watchdog_resets)),
    ]
    tls = [f"{o.tls_version} {o.tls_cipher}" for c in result.connections
           for o in (c.engine.observations,) if o.tls_established]
    if tls:
        facts.append(("TLS", ", ".join(tls)))
    return facts


def run_view(result: RunResult, *, artifacts: Path | None = None,
             report: Path | None = None) -> RunView:
    """The report's view of one simulated run; ``artifacts`` is the folder given to
    ``--artifacts`` (links are made relative to ``report``, the HTML file's path)."""
    records: Sequence[TraceRecord] = report_records(result.world.kernel.trace.records)
    terminal = (result.terminal.t_us, describe(result.terminal.event)) \
        if result.terminal else None
    rows, omitted = dialogue_rows(records, terminal=terminal, extra=_timer_marks(result))
    scenario = result.scenario
    reproduces = [r.changelog + (f" ({r.why})" if r.why else "")
                  for r in scenario.meta.reproduces if result.profile in r.profiles]
    engines = [c.engine for c in result.connections]
    return RunView(
        run_id=run_dirname(result), scenario=scenario.name, title=scenario.title,
        column=result.profile, seed=result.seed, outcome=run_outcome(result),
        reason=result.verdict.reason, reasons=list(result.verdict.reasons),
        reproduces=reproduces,
        checks=expectation_checks(result, result.world.scenario),
        notes=observation_notes([e.observations for e in engines], result.mailbox),
        terminal=terminal,
        events=[(e.t_us, describe(e.event)) for e in result.events],
        dialogue=rows, dialogue_omitted=omitted,
        devices=device_charts(records, result.virtual_us),
        tcp=tcp_view(records),
        transcript=transcript_lines(records),
        artifacts=artifact_links(result, artifacts, report)
        if artifacts is not None and report is not None else [],
        facts=_facts(result))


def matrix_grid(results: Sequence[RunResult],
                columns: Sequence[str] = PROFILE_NAMES) -> MatrixGrid:
    """Scenarios (in the order of ``results``) by ``columns``; every cell needs its run."""
    by_cell = {(r.scenario.name, r.profile): r for r in results}
    names: list[str] = []
    titles: dict[str, str] = {}
    for r in results:
        if r.scenario.name not in titles:
            names.append(r.scenario.name)
            titles[r.scenario.name] = r.scenario.title
    rows = []
    for name in names:
        cells = []
        for column in columns:
            result = by_cell.get((name, column))
            if result is None:
                raise ValueError(f"matrix: no run of {name} on {column}")
            outcome = run_outcome(result)
            cells.append(MatrixCell(outcome, run_dirname(result),
                                    f"{name} on {column}: {outcome.words}: "
                                    f"{result.verdict.reason}"))
        rows.append(MatrixRow(name, titles[name], tuple(cells)))
    return MatrixGrid(tuple(columns), tuple(rows))


def build_report(results: Sequence[RunResult], *, title: str, matrix: bool = False,
                 artifacts: Path | None = None, report: Path | None = None) -> Report:
    """The report of ``results``: their views, and the matrix grid when ``matrix``."""
    views = tuple(run_view(r, artifacts=artifacts, report=report) for r in results)
    grid = matrix_grid(results) if matrix else None
    return Report(title=title, runs=views, matrix=grid)
