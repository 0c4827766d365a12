"""``explore()``: the public entry of an exploration, for the CLI, pytest, Robot and teams.

It checks its arguments (bad input is a :class:`~emulator.userinput.UserInputError`
naming what is wrong, as everywhere), loads the starting points, runs the schedules on
the executor asked for, keeps every failing schedule, then examines the first schedule
of each distinct failure (:mod:`scenarios.explore.examine`: shrink, bisect, write, run
again) and returns an :class:`~scenarios.explore.report.ExploreReport`.

What ran is always a prefix of the campaign: with ``budget=N`` the schedules 0 .. N-1
(those of the shard with ``shard=(K, N)``), on every release asked for; with ``time_s``
the longest prefix that completed in time (the report says how many: the same as that
``budget``); with ``stop_at_first`` the prefix up to the first failing schedule. So the
report is the same whatever the executor and the number of jobs, and the same again
for the same seed. (Interrupted by Ctrl-C, it shows every failing schedule that finished,
unshrunk.)

This module knows the search's bookkeeping; the schedules are :mod:`scenarios.explore.
loop`'s, the processes :mod:`scenarios.explore.executors`'.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from emulator.userinput import UserInputError
from scenarios.explore.examine import examine
from scenarios.explore.executors import Task, batches, code_fingerprint, make_executor
from scenarios.explore.loop import BatchResult, Campaign, Outcome, Signature
from scenarios.explore.mutations import DIMENSIONS, Dimension
from scenarios.explore.report import ExploreReport, FailingSchedule, first_per_signature
from scenarios.explore.schedule import in_shard
from scenarios.explore.space import GENERATOR_VERSION
from scenarios.explore.start import StartPoint, load_start
from scenarios.format import INVARIANT_NAMES, InvariantName
from scenarios.verdict.invariants import DEFAULT_INVARIANTS
from smtp.profiles import PROFILE_NAMES, check_profile_name

_Name = TypeVar("_Name", bound=str)

BATCH: int = 16
"""Consecutive schedules per task: big enough to amortise a task's cost, small enough
to keep two cores busy on small budgets."""


@dataclass(frozen=True)
class Progress:
    """How far a search is: for progress lines."""

    schedules: int
    """Schedules done on every release (a prefix)."""
    total: int | None
    runs: int
    per_second: float
    failing: int
    distinct: int
    notes: int
    starts: tuple[str, ...]
    profiles: tuple[str, ...]


def _profiles(profiles: str | Sequence[str]) -> tuple[str, ...]:
    names = [profiles] if isinstance(profiles, str) else list(profiles)
    if "all" in names:
        return PROFILE_NAMES
    out = []
    for name in names:
        try:
            out.append(check_profile_name(name))
        except ValueError as exc:
            raise UserInputError(f"--profile: {exc}") from None
    if not out:
        raise UserInputError("--profile: name at least one release")
    return tuple(dict.fromkeys(out))


def _choice(what: str, values: Iterable[str] | None, known: Sequence[_Name],
            default: Sequence[_Name]) -> tuple[_Name, ...]:
    if values is None:
        return tuple(default)
    chosen = [v.strip() for v in values if v.strip()]
    unknown = [v for v in chosen if v not in known]
    if unknown or not chosen:
        raise UserInputError(f"{what}: expected some of {', '.join(known)}, got "
                             f"{', '.join(map(repr, unknown)) or 'nothing'}")
    return tuple(v for v in known if v in chosen)


def explore(scenarios: Sequence[str | StartPoint], profiles: str | Sequence[str] = "current",
            *, budget: int | None = 200, time_s: float | None = None, seed: int = 0,
            vary: Iterable[str] | None = None, invariants: Iterable[str] | None = None,
            jobs: int | None = 1, scheduler: str | None = None,
            shard: tuple[int, int] | None = None, out: str | Path | None = None,
            stop_at_first: bool = False, command: str | None = None,
            progress: Callable[[Progress], None] | None = None) -> ExploreReport:
    """Explore from ``scenarios`` (catalog names or scenario file paths) on ``profiles``
    (a release, several, or ``"all"``): see the module docstring. ``out``: the folder
    for the shrunk scenario files (None: none kept); ``vary``: the dimensions to change
    (``server``, ``link``, ``job``, ``device``; all by default); ``invariants``: the ones
    to check (the default set: every one but ``tls.downgrade_announced``)."""
    names = _profiles(profiles)
    dims: tuple[Dimension, ...] = _choice("--vary", vary, DIMENSIONS, DIMENSIONS)
    checked: tuple[InvariantName, ...] = _choice("--invariant", invariants, INVARIANT_NAMES,
                                                 DEFAULT_INVARIANTS)
    if time_s is not None:
        budget = None
        if not time_s > 0:
            raise UserInputError(f"--time: expected seconds > 0, got {time_s}")
    elif budget is None or budget < 1:
        raise UserInputError(f"--budget: expected a number of schedules >= 1, got {budget}")
    if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise UserInputError(f"--shard: expected K/N with 0 <= K < N, got {shard[0]}/{shard[1]}")
    if jobs is not None and jobs < 1:
        raise UserInputError(f"--jobs: expected a number of processes >= 1, got {jobs}")
    if not scenarios:
        raise UserInputError("name at least one starting scenario")
    starts = tuple(s if isinstance(s, StartPoint) else load_start(s) for s in scenarios)
    if len({s.name for s in starts}) != len(starts):
        raise UserInputError("starting scenarios: each name once (two files with one name?)")
    campaign = Campaign(starts, seed, dims, checked)
    report = ExploreReport(
        command=command or _command(starts, names, seed, budget, time_s, dims, shard),
        version=code_fingerprint(), generator_version=GENERATOR_VERSION, seed=seed,
        profiles=names, starts=tuple(s.name for s in starts), vary=dims, invariants=checked,
        budget=budget, time_s=time_s, shard=shard)
    search = _Search(campaign, report, stop_at_first, progress)
    executor = make_executor(jobs, scheduler)
    try:
        search.run(executor.run(campaign, search.tasks(budget, time_s, shard)))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        executor.close()
    search.finish()
    if report.interrupted:
        return report
    firsts = search.firsts()
    try:
        report.failures = examine(campaign, firsts, Path(out) if out is not None else None,
                                  report.command)
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def _command(starts: Sequence[StartPoint], profiles: Sequence[str], seed: int,
             budget: int | None, time_s: float | None, vary: Sequence[str],
             shard: tuple[int, int] | None) -> str:
    profile = "all" if tuple(profiles) == PROFILE_NAMES else ",".join(profiles)
    words = ["smtp-hil explore", *(s.name if s.source.startswith("catalog:") else s.source
                                   for s in starts), f"--profile {profile}", f"--seed {seed}"]
    words.append(f"--budget {budget}" if budget is not None else f"--time {time_s:g}")
    if tuple(vary) != DIMENSIONS:
        words.append(f"--vary {','.join(vary)}")
    if shard is not None:
        words.append(f"--shard {shard[0]}/{shard[1]}")
    return " ".join(words)


class _Search:
    """The bookkeeping of one search: what finished, what failed, when to stop."""

    def __init__(self, campaign: Campaign, report: ExploreReport, stop_at_first: bool,
                 progress: Callable[[Progress], None] | None) -> None:
        self.campaign = campaign
        self.report = report
        self.stop_at_first = stop_at_first
        self.progress = progress
        self.done: set[tuple[str, int]] = set()
        self.failing: dict[tuple[str, int], Outcome] = {}
        self.notes: dict[tuple[str, int], tuple[str, ...]] = {}
        self.noted = 0
        """How many runs in ``notes`` have a note (kept as they come: progress is
        reported after every batch, and a count over every run so far grew with it)."""
        self.signatures: set[Signature] = set()
        self.first_failure: int | None = None
        self.started = time.monotonic()
        self.deadline: float | None = None
        self.total: int | None = None

    def tasks(self, budget: int | None, time_s: float | None,
              shard: tuple[int, int] | None) -> Iterator[Task]:
        self.total = None if budget is None else sum(
            1 for i in range(budget) if in_shard(i, shard))
        self.deadline = None if time_s is None else self.started + time_s
        limit = itertools.count() if budget is None else iter(range(budget))
        indices = (i for i in limit if in_shard(i, shard))
        for task in batches(self.report.profiles, indices, BATCH):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return
            if self.stop_at_first and self.first_failure is not None:
                return
            yield task

    def run(self, results: Iterator[BatchResult]) -> None:
        for result in results:
            for index, notes in zip(result.indices, result.notes, strict=True):
                self.done.add((result.profile, index))
                self.notes[(result.profile, index)] = notes
                self.noted += bool(notes)
            for outcome in result.failing:
                self.failing[(outcome.profile, outcome.index)] = outcome
                self.signatures.update(s for s, _ in outcome.failures)
                if self.first_failure is None or outcome.index < self.first_failure:
                    self.first_failure = outcome.index
            if self.progress is not None:
                self.progress(self._progress())

    def _prefix(self) -> list[int]:
        """The shard's indices done on every release, from the first, without a gap."""
        prefix = []
        for index in itertools.count():
            if not in_shard(index, self.report.shard):
                continue
            if not all((p, index) in self.done for p in self.report.profiles):
                break
            prefix.append(index)
        return prefix

    def _progress(self) -> Progress:
        runs = len(self.done)
        elapsed = time.monotonic() - self.started
        return Progress(schedules=runs // max(1, len(self.report.profiles)), total=self.total,
                        runs=runs, per_second=runs / elapsed if elapsed > 0 else 0.0,
                        failing=len(self.failing), distinct=len(self.signatures),
                        notes=self.noted,
                        starts=self.report.starts, profiles=self.report.profiles)

    def finish(self) -> None:
        prefix = self._prefix()
        if self.stop_at_first and self.first_failure is not None:
            prefix = [i for i in prefix if i <= self.first_failure]
        report = self.report
        # Interrupted, every failure seen is shown (what was found so far); otherwise
        # only the prefix counts, so the result is the same however the work was spread.
        kept = {i for _, i in self.done} if report.interrupted else set(prefix)
        report.schedules_run = len(prefix)
        report.runs = len(prefix) * len(report.profiles)
        report.elapsed_s = time.monotonic() - self.started
        order = {p: n for n, p in enumerate(report.profiles)}
        report.failing = [
            FailingSchedule(o.profile, o.index, tuple(s for s, _ in o.failures))
            for o in sorted(self.failing.values(), key=lambda o: (o.index, order[o.profile]))
            if o.index in kept]
        for (profile, index), kinds in sorted(self.notes.items(),
                                              key=lambda kv: (kv[0][1], order[kv[0][0]])):
            if index not in kept:
                continue
            for kind in kinds:
                report.notes[kind] += 1
                start = self.campaign.starts[index % len(self.campaign.starts)].name
                report.note_examples.setdefault(kind, f"{profile} schedule {index} from {start}")

    def firsts(self) -> list[tuple[Outcome, Signature, str]]:
        """Each signature's first schedule (lowest index) with its sentence."""
        first = first_per_signature(self.report.failing)
        out = []
        for signature, index in sorted(first.items(), key=lambda kv: (kv[1], kv[0])):
            outcome = self.failing[(signature.profile, index)]
            text = next(t for s, t in outcome.failures if s == signature)
            out.append((outcome, signature, text))
        return out
