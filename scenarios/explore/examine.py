"""From a failing schedule to a finding: shrink it, write it, bisect it, run it again.

For each distinct failure (its first schedule), :func:`examine`:

1. shrinks it (:mod:`scenarios.explore.shrink`) with the predicate "the same signature on
   the same release";
2. runs the shrunk case on ``current`` (what a correct client does there becomes the
   file's ``[expect]``, when ``current`` keeps the invariant);
3. runs it on every release (the release bisect): the releases where it breaks the same
   invariant for the same reason, and those whose verdict fails the written file (its
   ``[[scenario.reproduces]]``);
4. writes the scenario file (failures that shrank to the same case share one file, with
   each broken invariant in ``[expect] invariants``), reads it back and checks that it
   describes exactly the run that failed;
5. runs the written file again in a fresh process (another ``PYTHONHASHSEED``,
   :mod:`scenarios.determinism`) and compares trace hashes: the ``run.deterministic``
   invariant.

This module knows shrinking, the runner, the writer and the determinism worker; nothing
of searching or printing.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.determinism import FreshProcess
from scenarios.explore.loop import Campaign, Judged, Outcome, Signature, judge_run
from scenarios.explore.mutations import Mutation, apply
from scenarios.explore.report import ExploreFailure, span
from scenarios.explore.schedule import build
from scenarios.explore.shrink import Shrunk, shrink
from scenarios.explore.start import TIME_LIMIT_S, StartPoint
from scenarios.explore.writer import render, scenario_name, write_new
from scenarios.format import InvariantName, Scenario, load_scenario, parse_scenario
from scenarios.runner import RunResult, run
from scenarios.verdict.client import judge
from smtp.events import ClientError, describe
from smtp.profiles import PROFILE_NAMES


class RoundTripError(RuntimeError):
    """A written file does not read back as the scenario that ran (a bug of the writer)."""


@dataclass
class _Case:
    """One shrunk case and the failures that shrank to it."""

    start: StartPoint
    shrunk: Shrunk
    failures: list[tuple[Outcome, Signature, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, tuple[Mutation, ...], int]:
        return self.start.name, self.shrunk.mutations, self.shrunk.kernel_seed


def _same_failure(campaign: Campaign, start: StartPoint, signature: Signature
                  ) -> Callable[[tuple[Mutation, ...], int], bool]:
    def fails(mutations: tuple[Mutation, ...], seed: int) -> bool:
        judged = judge_run(build(start, mutations), signature.profile, seed,
                           campaign.invariants)
        return any(s == signature for s, _ in judged.failures)
    return fails


def examine(campaign: Campaign, firsts: Sequence[tuple[Outcome, Signature, str]],
            out: Path | None, command: str) -> list[ExploreFailure]:
    """The findings of ``firsts`` (each failure's first schedule, with its signature
    and sentence), their files written under ``out`` (a temporary folder when None)."""
    starts = {s.name: s for s in campaign.starts}
    cases: dict[tuple[str, tuple[Mutation, ...], int], _Case] = {}
    for outcome, signature, text in firsts:
        start = starts[outcome.start]
        shrunk = shrink(outcome.mutations, outcome.kernel_seed,
                        _same_failure(campaign, start, signature))
        case = _Case(start, shrunk)
        cases.setdefault(case.key, case).failures.append((outcome, signature, text))
    findings: list[ExploreFailure] = []
    if not cases:  # nothing failed: no fresh process to start (about 0.5 s of CPU)
        return findings
    with tempfile.TemporaryDirectory(prefix="smtp-hil-explore-") as scratch:
        folder = out if out is not None else Path(scratch)
        with FreshProcess() as fresh:
            for case in cases.values():
                findings += _finish(campaign, case, folder, out is not None, command, fresh)
    return sorted(findings, key=lambda f: (f.index, f.signature))


def _finish(campaign: Campaign, case: _Case, folder: Path, keep: bool, command: str,
            fresh: FreshProcess) -> list[ExploreFailure]:
    scenario = build(case.start, case.shrunk.mutations)
    seed = case.shrunk.kernel_seed
    invariants = sorted({sig.invariant for _, sig, _ in case.failures})
    judged = {p: judge_run(scenario, p, seed, campaign.invariants) for p in PROFILE_NAMES}
    current = judged["current"]
    broken_on_current = {sig.invariant for sig, _ in current.failures}
    current_keeps = not broken_on_current & set(invariants)
    signature, first_text = case.failures[0][1:]
    shown = next((t for s, t in judged[signature.profile].failures if s == signature),
                 first_text)
    name = scenario_name("explore", case.start.name, signature.reason, signature.profile)
    doc = _document(case, name, invariants, current, current_keeps, shown, reproduces=[])
    header = _header(case, command, judged, current_keeps)
    draft = parse_scenario(render(doc, header), source=f"{name}.toml")
    failing = [p for p, j in judged.items()  # a run that raised fails any verdict
               if p != "current" and (j.result is None or not judge(
                   dataclasses.replace(j.result, scenario=draft)).passed)]
    doc = _document(case, name, invariants, current, current_keeps, shown,
                    reproduces=failing)
    text = render(doc, header)
    path = write_new(folder, name, text)
    written = load_scenario(path)
    _check_round_trip(written, scenario, path)
    try:
        mine: RunResult | None = run(written, signature.profile, seed)
    except Exception:  # the case is a crash (device.no_crash): no trace to compare
        mine = None
    deterministic: bool | None = None
    if mine is not None:
        fresh.submit(str(path), signature.profile, seed)
        deterministic = fresh.compare(mine).trace_sha256 == mine.trace_sha256
    findings = []
    for first, sig, first_text in case.failures:
        same = [p for p, j in judged.items()
                if any((s.invariant, s.reason) == (sig.invariant, sig.reason)
                       for s, _ in j.failures)]
        shrunk_text = next((t for s, t in judged[sig.profile].failures if s == sig), first_text)
        findings.append(ExploreFailure(
            signature=sig, text=first_text, start=case.start.name, index=first.index,
            kernel_seed=first.kernel_seed, mutations=first.mutations,
            shrunk=case.shrunk.mutations, shrunk_seed=seed, shrink_runs=case.shrunk.runs,
            shrunk_text=shrunk_text, file=str(path) if keep else None,
            fails_on=tuple(same), current_keeps=current_keeps,
            trace_sha256=mine.trace_sha256 if mine is not None else "",
            deterministic=deterministic))
    return findings


def _check_round_trip(written: Scenario, ran: Scenario, path: Path) -> None:
    for section in ("device", "link", "server", "job"):
        if getattr(written, section).model_dump() != getattr(ran, section).model_dump():
            raise RoundTripError(f"{path}: [{section}] does not read back as the scenario "
                                 f"that ran")


def _expect(current: Judged, current_keeps: bool, invariants: list[InvariantName],
            mail: bool) -> dict[str, Any]:
    result = current.result
    expect: dict[str, Any] = {}
    terminal = result.terminal if result is not None else None
    if terminal is None:
        expect["event"] = "timeout"
    else:
        event = terminal.event
        expect["event"] = event.name
        command = getattr(event, "command", None)
        if event.name in ("command_abort", "timeout") and isinstance(command, str):
            expect["command"] = command
        reply = getattr(event, "reply", None)
        if event.name != "timeout" and reply is not None:
            expect["reply_code"] = reply.code
        if isinstance(event, ClientError):
            expect["error_kind"] = event.kind.value
    if mail and result is not None and current_keeps:
        expect["mailbox_count"] = len(result.mailbox)
    expect["invariants"] = list(invariants)
    return expect


def _document(case: _Case, name: str, invariants: list[InvariantName], current: Judged,
              current_keeps: bool, text: str, reproduces: list[str]) -> dict[str, Any]:
    doc = apply(case.start.doc, list(case.shrunk.mutations))
    signature = case.failures[0][1]
    meta: dict[str, Any] = {
        "name": name,
        "title": f"explore: {signature.reason} on {signature.profile} from {case.start.name}",
        "description": (f"Found by smtp-hil explore from {case.start.name} "
                        f"({case.start.source}). Invariant {signature.invariant} broke on "
                        f"{signature.profile}: {text}"),
        "tags": ["explore"],
        "time_limit_s": int(TIME_LIMIT_S) if TIME_LIMIT_S.is_integer() else TIME_LIMIT_S,
    }
    if reproduces:
        meta["reproduces"] = [{
            "changelog": f"not known: found by smtp-hil explore ({', '.join(invariants)})",
            "profiles": reproduces,
            "why": text if len(text) <= 400 else text[:397] + "...",
        }]
    doc["scenario"] = meta
    doc["expect"] = _expect(current, current_keeps, invariants,
                            doc.get("job", {}).get("kind", "mail") == "mail")
    return doc


def _header(case: _Case, command: str, judged: dict[str, Judged],
            current_keeps: bool) -> list[str]:
    first, signature, _ = case.failures[0]
    lines = [f"Found by: {command} (schedule {first.index}, release {signature.profile})"]
    for _, sig, _text in case.failures:
        shown = next((t for s, t in judged[sig.profile].failures if s == sig), _text)
        lines.append(f"Invariant broken on {sig.profile}: {sig.invariant} ({sig.reason}): "
                     f"{shown}")
    changes = case.shrunk.mutations
    lines.append(f"Starting point: {case.start.name} ({case.start.source}); "
                 + ("no change from it." if not changes else "changes from it:"))
    lines += [f"  - {m}" for m in changes]
    if case.shrunk.kernel_seed:
        lines.append(f"Kernel seed {case.shrunk.kernel_seed}: run it with --seed "
                     f"{case.shrunk.kernel_seed} (it does not fail this way with seed 0).")
    fails = [p for p, j in judged.items()
             if any(s.invariant == signature.invariant and s.reason == signature.reason
                    for s, _ in j.failures)]
    lines.append(f"Fails this way on {span(fails)} (release bisect).")
    terminal = judged["current"].result.terminal if judged["current"].result else None
    what = describe(terminal.event) if terminal is not None else "no terminal event"
    lines.append(f"[expect] is what current does here ({what})"
                 + ("; it keeps every invariant named." if current_keeps else
                    "; current breaks the invariant too: a bug in current."))
    return lines
