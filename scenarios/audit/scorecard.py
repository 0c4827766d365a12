"""The audit's scorecard: one line per case, grouped, and a summary line; or JSON.

:func:`scorecard_lines` is the text a person reads::

    smtp-hil audit: curl (scenarios/outside/dut/curl.toml), 58 cases

    STARTTLS stripping and injection
      PASS  starttls-stripped                        gives up when STARTTLS is ... (exit 64)
      FAIL  starttls-refused-454                     it claims it delivered (exit 0)
      N/A   tls-cert-checked-against-rtc             a device setting (device.rtc) that ...
    ...
    Summary: 44 pass, 9 fail, 5 not applicable (58 cases); exit 1

(an audit stopped by Ctrl-C: ``Summary so far: 3 pass, 1 fail, 0 not applicable (4 of 58
cases; interrupted, 54 not done)``).

:func:`scorecard_json` the same as data. :func:`audit_exit_status`: 0 only when at least
one case applied and every case that applied passed; an audit that tested nothing is not
a pass.

This module knows case results; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from scenarios.audit.cases import CaseResult, CaseStatus
from scenarios.format import AUDIT_GROUPS

EXIT_PASS, EXIT_FAIL = 0, 1
_WORD: Final = {"pass": "PASS", "fail": "FAIL", "not_applicable": "N/A"}
_NAME_WIDTH: Final = 44
_REASON_WIDTH: Final = 220


def audit_exit_status(results: Sequence[CaseResult]) -> int:
    applicable = [r for r in results if r.status != "not_applicable"]
    passed = bool(applicable) and all(r.status == "pass" for r in applicable)
    return EXIT_PASS if passed else EXIT_FAIL


def summary_line(results: Sequence[CaseResult], not_done: int | None = None) -> str:
    """The summary of ``results``; of an audit interrupted with ``not_done`` cases left,
    what was judged so far (no exit status: the audit did not end)."""
    counts = {status: sum(r.status == status for r in results) for status in _WORD}
    tally = (f"{counts['pass']} pass, {counts['fail']} fail, "
             f"{counts['not_applicable']} not applicable")
    if not_done is not None:
        return (f"Summary so far: {tally} ({len(results)} of {len(results) + not_done} "
                f"cases; interrupted, {not_done} not done)")
    text = f"Summary: {tally} ({len(results)} cases)"
    if not counts["pass"] and not counts["fail"]:
        text += "; no case applied: nothing was tested"
    return f"{text}; exit {audit_exit_status(results)}"


def case_line(result: CaseResult,
              paint: Callable[[str, CaseStatus], str] | None = None) -> str:
    """``  PASS  name  reason``; ``paint`` (a terminal's colours) is given the word and
    the status and returns the word to show (the columns stay aligned)."""
    reason = result.reason
    if len(reason) > _REASON_WIDTH:
        reason = reason[:_REASON_WIDTH - 1] + "…"
    word = _WORD[result.status]
    shown = paint(word, result.status) if paint is not None else word
    return f"  {shown}{' ' * (5 - len(word))} {result.scenario.name:<{_NAME_WIDTH}} {reason}"


def scorecard_lines(audited: str, results: Sequence[CaseResult]) -> list[str]:
    """The scorecard of ``results`` (in scorecard order) for ``audited``."""
    lines = [f"smtp-hil audit: {audited}, {len(results)} cases"]
    for group, title in AUDIT_GROUPS.items():
        in_group = [r for r in results if r.audit.group == group]
        if not in_group:
            continue
        lines += ["", title, *(case_line(r) for r in in_group)]
    lines += ["", summary_line(results)]
    return lines


def scorecard_json(audited: str, results: Sequence[CaseResult]) -> dict[str, object]:
    """The scorecard as JSON-ready data."""
    counts = {status: sum(r.status == status for r in results) for status in _WORD}
    return {
        "client": audited,
        "cases": [{
            "scenario": r.scenario.name, "group": r.audit.group,
            "group_title": AUDIT_GROUPS[r.audit.group], "case": r.audit.case,
            "outcome": r.audit.outcome, "status": r.status, "reason": r.reason,
            "reasons": list(r.reasons),
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                       for c in r.checks],
            "notes": list(r.notes), "exit_status": r.exit_status,
            "wall_s": round(r.wall_s, 3),
        } for r in results],
        "summary": {**counts, "cases": len(results), "exit": audit_exit_status(results)},
    }
