"""`make explore`: does the explorer rediscover the changelog? The full campaign.

From the five happy paths (starttls, pipelining, chunking, attachments, date-header),
which encode no bug, `smtp-hil explore --profile all --budget 2000 --seed 0` runs every
schedule on every release; then the other happy paths (implicit-tls, auth-plain,
cc-bcc-reply-to, dsn, rcpt-partial-reject) run on `current` alone. Prints the
rediscovery table: for each release and each field bug of the changelog that faults or
inputs can reach, the schedule at which the explorer first found it (with the shrunk
file), `-` where the release does not have the bug, MISSED where it has and the
explorer did not find it; and every failure on `current` (there must be none).

Which bug a finding is: the explorer itself knows no bug and needs no profile flag (its
release bisect names the fix). To label the table, this script flips one changelog flag
of the finding's release back to `current`'s value (a derived profile, registered in
this process only) and runs the shrunk case again: the flags whose flip makes the
invariant hold are the finding's bugs. Measurement only.

Exit status 0 when every release found each of its bugs and `current` found nothing
(notes allowed), 1 otherwise.

    .venv/bin/python bench/explore_rediscovery.py [--budget N] [--seed K] [--jobs J]
        [--out DIR] [--profiles P,P] [--starts A,B] [--others-budget N]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path

from scenarios.explore import ExploreReport, explore, load_start
from scenarios.explore.loop import judge_run
from scenarios.explore.report import ExploreFailure
from scenarios.explore.schedule import build
from scenarios.format import load_scenario
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES, PROFILES

STARTS = ("starttls", "pipelining", "chunking", "attachments", "date-header")
OTHERS = ("implicit-tls", "auth-plain", "cc-bcc-reply-to", "dsn", "rcpt-partial-reject")
BUGS = {  # the changelog's field bugs that faults or inputs reach, by profile flag
    "truncates_body_at_blank_line": "blank line",
    "misconverts_date_month_day": "month/day",
    "busy_waits_for_tx_buffers": "busy-wait",
    "pipelined_mail_failure_is_silent": "pipelined MAIL",
    "ignores_tls_connection_state": "TLS state",
    "no_timeout_while_tls_active": "TLS timeout",
}


def without(release: str, flag: str) -> str:
    """A profile like ``release`` with ``flag`` as ``current`` has it (this process only)."""
    name = f"{release}-without-{flag}"
    if name not in PROFILES:
        fixed = getattr(PROFILES["current"], flag)
        PROFILES[name] = dataclasses.replace(PROFILES[release], name=name, **{flag: fixed})
    return name


def bugs_of(failure: ExploreFailure, invariants: tuple[str, ...]) -> list[str]:
    """The changelog flags whose fix makes the shrunk case keep the invariant."""
    release = failure.signature.profile
    scenario = build(load_start(failure.start), failure.shrunk)
    found = []
    for flag in BUGS:
        if not getattr(PROFILES[release], flag):
            continue
        judged = judge_run(scenario, without(release, flag), failure.shrunk_seed,
                           invariants)  # type: ignore[arg-type]
        if not any((s.invariant, s.reason) == (failure.signature.invariant,
                                               failure.signature.reason)
                   for s, _ in judged.failures):
            found.append(flag)
    return found


def table(report: ExploreReport, releases: tuple[str, ...]) -> tuple[list[str], bool]:
    first: dict[tuple[str, str], ExploreFailure] = {}
    unlabelled: list[ExploreFailure] = []
    for failure in report.failures:
        release = failure.signature.profile
        if release == "current":
            continue
        flags = bugs_of(failure, report.invariants)
        if not flags:
            unlabelled.append(failure)
        for flag in flags:
            known = first.get((release, flag))
            if known is None or failure.index < known.index:
                first[(release, flag)] = failure
    head = "| release | " + " | ".join(BUGS.values()) + " |"
    lines = [head, "|" + "---|" * (len(BUGS) + 1)]
    complete = True
    for release in releases:
        if release == "current":
            continue
        cells = []
        for flag in BUGS:
            if not getattr(PROFILES[release], flag):
                cells.append("-")
            elif (release, flag) in first:
                cells.append(str(first[(release, flag)].index))
            else:
                cells.append("MISSED")
                complete = False
        lines.append(f"| {release} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("First finding of each bug (schedule, shrunk case, file):")
    for (release, flag), failure in sorted(first.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        changes = "; ".join(str(m) for m in failure.shrunk) or "the starting point itself"
        lines.append(f"  {BUGS[flag]} on {release}: schedule {failure.index} from "
                     f"{failure.start}, {failure.signature.invariant} ({failure.signature.reason})"
                     f": {changes} -> {failure.file}")
    for failure in unlabelled:
        lines.append(f"  not one of the six on {failure.signature.profile}: "
                     f"{failure.line()}")
    return lines, complete


def shrinking(report: ExploreReport) -> list[str]:
    """How short the shrunk cases are, how many runs shrinking took, and whether each
    written file fails `smtp-hil run FILE --profile R` with the invariant's sentence."""
    cases = {(f.start, f.shrunk, f.shrunk_seed, f.signature.invariant, f.signature.reason,
              f.signature.context): f for f in report.failures}
    if not cases:
        return ["shrinking: nothing to shrink"]
    sizes = Counter(len(f.shrunk) for f in cases.values())
    runs = [f.shrink_runs for f in cases.values()]
    reproduced = 0
    for failure in cases.values():
        if failure.file is None:
            continue
        result = run(load_scenario(failure.file), failure.signature.profile,
                     failure.shrunk_seed)
        wanted = f"invariant {failure.signature.invariant}: "
        reproduced += any(wanted in r for r in result.verdict.reasons)
    return [f"shrinking: {len(cases)} distinct failures (shrunk case, invariant, reason); "
            f"changes: " + ", ".join(f"{n}: {sizes[n]}" for n in sorted(sizes))
            + f"; runs to shrink {min(runs)} to {max(runs)} (mean {sum(runs) / len(runs):.1f});"
            f" kernel seeds {sorted({f.shrunk_seed for f in cases.values()})}; deterministic "
            f"in a fresh process: {sum(f.deterministic is True for f in cases.values())} of "
            f"{len(cases)}; `smtp-hil run FILE --profile R` fails with the invariant's "
            f"sentence: {reproduced} of {len(cases)}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--others-budget", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("build/explore"))
    parser.add_argument("--profiles", default=",".join(PROFILE_NAMES))
    parser.add_argument("--starts", default=",".join(STARTS))
    args = parser.parse_args(argv)
    releases = tuple(p for p in PROFILE_NAMES if p in args.profiles.split(","))
    started = time.monotonic()
    report = explore(args.starts.split(","), releases, budget=args.budget, seed=args.seed,
                     jobs=args.jobs, out=args.out / "happy-paths")
    print("\n".join(report.summary()))
    lines, complete = table(report, releases)
    on_current = [f for f in report.failures if f.signature.profile == "current"]
    others = None
    if args.others_budget and "current" in releases:
        others = explore(list(OTHERS), "current", budget=args.others_budget, seed=args.seed,
                         jobs=args.jobs, out=args.out / "current")
        print("\n".join(others.summary()))
        on_current += others.failures
    print()
    print(f"Rediscovery: {args.budget} schedules per release from {', '.join(report.starts)}, "
          f"seed {args.seed}, space {report.generator_version} (schedule numbers are "
          f"the first finding's, 0-based)")
    print("\n".join(lines))
    print("\n".join(shrinking(report)))
    runs = report.runs + (others.runs if others else 0)
    print(f"current: {len(on_current)} failure(s) in {report.schedules_run} schedules from "
          f"the five happy paths" + (f" and {others.schedules_run} from "
                                     f"{', '.join(OTHERS)}" if others else ""))
    for failure in on_current:
        print(f"  {failure.line()}")
    print(f"{runs} runs and the shrinking in {time.monotonic() - started:.0f} s wall")
    return 0 if complete and not on_current else 1


if __name__ == "__main__":
    sys.exit(main())
