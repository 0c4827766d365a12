"""The HTML report of an exploration: ``smtp-hil explore --report FILE.html``.

What a person looks at after a campaign, in the page ``run --report`` and
``matrix --report`` make (:mod:`scenarios.report`):

- one summary line per distinct failure (the line the CLI prints), linking to the run of
  its **first failing schedule as the search found it** (every change, not shrunk) and
  to its **shrunk scenario file** run on the release where it was found; then the notes
  and the campaign's line;
- a grid of the shrunk files by release, coloured as the matrix is: the file's
  ``[[scenario.reproduces]]`` lists the releases that fail it (the release bisect), so
  those cells read "fails as the scenario says" and the rest "passes"; a surprise is a
  run that does not do what the written file says (``current`` failing a file is
  ``current`` having the bug). Every cell opens that run: its sequence diagram, pool
  chart, TCP view and transcript.

The runs are made again here (they are deterministic: the same runs the campaign made,
with the same trace hashes). An unshrunk schedule is judged by the invariants it broke
(its ``[expect]`` names them and the event it ended with), never by its starting
point's expectations, which the search ignored.

This module knows the exploration's report, its schedules and the runner; the page is
:mod:`scenarios.report.html`'s, the run views :mod:`scenarios.report.from_runs`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scenarios.explore.mutations import apply
from scenarios.explore.report import NOTE_WORDS, ExploreFailure, ExploreReport
from scenarios.explore.start import StartPoint
from scenarios.format import Scenario, load_scenario
from scenarios.report.from_runs import matrix_grid, run_id, run_view
from scenarios.report.model import Report, RunView, SummaryLine
from scenarios.runner import RunResult, run
from smtp.profiles import PROFILE_NAMES


def as_found(start: StartPoint, failure: ExploreFailure) -> RunResult:
    """The failure's first schedule as the search ran it, judged by the invariants it
    broke (and the event it ended with, so that only they decide)."""
    doc: dict[str, Any] = apply(start.doc, list(failure.mutations))
    meta = dict(doc["scenario"])
    meta["name"] = f"{start.name}-schedule-{failure.index}"
    meta["title"] = (f"schedule {failure.index} from {start.name} as found on "
                     f"{failure.signature.profile} ({len(failure.mutations)} change(s), "
                     f"not shrunk)")
    meta["description"] = "Changes from the starting point: " + (
        "; ".join(str(m) for m in failure.mutations) or "none")
    if failure.signature.profile != "current":  # as the written file says it
        meta["reproduces"] = [{"changelog": "not known: found by smtp-hil explore",
                               "profiles": [failure.signature.profile],
                               "why": failure.text[:400]}]
    doc["scenario"] = meta
    expect = {"event": doc["expect"]["event"], "invariants": [failure.signature.invariant]}
    result: RunResult | None = None
    for _ in range(2):
        doc["expect"] = expect
        scenario = Scenario.model_validate(doc, context={"source": start.source})
        result = run(scenario, failure.signature.profile, failure.kernel_seed)
        if result.terminal is None or result.terminal.event.name == expect["event"]:
            break
        expect = {**expect, "event": result.terminal.event.name}
    assert result is not None
    return result


def _on_every_release(path: str, seed: int) -> dict[str, RunResult] | None:
    written = load_scenario(path)
    try:
        return {p: run(written, p, seed) for p in PROFILE_NAMES}
    except Exception:  # device.no_crash: a release's run raises
        return None


def explore_report(report: ExploreReport, starts: Mapping[str, StartPoint], *,
                   title: str | None = None) -> Report:
    """The HTML report's records of ``report`` (see the module docstring); ``starts``:
    the campaign's starting points by name (a failure whose start is missing is shown
    without its unshrunk run)."""
    views: dict[str, RunView] = {}
    on_releases: dict[str, dict[str, RunResult] | None] = {}
    # each written file's run on every release (None: its runs raise, a crash case)
    lines: list[SummaryLine] = []
    for group in report.groups():
        first = group[0]
        links: list[tuple[str, str]] = []
        raised = False
        start = starts.get(first.start)
        if start is not None:
            try:
                found = as_found(start, first)
            except Exception:  # device.no_crash: nothing to draw
                raised = True
            else:
                views.setdefault(run_id(found), run_view(found))
                links.append((f"schedule {first.index} as found", run_id(found)))
        if first.file is not None:
            if first.file not in on_releases:  # two failures may share one file
                on_releases[first.file] = _on_every_release(first.file, first.shrunk_seed)
            runs = on_releases[first.file]
            raised |= runs is None
            for profile in dict.fromkeys(f.signature.profile for f in group):
                if runs is not None:
                    links.append((f"shrunk, on {profile}", run_id(runs[profile])))
        text = first.line([f.signature.profile for f in group])
        lines.append(SummaryLine(text + (" (the run raises: nothing to draw)" if raised else ""),
                                 failure=True, links=tuple(links)))
    for text in report.summary():
        failing = text.startswith("FAIL ")
        if not (failing and report.failures):  # the shrunk failures are above, with links
            lines.append(SummaryLine(text, failure=failing))
    shrunk_runs = [r for runs in on_releases.values() if runs for r in runs.values()]
    for result in shrunk_runs:
        views.setdefault(run_id(result), run_view(result))
    grid = matrix_grid(shrunk_runs) if shrunk_runs else None
    return Report(title=title or report.command, runs=tuple(views.values()), matrix=grid,
                  summary=tuple(lines), summary_title=_heading(report))


def _heading(report: ExploreReport) -> str:
    distinct = len(report.groups())
    if report.interrupted:
        return "interrupted: the failing schedules found so far, not shrunk"
    if distinct:
        return f"{distinct} distinct failure{'s' if distinct > 1 else ''} found"
    return "nothing failed" + (
        f" ({sum(report.notes.values())} run(s) noted: "
        + ", ".join(NOTE_WORDS.get(k, k).split(" (")[0] for k in sorted(report.notes)) + ")"
        if report.notes else "")
