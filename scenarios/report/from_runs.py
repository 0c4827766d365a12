"""Report views of simulated run results: the one place the report meets ``RunResult``.

A :class:`~scenarios.runner.RunResult` becomes a :class:`~scenarios.report.model.RunView`
from its plain fields (scenario, profile, seed, verdict, events, mailbox, pool and
watchdog figures, trace hash) and its trace records, with credentials masked first
(:func:`report_records`), so nothing below this module ever sees them. A list of results
of every scenario on every release becomes the :class:`MatrixGrid` too.

A matrix with a C firmware column (``matrix --firmware lwip``) adds that column's runs
and the scenarios it cannot run (:class:`FirmwareRuns`). The server-side views of a real
client (``serve``, ``run --dut``) are :mod:`scenarios.report.from_server`'s; every view
is rendered by the same :func:`scenarios.report.html.render_report`.

This module knows run results and the report's records; it writes no files and draws
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from emulator.firmware import TimedEvent
from emulator.trace import TraceRecord
from emulator.tracespill import spills
from emulator.units import SECOND, format_us
from scenarios.artifacts import iter_transcript, run_dirname, transcript_lines
from scenarios.readagain import ReadAgain
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
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.verdict.server import observation_notes
from smtp.events import Timeout, describe
from smtp.profiles import PROFILE_NAMES
from stack.pool import PoolStats

ARTIFACT_FILES: Final = (
    ("capture.pcap", "capture (pcap)"),
    ("keylog.txt", "TLS key log"),
    ("trace.jsonl", "trace (JSON lines)"),
    ("transcript.txt", "transcript"),
    ("result.json", "result (JSON)"),
)
"""The files of ``--artifacts`` a run's view links to, when they were written."""


MODEL: Final = "model"
"""``RunResult.firmware`` of the Python client (the releases); anything else is C."""


@dataclass(frozen=True)
class FirmwareRuns:
    """A matrix column for a C firmware (``matrix --firmware lwip``): its runs, and why
    each scenario it did not run is not applicable to it."""

    label: str
    runs: Sequence[RunResult]
    not_applicable: Mapping[str, str]


def expected_to_fail(result: RunResult) -> bool:
    """Whether the catalog says this run's release fails its scenario."""
    return (result.firmware == MODEL and result.profile != "current"
            and result.scenario.reproduced_by(result.profile))


def run_outcome(result: RunResult) -> Outcome:
    if result.firmware != MODEL:
        return Outcome.PASS if result.passed else Outcome.FAILS
    return outcome_of(result.passed, expected_to_fail(result))


def run_column(result: RunResult) -> str:
    """The release, or the C firmware that ran instead of the model."""
    return result.profile if result.firmware == MODEL else result.firmware


def run_id(result: RunResult) -> str:
    """The run's name in the report (its ``--artifacts`` folder's, for the model)."""
    if result.firmware == MODEL:
        return run_dirname(result)
    return f"{result.scenario.name}--{result.firmware}--seed{result.seed}"


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


def timer_marks(events: Sequence[TimedEvent]) -> list[ExtraMark]:
    """Where each SMTP command timer that fired was started (it ran ``after_us``)."""
    marks: list[ExtraMark] = []
    for timed in events:
        event = timed.event
        if isinstance(event, Timeout):
            marks.append((timed.t_us - event.after_us, "client", "timer",
                          f"{event.command} timer starts ({event.after_us // SECOND} s); "
                          f"it fires at {format_us(timed.t_us)} s"))
    return marks


def device_facts(*, virtual_us: int, seed: int, trace_sha256: str,
                 mailbox: Sequence[ReceivedMail], pool: PoolStats, pool_in_use_at_end: int,
                 watchdog_resets: int, observations: Sequence[Observations]
                 ) -> list[tuple[str, str]]:
    """The facts of a simulated device's run: time, seed, hash, mails, pool, watchdog."""
    facts = [
        ("virtual time", f"{format_us(virtual_us)} s"),
        ("seed", str(seed)),
        ("trace SHA-256", trace_sha256),
        ("mails received", ", ".join(f"{m.size} bytes via {m.via}"
                                     for m in mailbox) or "none"),
        ("buffer pool", f"{pool.count} buffers, peak {pool.peak_in_use} in use, "
                        f"{pool.failed_allocations} failed allocation(s), "
                        f"{pool.frames_dropped} frame(s) dropped, "
                        f"{pool_in_use_at_end} in use at the end"),
        ("watchdog resets", str(watchdog_resets)),
    ]
    tls = [f"{o.tls_version} {o.tls_cipher}" for o in observations if o.tls_established]
    if tls:
        facts.append(("TLS", ", ".join(tls)))
    return facts


