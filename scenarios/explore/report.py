"""What an exploration found, as data: :class:`ExploreReport` and its failures.

A report holds the campaign's settings (seed, releases, starting points, what varied,
which invariants), how much ran and how fast, every failing schedule (release, index and
signatures: so the shards of a sharded campaign merge into exactly the unsharded result,
:func:`merge`), the notes counted by kind with an example of each, and one
:class:`ExploreFailure` per distinct failure (signature): the first schedule that showed
it, its shrunk form, the scenario file written for it, the releases that fail it the
same way, and whether a fresh process ran it the same way.

:meth:`ExploreReport.summary` is the text the CLI prints and the pytest helper shows;
:meth:`ExploreReport.to_json` what ``--json`` prints.

This module knows the report's shape and words; it runs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios.explore.loop import Signature
from scenarios.explore.mutations import Mutation
from smtp.profiles import PROFILE_NAMES as PROFILE_NAMES_ORDER


@dataclass(frozen=True)
class ExploreFailure:
    """One distinct failure (see the module docstring)."""

    signature: Signature
    text: str
    """The invariant's sentence on the schedule that first showed it."""
    start: str
    index: int
    kernel_seed: int
    mutations: tuple[Mutation, ...]
    shrunk: tuple[Mutation, ...]
    shrunk_seed: int
    shrink_runs: int
    shrunk_text: str
    """The invariant's sentence on the shrunk case."""
    file: str | None
    fails_on: tuple[str, ...]
    """Releases on which the shrunk case breaks the same invariant for the same reason."""
    current_keeps: bool
    """``current`` keeps the invariant on the shrunk case (else ``current`` has the bug)."""
    trace_sha256: str
    deterministic: bool | None
    """A fresh process ran the written file to the same trace hash (None: not checked)."""

    @property
    def fix_release(self) -> str | None:
        """The first release after the last one that fails, when that one passes."""
        order = list(PROFILE_NAMES_ORDER)
        failing = [order.index(p) for p in self.fails_on if p in order]
        if not failing or max(failing) + 1 >= len(order):
            return None
        return order[max(failing) + 1]

    def line(self, profiles: Sequence[str] = ()) -> str:
        """The summary line; ``profiles``: the releases where this same failure (the same
        shrunk case, invariant and reason) was found (default: this one's)."""
        changes = len(self.shrunk)
        what = "no change: the starting point itself" if not changes else (
            f"{changes} change{'s' if changes > 1 else ''}: "
            + "; ".join(str(m) for m in self.shrunk))
        where = f" -> {self.file}" if self.file else ""
        bisect = f"fails this way on {span(self.fails_on)}"
        fix = self.fix_release
        if fix is not None and self.current_keeps:
            bisect += f", passes from {fix}"
        elif not self.current_keeps:
            bisect += ", current fails it too"
        sure = "" if self.deterministic is not False else " NOT DETERMINISTIC"
        sig = self.signature
        label = sig.label() if len(profiles) <= 1 else sig.label().rsplit(" on ", 1)[0] + \
            f" on {span(profiles)}"
        return (f"FAIL {label} from {self.start} (schedule {self.index}, "
                f"shrunk in {self.shrink_runs} runs): {self.signature.invariant}: "
                f"{self.shrunk_text}{where} ({what}; {bisect}){sure}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExploreFailure:
        return cls(
            signature=Signature.from_json(data["signature"]), text=str(data["text"]),
            start=str(data["start"]), index=int(data["index"]),
            kernel_seed=int(data["kernel_seed"]),
            mutations=tuple(Mutation.from_json(m) for m in data["mutations"]),
            shrunk=tuple(Mutation.from_json(m) for m in data["shrunk_mutations"]),
            shrunk_seed=int(data["shrunk_seed"]), shrink_runs=int(data["shrink_runs"]),
            shrunk_text=str(data["shrunk_text"]), file=data.get("file"),
            fails_on=tuple(data["fails_on"]), current_keeps=bool(data["current_keeps"]),
            trace_sha256=str(data["trace_sha256"]), deterministic=data.get("deterministic"))

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature.to_json(), "invariant": self.signature.invariant,
            "reason": self.signature.reason, "profile": self.signature.profile,
            "text": self.text, "start": self.start, "index": self.index,
            "kernel_seed": self.kernel_seed,
            "mutations": [m.to_json() for m in self.mutations],
            "shrunk_mutations": [m.to_json() for m in self.shrunk],
            "shrunk_seed": self.shrunk_seed, "shrink_runs": self.shrink_runs,
            "shrunk_text": self.shrunk_text, "file": self.file,
            "fails_on": list(self.fails_on), "current_keeps": self.current_keeps,
            "trace_sha256": self.trace_sha256, "deterministic": self.deterministic,
        }


