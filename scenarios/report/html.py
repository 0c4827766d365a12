"""One self-contained HTML file from a :class:`~scenarios.report.model.Report`.

Everything is inline: the style sheet and the script come from ``static/`` beside this
module (the script in four files, one scope), and every drawing (sequence diagram, pool
chart, TCP graph) is SVG the script makes, so the file opens from disk or a CI artifact
store with no network.

The page is built to stay light for the whole matrix (hundreds of runs): the header,
the matrix grid and the list of runs are plain HTML, readable without the script; each
run's detail is JSON in its own ``<script type="application/json">`` element, parsed
and drawn only when the run is opened (a click on its cell, or a ``#run-<id>`` link). A
report of a single run opens it at once.

The script reports on itself on the ``<html>`` element, for people and for tests:
``data-report-state`` is ``ready`` once the page is drawn, ``data-report-errors`` lists
any script error (caught by ``window.onerror``), and ``data-run-shown`` names the run
whose detail is drawn.

This module knows the report's records and HTML; it knows nothing about runs.
"""

from __future__ import annotations

import dataclasses
import io
import json
from html import escape
from importlib.resources import files
from typing import Final, TextIO

from scenarios.report.model import (
    JsonValue,
    MatrixGrid,
    Outcome,
    Report,
    RunView,
    Scorecard,
    SummaryLine,
)

GENERATOR = "smtp-hil"
ERROR_CATCHER = (
    "window.onerror=function(message,source,line){var h=document.documentElement;"
    "h.setAttribute('data-report-errors',(h.getAttribute('data-report-errors')||'')"
    "+message+' (line '+line+')\\n');h.setAttribute('data-report-state','error');};")
"""Installed first, so that an error anywhere in the page's script is on record."""


SCRIPTS = ("base.js", "sequence.js", "charts.js", "run.js")
"""The page's script, in this order, in one scope: helpers and the time axis, the
sequence diagram, the pool chart and TCP view, then a run's detail and the start."""


def _static(name: str) -> str:
    return files("scenarios.report").joinpath("static", name).read_text(encoding="utf-8")


def page_script() -> str:
    """The script files as one strict function, run when the page is read."""
    body = "\n".join(_static(name) for name in SCRIPTS)
    return ("/* smtp-hil report: draws a run's detail from its embedded JSON when it is "
            "opened. No network, no library. */\n(function () {\n\"use strict\";\n"
            "const root = document.documentElement;\n"
            'const SVG = "http://www.w3.org/2000/svg";\n' + body + "})();\n")


def script_json(value: JsonValue) -> str:
    """JSON safe inside a ``<script>`` element: no ``<`` can end it early."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029",
                                                                              "\\u2029")


def _chip(outcome: Outcome, count: int) -> str:
    return (f'<span class="chip o-{outcome.value}" title="{escape(outcome.words)}">'
            f'<b>{outcome.letter}</b> {count} {escape(outcome.words)}</span>')


def _legend() -> str:
    return "".join(
        f'<span class="legend-item"><span class="cell o-{o.value}">{o.letter}</span>'
        f"{escape(o.words)}</span>" for o in Outcome if o is not Outcome.NO_VERDICT)


def _matrix(grid: MatrixGrid) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in grid.columns)
    body = []
    for row in grid.rows:
        cells = []
        for column, cell in zip(grid.columns, row.cells, strict=True):
            label = escape(cell.text or f"{row.scenario} on {column}: {cell.outcome.words}")
            inner = (f'<a class="cell o-{cell.outcome.value}" href="#run-{escape(cell.run_id)}"'
                     f' title="{label}" aria-label="{label}">{cell.outcome.letter}</a>'
                     if cell.run_id else
                     f'<span class="cell o-{cell.outcome.value}" title="{label}">'
                     f"{cell.outcome.letter}</span>")
            cells.append(f"<td>{inner}</td>")
        surprise = any(c.outcome.surprise for c in row.cells)
        body.append(f'<tr data-scenario="{escape(row.scenario)}"'
                    f'{" data-surprise" if surprise else ""}>'
                    f'<th scope="row" title="{escape(row.title)}">{escape(row.scenario)}</th>'
                    f'{"".join(cells)}</tr>')
    counts = grid.counts()
    surprises = counts[Outcome.UNEXPECTED_FAIL] + counts[Outcome.UNEXPECTED_PASS]
    verdict = ("the matrix matches the catalog: current passes everything and each release "
               "fails exactly the scenarios of its bugs" if not surprises else
               f"{surprises} surprise(s): runs that do not do what the catalog says")
    return f"""<section id="matrix" aria-label="matrix">
<h2>Matrix <small>{len(grid.rows)} scenarios &times; {len(grid.columns)} columns</small></h2>
<p class="matrix-verdict {'bad' if surprises else 'good'}">{escape(verdict)}</p>
<div class="matrix-tools"><label>Filter <input id="matrix-filter" type="search"
 placeholder="scenario name" autocomplete="off"></label>
