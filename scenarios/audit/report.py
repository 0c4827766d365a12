"""The audit's HTML report: the scorecard, grouped, each case linking to its run.

A modelled client's case links to its simulated run's page (dialogue, buffer pool, TCP
view, transcript); a client program's or a board's to the page of its connections as
the scripted server saw them; a case that did not apply has no page. The file is the same
self-contained report every front door writes (:mod:`scenarios.report`).

This module knows case results and the report's records; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from emulator.userinput import UserInputError
from scenarios.audit.board import BoardRun
from scenarios.audit.cases import CaseResult
from scenarios.audit.scorecard import summary_line
from scenarios.format import AUDIT_GROUPS
from scenarios.outside.dut import DutRun
from scenarios.report.from_runs import run_view
from scenarios.report.from_server import server_run_view
from scenarios.report.html import render_report
from scenarios.report.model import Report, RunView, Scorecard, ScorecardRow
from scenarios.runner import RunResult


def audit_report(audited: str, results: Sequence[CaseResult],
                 not_done: int | None = None) -> Report:
    """The report of an audit of ``audited`` (interrupted with ``not_done`` cases left:
    of the cases judged)."""
    views: list[RunView] = []
    rows: dict[str, list[ScorecardRow]] = {group: [] for group in AUDIT_GROUPS}
    for result in results:
        view = _view(result, len(views))
        if view is not None:
            views.append(view)
        scenario = result.scenario
        rows[result.audit.group].append(ScorecardRow(
            scenario.name, scenario.title, result.audit.case, result.status, result.reason,
            view.run_id if view is not None else None))
    groups = tuple((AUDIT_GROUPS[g], tuple(r)) for g, r in rows.items() if r)
    card = Scorecard(client=audited, groups=groups, summary=summary_line(results, not_done))
    return Report(title=f"smtp-hil audit: {audited}", runs=tuple(views), scorecard=card)


def write_audit_report(path: Path, audited: str, results: Sequence[CaseResult],
                       not_done: int | None = None) -> None:
    try:
        path.write_text(render_report(audit_report(audited, results, not_done)),
                        encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"--report {path}: {exc.strerror or exc}") from None


def _view(result: CaseResult, index: int) -> RunView | None:
    ran = result.run
    if isinstance(ran, RunResult):
        return run_view(ran)
    if isinstance(ran, DutRun):
        lines = [line for connection in ran.connections for line in connection.lines]
        return server_run_view(result.scenario, lines, ran.verdict,
                               run_id=f"{result.scenario.name}--dut-{ran.dut.name}--{index}",
                               column=f"dut {ran.dut.name}")
    if isinstance(ran, BoardRun):
        lines = [line for connection in ran.connections for line in connection.lines]
        return server_run_view(ran.scenario, lines, ran.verdict,
                               run_id=f"{result.scenario.name}--board--{index}",
                               column="board")
    return None


