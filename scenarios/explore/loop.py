"""The exploration loop's unit of work: run one schedule on one release, judge it.

A :class:`Campaign` is everything a worker needs to run any schedule of it (the starting
points as documents, the campaign seed, the dimensions varied, the invariants checked):
plain, picklable data, the same in this process, a worker process or a Dask worker.
:func:`run_batch` runs schedules through the runner that ``smtp-hil run`` uses and
judges each with :mod:`scenarios.verdict.invariants`; an exception out of a run is the
``device.no_crash`` invariant broken, never the end of the campaign.

A failure's :class:`Signature` is (release, invariant, reason, context): the context
(TLS up, a watchdog reset, the server ended the connection; see
:func:`scenarios.verdict.invariants.context_of`) counts for the ``terminal.*``
invariants only, where it tells apart bugs that all end in a hang (on 2.0, a hang in
plaintext is the pipelined MAIL failure, one after a watchdog reset the busy-wait, one
in TLS where the server ended the connection the unchecked TLS state).

This module knows schedules, the runner and the invariants; nothing of processes,
files or printing.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios.explore.mutations import DIMENSIONS, Dimension, Mutation
from scenarios.explore.schedule import build, schedule
from scenarios.explore.start import StartPoint
from scenarios.format import INVARIANT_NAMES, InvariantName, Scenario
from scenarios.runner import RunResult, run
from scenarios.verdict.invariants import DEFAULT_INVARIANTS, InvariantReport, check
from scenarios.verdict.invariants import Violation as InvariantViolation


@dataclass(frozen=True, order=True)
class Signature:
    """How a run failed: what two runs must share to be "the same failure"."""

    profile: str
    invariant: InvariantName
    reason: str
    context: tuple[str, ...] = ()

    def label(self) -> str:
        """``hang (tls, server ended) on 2.0``."""
        where = f" ({', '.join(c.replace('_', ' ') for c in self.context)})" \
            if self.context else ""
        return f"{self.reason}{where} on {self.profile}"

    def to_json(self) -> dict[str, object]:
        return {"profile": self.profile, "invariant": self.invariant, "reason": self.reason,
                "context": list(self.context)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        invariant = data["invariant"]
        if invariant not in INVARIANT_NAMES:
            raise ValueError(f"unknown invariant {invariant!r}")
        return cls(str(data["profile"]), invariant, str(data["reason"]),
                   tuple(str(c) for c in data.get("context", ())))


@dataclass(frozen=True)
class Campaign:
    """What any process needs to run any schedule of a campaign."""

    starts: tuple[StartPoint, ...]
    seed: int = 0
    vary: tuple[Dimension, ...] = DIMENSIONS
    invariants: tuple[InvariantName, ...] = DEFAULT_INVARIANTS


@dataclass(frozen=True)
class Outcome:
    """One schedule on one release: what ran and what broke (``failures``: each
    signature with the invariant's sentence) or was noted (``notes``: note kinds)."""

    profile: str
    index: int
    start: str
    kernel_seed: int
    mutations: tuple[Mutation, ...]
    failures: tuple[tuple[Signature, str], ...] = ()
    notes: tuple[str, ...] = ()
    trace_sha256: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.failures)


@dataclass
class Judged:
    """A run and its judgement (what shrinking, the bisect and the writer need)."""

    result: RunResult | None
    report: InvariantReport
    failures: list[tuple[Signature, str]] = field(default_factory=list)


def signatures(profile: str, report: InvariantReport) -> list[tuple[Signature, str]]:
    """Each violation's signature and sentence, once per signature."""
    out: dict[Signature, str] = {}
    for v in report.violations:
        context = report.context if v.invariant.startswith("terminal.") else ()
        out.setdefault(Signature(profile, v.invariant, v.reason, context), v.text)
    return sorted(out.items())


def judge_run(scenario: Scenario, profile: str, kernel_seed: int,
              invariants: Sequence[InvariantName]) -> Judged:
    """Run ``scenario`` and judge it; an exception is ``device.no_crash`` broken."""
    try:
        result = run(scenario, profile, kernel_seed)
    except Exception as exc:  # any exception out of a run is a finding
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = (f"the run raised {type(exc).__name__}: {exc} "
                f"(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})")
        report = InvariantReport(
            violations=(InvariantViolation("device.no_crash", "exception", text),))
        return Judged(None, report, signatures(profile, report))
    report = check(result, invariants)
    return Judged(result, report, signatures(profile, report))


def run_schedule(campaign: Campaign, profile: str, index: int) -> Outcome:
    """Schedule ``index`` of ``campaign`` on release ``profile``, judged."""
    planned = schedule(campaign.seed, campaign.starts, index, campaign.vary)
    judged = judge_run(build(planned.start, planned.mutations), profile, planned.kernel_seed,
                       campaign.invariants)
    return Outcome(profile=profile, index=index, start=planned.start.name,
                   kernel_seed=planned.kernel_seed, mutations=planned.mutations,
                   failures=tuple(judged.failures),
                   notes=tuple(n.kind for n in judged.report.notes),
                   trace_sha256=judged.result.trace_sha256 if judged.result else "")


@dataclass(frozen=True)
class BatchResult:
    """What a batch sends back: only the failing outcomes in full (they are few), the
    note counts and the trace hash of every schedule run."""

    profile: str
    indices: tuple[int, ...]
    failing: tuple[Outcome, ...]
    notes: tuple[tuple[str, ...], ...]
    """The note kinds of each schedule, in the order of ``indices``."""
    hashes: tuple[str, ...]


def run_batch(campaign: Campaign, profile: str, indices: Sequence[int]) -> BatchResult:
    """Run the schedules ``indices`` of ``campaign`` on ``profile`` (in one process)."""
    failing: list[Outcome] = []
    notes: list[tuple[str, ...]] = []
    hashes: list[str] = []
    for index in indices:
        outcome = run_schedule(campaign, profile, index)
        notes.append(outcome.notes)
        hashes.append(outcome.trace_sha256)
        if outcome.failed:
            failing.append(outcome)
    return BatchResult(profile, tuple(indices), tuple(failing), tuple(notes), tuple(hashes))