<label><input id="matrix-surprises" type="checkbox"> only rows with surprises</label>
<span class="legend">{_legend()}</span></div>
<div class="matrix-scroll"><table class="matrix"><thead><tr><th scope="col">scenario</th>{head}</tr>
</thead><tbody>{"".join(body)}</tbody></table></div>
</section>"""


_SCORE_LETTERS: Final = {"pass": ("pass", "."), "fail": ("fails", "f"),
                         "not_applicable": ("not-applicable", "-")}


def _scorecard(card: Scorecard) -> str:
    sections = []
    for title, rows in card.groups:
        items = []
        for row in rows:
            css, letter = _SCORE_LETTERS[row.status]
            name = escape(row.scenario)
            link = (f'<a href="#run-{escape(row.run_id)}">{name}</a>' if row.run_id
                    else name)
            items.append(f'<tr data-scenario="{name}"><td><span class="cell o-{css}">{letter}'
                         f'</span></td><th scope="row" title="{escape(row.title)}">{link}</th>'
                         f"<td>{row.case}</td><td>{escape(row.reason)}</td></tr>")
        sections.append(f"<h3>{escape(title)}</h3><table class=\"scorecard\"><thead><tr>"
                        "<th></th><th scope=\"col\">case</th><th scope=\"col\">row</th>"
                        f"<th scope=\"col\">result</th></tr></thead><tbody>{''.join(items)}"
                        "</tbody></table>")
    return (f'<section id="scorecard" aria-label="scorecard"><h2>Scorecard '
            f"<small>{escape(card.client)}</small></h2>"
            f'<p class="matrix-verdict">{escape(card.summary)}</p>{"".join(sections)}'
            "</section>")


def _run_list(runs: tuple[RunView, ...]) -> str:
    items = "".join(
        f'<li><a href="#run-{escape(r.run_id)}"><span class="cell o-{r.outcome.value}">'
        f"{r.outcome.letter}</span> {escape(r.scenario)} <small>[{escape(r.column)}"
        f"{'' if r.seed is None else f' seed {r.seed}'}]</small></a> "
        f"<span class=\"muted\">{escape(r.reason)}</span></li>" for r in runs)
    return (f'<section id="runs" aria-label="runs"><h2>Runs</h2>'
            f'<ul class="run-list">{items}</ul></section>')


def _summary(title: str, lines: tuple[SummaryLine, ...]) -> str:
    items = []
    for line in lines:
        links = " ".join(f'<a href="#run-{escape(run_id)}">{escape(label)}</a>'
                         for label, run_id in line.links)
        bad = ' class="bad"' if line.failure else ""
        items.append(f"<li{bad}>{escape(line.text)}"
                     + (f' <span class="summary-links">{links}</span>' if links else "")
                     + "</li>")
    return (f'<section id="summary" aria-label="summary"><h2>{escape(title)}</h2>'
            f'<ul class="summary">{"".join(items)}</ul></section>')


def render_report(report: Report) -> str:
    """The HTML text of ``report`` (module docstring)."""
    out = io.StringIO()
    write_report(report, out)
    return out.getvalue()


_TRANSCRIPT_MARK: Final = "\x00smtp-hil: the transcript goes here\x00"
"""Stands for a run's transcript in its JSON, which :func:`_write_run_data` then writes
line by line in its place."""
_WRITE_LINES: Final = 4096
"""Transcript lines written to the file at once."""


def _write_run_data(run: RunView, out: TextIO) -> None:
    """``run``'s ``<script type="application/json">`` element, exactly as
    ``script_json(run.as_json())`` would write it, with the transcript written a few
    lines at a time (a long transcript may be read from the run's trace on disk)."""
    text = script_json(dataclasses.replace(run, transcript=[_TRANSCRIPT_MARK]).as_json())
    before, after = text.split(script_json(_TRANSCRIPT_MARK), 1)
    out.write(f'<script type="application/json" id="run-data-{escape(run.run_id)}">')
    out.write(before)
    batch: list[str] = []
    for number, line in enumerate(run.transcript):
        batch.append(script_json(line) if number == 0 else "," + script_json(line))
        if len(batch) >= _WRITE_LINES:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    out.write(after + "</script>")


def write_report(report: Report, out: TextIO) -> None:
    """:func:`render_report`'s text written to ``out`` as it is made: a run's transcript
    is never held whole (module docstring)."""
    counts = dict.fromkeys(Outcome, 0)
    for run in report.runs:
        counts[run.outcome] += 1
    if report.matrix is not None:
        counts = report.matrix.counts()
    chips = "".join(_chip(o, n) for o, n in counts.items() if n)
    index = [{"id": r.run_id, "scenario": r.scenario, "column": r.column,
              "outcome": r.outcome.value} for r in report.runs]
    listing = _matrix(report.matrix) if report.matrix is not None else (
        _scorecard(report.scorecard) if report.scorecard is not None else (
            _run_list(report.runs) if len(report.runs) > 1 else ""))
    if report.summary:
        listing = _summary(report.summary_title, report.summary) + "\n" + listing
    out.write(f"""<!DOCTYPE html>
<html lang="en" data-report-state="loading">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{GENERATOR}">
<script>{ERROR_CATCHER}</script>
<title>{escape(report.title)}</title>
<style>
{_static("report.css")}
</style>
</head>
<body>
<header class="page-header">
<h1>{escape(report.title)}</h1>
<p class="chips">{chips}</p>
</header>
<main>
{listing}
<section id="run" aria-label="run detail" hidden></section>
<noscript><p class="muted">The run details are drawn by the page's script.</p></noscript>
</main>
<script type="application/json" id="report-index">{script_json(index)}</script>
""")
    for number, run in enumerate(report.runs):
        if number:
            out.write("\n")
        _write_run_data(run, out)
    out.write(f"""
<script>
{page_script()}
</script>
</body>
</html>
""")