def span(profiles: Sequence[str]) -> str:
    """``2.0``, ``1.0 .. 2.4`` (a run of consecutive releases), or a list."""
    order = list(PROFILE_NAMES_ORDER)
    places = sorted(order.index(p) for p in profiles if p in order)
    if not places:
        return "no release"
    if len(places) > 2 and places == list(range(places[0], places[-1] + 1)):
        return f"{order[places[0]]} .. {order[places[-1]]}"
    return ", ".join(order[i] for i in places)


@dataclass(frozen=True)
class FailingSchedule:
    """A schedule that failed: where, and how (its signatures)."""

    profile: str
    index: int
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "index": self.index,
                "signatures": [s.to_json() for s in self.signatures]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FailingSchedule:
        return cls(str(data["profile"]), int(data["index"]),
                   tuple(Signature.from_json(s) for s in data["signatures"]))


@dataclass
class ExploreReport:
    """What one exploration (or one shard of it) found."""

    command: str
    version: str
    generator_version: str
    seed: int
    profiles: tuple[str, ...]
    starts: tuple[str, ...]
    vary: tuple[str, ...]
    invariants: tuple[str, ...]
    budget: int | None
    time_s: float | None
    shard: tuple[int, int] | None
    schedules_run: int = 0
    """Schedules per release (the same as ``--budget`` of that many, in this shard)."""
    runs: int = 0
    """Runs in all: schedules times releases."""
    elapsed_s: float = 0.0
    failures: list[ExploreFailure] = field(default_factory=list)
    failing: list[FailingSchedule] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    note_examples: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def per_second(self) -> float:
        return self.runs / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and not self.failing

    def groups(self) -> list[list[ExploreFailure]]:
        """The failures, one group per line of the summary: the same shrunk case breaking
        the same invariant for the same reason, on one release or several."""
        groups: dict[tuple[object, ...], list[ExploreFailure]] = {}
        for f in self.failures:
            key = (f.start, f.shrunk, f.shrunk_seed, f.signature.invariant, f.signature.reason,
                   f.signature.context)
            groups.setdefault(key, []).append(f)
        return list(groups.values())

    def summary(self) -> list[str]:
        """What the CLI prints at the end: one line per distinct failure, the notes, and
        how much ran."""
        lines = [same[0].line([f.signature.profile for f in same]) for same in self.groups()]
        if self.failing and not self.failures:
            lines += [f"FAIL {s.label()} (schedule {f.index}, not shrunk)"
                      for f in self.failing for s in f.signatures][:20]
        for kind, count in sorted(self.notes.items()):
            example = self.note_examples.get(kind)
            lines.append(f"info: {count} run(s) ended in {NOTE_WORDS.get(kind, kind)}"
                         + (f" (first: {example})" if example else ""))
        shard = f", shard {self.shard[0]}/{self.shard[1]}" if self.shard else ""
        lines.append(
            f"explore: {self.schedules_run} schedules x {len(self.profiles)} release(s) = "
            f"{self.runs} runs in {self.elapsed_s:.1f} s ({self.per_second:.0f}/s){shard}; "
            f"{len(self.failures) or len(self.failing)} failing, seed {self.seed}, space "
            f"{self.generator_version}" + (" (interrupted)" if self.interrupted else ""))
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "generator_version": self.generator_version,
            "command": self.command, "seed": self.seed, "profiles": list(self.profiles),
            "starts": list(self.starts), "vary": list(self.vary),
            "invariants": list(self.invariants), "budget": self.budget, "time_s": self.time_s,
            "shard": list(self.shard) if self.shard else None,
            "schedules_run": self.schedules_run, "runs": self.runs,
            "elapsed_s": round(self.elapsed_s, 3), "per_second": round(self.per_second, 1),
            "failures": [f.to_json() for f in self.failures],
            "failing_schedules": [f.to_json() for f in self.failing],
            "info": {kind: {"count": count, "example": self.note_examples.get(kind)}
                     for kind, count in sorted(self.notes.items())},
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExploreReport:
        """A report as :meth:`to_json` wrote it (``--json``, for ``--merge``); KeyError,
        ValueError or TypeError when it is not one."""
        shard = data.get("shard")
        report = cls(
            command=str(data["command"]), version=str(data["version"]),
            generator_version=str(data["generator_version"]), seed=int(data["seed"]),
            profiles=tuple(data["profiles"]), starts=tuple(data["starts"]),
            vary=tuple(data["vary"]), invariants=tuple(data["invariants"]),
            budget=data.get("budget"), time_s=data.get("time_s"),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            schedules_run=int(data["schedules_run"]), runs=int(data["runs"]),
            elapsed_s=float(data["elapsed_s"]),
            failures=[ExploreFailure.from_json(f) for f in data["failures"]],
            failing=[FailingSchedule.from_json(f) for f in data["failing_schedules"]],
            interrupted=bool(data.get("interrupted", False)))
        for kind, info in dict(data.get("info", {})).items():
            report.notes[str(kind)] = int(info["count"])
            if info.get("example"):
                report.note_examples[str(kind)] = str(info["example"])
        return report


