"""The scorecard of ``smtp-hil audit`` as it is printed: the header, each group's title
before its first case, one line per case as it ends, and at the end the summary line (or
the JSON) and the report, whoever was audited. As ``run`` and ``matrix`` do
(:mod:`scenarios.cli.progress`): ``--color`` paints PASS, FAIL and N/A, and standard
error shows the case that runs (``[3/58] starttls-stripped  1.2 s`` on a terminal, a
whole line every 5 s to a pipe or a file).

Ctrl-C: a case's line is printed and counted whole (:func:`~scenarios.cli.progress.
uninterrupted`); then the summary of the cases judged so far is printed (JSON:
``"interrupted": true`` and ``not_done``), the report holds them, standard error says
``smtp-hil: interrupted: 4 of 58 cases done, 54 not done`` and the exit status is 130.

This module prints; it runs nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from scenarios.audit.cases import CaseResult, CaseStatus
from scenarios.audit.report import write_audit_report
from scenarios.audit.scorecard import (
    audit_exit_status,
    case_line,
    scorecard_json,
    summary_line,
)
from scenarios.cli.progress import (
    EXIT_INTERRUPTED,
    Palette,
    Progress,
    Tone,
    say_interrupted,
    uninterrupted,
)
from scenarios.format import AUDIT_GROUPS, Scenario

_TONE: Final[dict[CaseStatus, Tone]] = {"pass": "pass", "fail": "fail",
                                        "not_applicable": "note"}


def print_audit(args: argparse.Namespace, out: TextIO, err: TextIO, audited: str,
                cases: Sequence[Scenario], audit: Callable[[Printer], object]) -> int:
    """Run ``audit``, which puts ``cases`` in this order and reports each case's result
    to the :class:`Printer` it is given, then print the summary (or the JSON) and write
    the report; the exit status. Ctrl-C during the audit ends it there (see the module
    docstring)."""
    total = len(cases)
    interrupted = False
    with Progress(err, total=total, command="smtp-hil audit", unit="cases") as progress:
        printer = Printer(out, audited, cases, quiet=args.json, progress=progress,
                          palette=Palette.for_stream(out, args.color))
        try:
            audit(printer)
        except KeyboardInterrupt:
            interrupted = True
    results = printer.results
    not_done = total - len(results) if interrupted else None
    if args.json:
        data = scorecard_json(audited, results)
        if not_done is not None:
            summary = data["summary"]
            assert isinstance(summary, dict)
            summary["exit"] = EXIT_INTERRUPTED
            data.update(interrupted=True, not_done=not_done)
        out.write(json.dumps(data) + "\n")
    else:
        printer.end(not_done)
    if args.report is not None:
        write_audit_report(args.report, audited, results, not_done)
    if not_done is not None:
        return say_interrupted(out, err, len(results), total, unit="cases")
    return audit_exit_status(results)


class Printer:
    """The scorecard's lines as the cases end: the header, each group's title before its
    first case, one line per case, the summary at the end; it keeps the results. The
    cases are put in the order given, so when one ends the next one starts (``progress``
    shows it)."""

    def __init__(self, out: TextIO, audited: str, cases: Sequence[Scenario], *,
                 quiet: bool, progress: Progress, palette: Palette) -> None:
        self.out = out
        self.quiet = quiet
        self.cases = cases
        self.progress = progress
        self.palette = palette
        self.group: str | None = None
        self.results: list[CaseResult] = []
        self._write(f"smtp-hil audit: {audited}, {len(cases)} cases")
        self._next()

    def case(self, result: CaseResult) -> None:
        """One case ended: its line is printed and it is counted, whole."""
        with uninterrupted(), self.progress.printing():
            self.results.append(result)
            group = result.audit.group
            if group != self.group:
                self.group = group
                self._write("")
                self._write(AUDIT_GROUPS[group])
            self._write(case_line(result, self._paint))
            self.progress.done()
            self._next()

    def _next(self) -> None:
        if len(self.results) < len(self.cases):
            self.progress.start(self.cases[len(self.results)].name)

    def _paint(self, word: str, status: CaseStatus) -> str:
        return self.palette.paint(word, _TONE[status])

    def end(self, not_done: int | None = None) -> None:
        """The summary line (of an interrupted audit: ``not_done`` cases left)."""
        self._write("")
        self._write(summary_line(self.results, not_done))

    def _write(self, line: str) -> None:
        if not self.quiet:
            self.out.write(line + "\n")
            self.out.flush()
