"""The scorecard of ``smtp-hil audit`` as it is printed: the header, each group's title
before its first case, one line per case as it ends, and at the end the summary line (or
the JSON) and the report, whoever was audited.

This module prints; it runs nothing.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from scenarios.audit.cases import CaseResult
from scenarios.audit.report import write_audit_report
from scenarios.audit.scorecard import (
    audit_exit_status,
    case_line,
    scorecard_json,
    summary_line,
)
from scenarios.format import AUDIT_GROUPS


def finish_audit(args: argparse.Namespace, out: TextIO, printer: Printer, audited: str,
                 results: list[CaseResult]) -> int:
    """The summary (or the JSON), the report; the exit status."""
    if args.json:
        out.write(json.dumps(scorecard_json(audited, results)) + "\n")
    else:
        printer.end(results)
    if args.report is not None:
        write_audit_report(args.report, audited, results)
    return audit_exit_status(results)


class Printer:
    """The scorecard's lines as the cases end: the header, each group's title before its
    first case, one line per case, the summary at the end."""

    def __init__(self, out: TextIO, audited: str, count: int, *, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.group: str | None = None
        self._write(f"smtp-hil audit: {audited}, {count} cases")

    def case(self, result: CaseResult) -> None:
        group = result.audit.group
        if group != self.group:
            self.group = group
            self._write("")
            self._write(AUDIT_GROUPS[group])
        self._write(case_line(result))

    def end(self, results: list[CaseResult]) -> None:
        self._write("")
        self._write(summary_line(results))

    def _write(self, line: str) -> None:
        if not self.quiet:
            self.out.write(line + "\n")
            self.out.flush()
