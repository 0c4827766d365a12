"""Report views of the server side only: a real client against a scripted server.

``smtp-hil serve`` and ``run --dut`` have no simulated device: no client events, no
buffer pool, no TCP view; what there is, is what the scripted server saw (the asyncio
driver's :class:`~scenarios.server.asyncdriver.TranscriptLine` list, wall-clock seconds
since it started) and its :class:`~scenarios.verdict.server.ServerVerdict`. The lines
become the trace records the simulated server writes for the same things (``rx``,
``tx``, ``accept``, ``tls_established``, ``closed``, ...), so the sequence diagram,
the masking of credentials and the transcript are the simulated runs' own; the view
simply has no device chart and no TCP view, and the report draws none.

This module knows the asyncio driver's transcript lines and the server-side verdict; it
runs nothing and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emulator.trace import FieldValue, TraceKind, TraceRecord, trace_kind
from scenarios.artifacts import transcript_lines
from scenarios.format import Scenario
from scenarios.report.checks import shown_value
from scenarios.report.dialogue import dialogue_rows
from scenarios.report.masking import report_records
from scenarios.report.model import CheckRow, RunView, outcome_of
from scenarios.server.transcript import TranscriptLine
from scenarios.verdict.server import ServerVerdict

_DETAIL_KEY = re.compile(r"\s*\b([a-z_]+)=")


def _fields(line: TranscriptLine) -> dict[str, FieldValue]:
    """``cipher=X version=Y`` -> ``{"cipher": "X", "version": "Y"}``."""
    parts = _DETAIL_KEY.split(line.detail)
    if len(parts) < 3 or parts[0]:
        return {"detail": line.detail} if line.detail else {}
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def server_records(lines: Sequence[TranscriptLine]) -> list[TraceRecord]:
    """The lines as the records the simulated server writes (``server.c<N>``)."""
    records = []
    for line in lines:
        source = f"server.c{line.connection}"
        t_us = round(line.t_s * 1_000_000)
        if line.kind in ("C", "S"):
            kind: TraceKind = "rx" if line.kind == "C" else "tx"
            records.append(TraceRecord(t_us, source, kind, {"data": line.data}))
        else:
            records.append(TraceRecord(t_us, source, trace_kind(line.kind, source),
                                       _fields(line)))
    return records


def server_run_view(scenario: Scenario, lines: Sequence[TranscriptLine],
                    verdict: ServerVerdict, *, run_id: str, column: str) -> RunView:
    """The report's view of one client's connections to a scripted server; ``column``
    says whose they were (``serve``, ``dut curl``)."""
    records = report_records(server_records(lines))
    rows, omitted = dialogue_rows(records)
    asked = scenario.expect.checks()
    end = records[-1].t_us if records else 0
    return RunView(
        run_id=run_id, scenario=scenario.name, title=scenario.title, column=column,
        seed=None, outcome=outcome_of(verdict.passed, expected_to_fail=False),
        reason=verdict.reason, reasons=verdict.reasons,
        checks=[CheckRow(c.name, shown_value(asked.get(c.name)), c.status, c.detail)
                for c in verdict.checks],
        notes=list(verdict.notes), dialogue=rows, dialogue_omitted=omitted,
        transcript=transcript_lines(records),
        facts=[("time", f"{end / 1e6:.3f} s of real time"),
               ("connections", str(len({line.connection for line in lines})))],
        client_observed=False)