def _facts(result: RunResult) -> list[tuple[str, str]]:
    facts = device_facts(virtual_us=result.virtual_us, seed=result.seed,
                         trace_sha256=result.trace_sha256, mailbox=result.mailbox,
                         pool=result.pool, pool_in_use_at_end=result.pool_in_use_at_end,
                         watchdog_resets=result.watchdog_resets,
                         observations=result.server_side.observations)
    facts.insert(1, ("wall time", f"{result.wall_s:.3f} s"))
    return facts


def run_view(result: RunResult, *, artifacts: Path | None = None,
             report: Path | None = None) -> RunView:
    """The report's view of one simulated run; ``artifacts`` is the folder given to
    ``--artifacts`` (links are made relative to ``report``, the HTML file's path)."""
    records: Sequence[TraceRecord] = report_records(result.trace)
    terminal = (result.terminal.t_us, describe(result.terminal.event)) \
        if result.terminal else None
    rows, omitted = dialogue_rows(records, terminal=terminal, extra=timer_marks(result.events))
    scenario = result.scenario
    reproduces = [r.changelog + (f" ({r.why})" if r.why else "")
                  for r in scenario.meta.reproduces if result.profile in r.profiles]
    return RunView(
        run_id=run_id(result), scenario=scenario.name, title=scenario.title,
        column=run_column(result), seed=result.seed, outcome=run_outcome(result),
        reason=result.verdict.reason, reasons=list(result.verdict.reasons),
        reproduces=reproduces,
        checks=expectation_checks(result, result.as_run),
        notes=observation_notes(result.server_side.observations, result.mailbox),
        terminal=terminal,
        events=[(e.t_us, describe(e.event)) for e in result.events],
        dialogue=rows, dialogue_omitted=omitted,
        devices=device_charts(records, result.virtual_us),
        tcp=tcp_view(records),
        transcript=ReadAgain(lambda: iter_transcript(records)) if spills(result.trace)
        else transcript_lines(records),
        artifacts=artifact_links(result, artifacts, report)
        if artifacts is not None and report is not None and result.firmware == MODEL else [],
        facts=_facts(result))


def _cell(result: RunResult, name: str, column: str) -> MatrixCell:
    outcome = run_outcome(result)
    return MatrixCell(outcome, run_id(result),
                      f"{name} on {column}: {outcome.words}: {result.verdict.reason}")


def matrix_grid(results: Sequence[RunResult], columns: Sequence[str] = PROFILE_NAMES,
                firmware: FirmwareRuns | None = None) -> MatrixGrid:
    """Scenarios (in the order of ``results``) by ``columns`` (and the firmware's column);
    every cell needs its run, or for the firmware, a reason it is not applicable."""
    by_cell = {(r.scenario.name, r.profile): r for r in results}
    on_firmware = {r.scenario.name: r for r in firmware.runs} if firmware else {}
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
            cells.append(_cell(result, name, column))
        if firmware is not None:
            if name in on_firmware:
                cells.append(_cell(on_firmware[name], name, firmware.label))
            elif name in firmware.not_applicable:
                cells.append(MatrixCell(Outcome.NOT_APPLICABLE, None, f"{name} on "
                                        f"{firmware.label}: {firmware.not_applicable[name]}"))
            else:
                raise ValueError(f"matrix: no run of {name} on {firmware.label}")
        rows.append(MatrixRow(name, titles[name], tuple(cells)))
    extra = (firmware.label,) if firmware else ()
    return MatrixGrid((*columns, *extra), tuple(rows))


def build_report(results: Sequence[RunResult], *, title: str, matrix: bool = False,
                 firmware: FirmwareRuns | None = None, artifacts: Path | None = None,
                 report: Path | None = None, views: Sequence[RunView] = ()) -> Report:
    """The report of ``results`` (and of the ``firmware`` column's runs): their views,
    then the ready-made ``views`` (a real client's, :mod:`scenarios.report.from_server`),
    and the matrix grid of ``results`` when ``matrix``."""
    every = [*results, *(firmware.runs if firmware else ())]
    runs = tuple(run_view(r, artifacts=artifacts, report=report) for r in every)
    grid = matrix_grid(results, firmware=firmware) if matrix else None
    return Report(title=title, runs=(*runs, *views), matrix=grid)