NOTE_WORDS = {
    "third_outcome": "the third outcome (the mail stored, its reply never reached the client)",
    "inconsistent_server": "an inconsistent server (the outcome unknowable to any client)",
    "not_judged": "a case the invariants cannot judge",
}


def first_per_signature(failing: Iterable[FailingSchedule]) -> dict[Signature, int]:
    """The lowest schedule index of each signature: the case the campaign shrinks."""
    first: dict[Signature, int] = {}
    for schedule in failing:
        for signature in schedule.signatures:
            if signature not in first or schedule.index < first[signature]:
                first[signature] = schedule.index
    return first


def merge(reports: Sequence[ExploreReport]) -> ExploreReport:
    """The shards of one campaign as one report: every failing schedule, the notes, and
    per signature the failure of the lowest schedule (the one the unsharded campaign
    shrinks: shrinking is deterministic, so it shrinks to the same case)."""
    if not reports:
        raise ValueError("merge: no reports")
    head = reports[0]
    for report in reports[1:]:
        for what in ("generator_version", "seed", "profiles", "starts", "vary", "invariants",
                     "budget", "time_s"):
            if getattr(report, what) != getattr(head, what):
                raise ValueError(f"the reports are of different campaigns: {what} "
                                 f"{getattr(head, what)!r} and {getattr(report, what)!r}")
    merged = ExploreReport(
        command=head.command, version=head.version,
        generator_version=head.generator_version, seed=head.seed, profiles=head.profiles,
        starts=head.starts, vary=head.vary, invariants=head.invariants,
        budget=head.budget, time_s=head.time_s, shard=None)
    for report in reports:
        merged.schedules_run += report.schedules_run
        merged.runs += report.runs
        merged.elapsed_s = max(merged.elapsed_s, report.elapsed_s)
        merged.failing += report.failing
        merged.notes.update(report.notes)
        for kind, example in report.note_examples.items():
            merged.note_examples.setdefault(kind, example)
        merged.interrupted |= report.interrupted
    merged.failing.sort(key=lambda f: (f.index, PROFILE_NAMES_ORDER.index(f.profile)))
    best: dict[Signature, ExploreFailure] = {}
    for report in reports:
        for failure in report.failures:
            known = best.get(failure.signature)
            if known is None or failure.index < known.index:
                best[failure.signature] = failure
    merged.failures = sorted(best.values(), key=lambda f: (f.index, f.signature))
    return merged
