"""The reply fuzzer with a large budget: a million hostile server dialogues by default.

Run as ``make fuzz`` or ``.venv/bin/python bench/fuzz_replies.py [--inputs N] [--seed S]
[--workers W]``. Input number ``i`` of seed ``S`` draws every choice from its own
``random.Random((S << 32) | i)`` (never the global generator), through the same
generators as the suite's Hypothesis test (tests/scenarios/test_replyfuzz.py): a case
(release, configuration, jobs) and a hostile server (:mod:`scenarios.replyfuzz`) against
the client core, with the invariants of :mod:`scenarios.replyfuzz.harness` checked on
the way. Inputs are split between ``W`` worker processes (default: 2, or 1 on a one-core
machine; with 1 everything runs in this process); which inputs run, and so what is
found, does not depend on how many.

It prints progress about every 10 s, then the inputs, the wall time (``time.perf_counter``
around the whole run) and inputs per second, the CPU seconds used (``getrusage`` of this
process and its workers: a figure that a busy machine does not distort) and inputs per
CPU second, a tally of how the jobs ended, and each
distinct failure with the command that replays it:

    .venv/bin/python bench/fuzz_replies.py --seed 0 --replay 4317

which prints the case, every byte each way, the client's events and the violation.
Exit status 0 when no input broke an invariant, 1 otherwise.

This script reads the wall clock (for the figures only) and starts processes; the runs
themselves are deterministic.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from scenarios.replyfuzz.chooser import RandomChooser
from scenarios.replyfuzz.harness import InvariantViolation, run_case
from smtp.events import is_terminal

CHUNK = 2000
"""Inputs per task handed to a worker."""
PROGRESS_S = 10.0
MAX_FAILURES_SHOWN = 20


def chooser_for(seed: int, index: int) -> RandomChooser:
    """The chooser of input ``index`` of ``seed``: the same in every process."""
    return RandomChooser((seed << 32) | index)


@dataclass
class Tally:
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, int] = field(default_factory=dict)
    """First line of each distinct violation -> the first input index that showed it."""

    def add(self, other: Tally) -> None:
        self.inputs += other.inputs
        self.outcomes.update(other.outcomes)
        for why, index in other.failures.items():
            self.failures[why] = min(index, self.failures.get(why, index))


def run_range(seed: int, start: int, stop: int) -> Tally:
    tally = Tally()
    for index in range(start, stop):
        tally.inputs += 1
        try:
            outcome = run_case(chooser_for(seed, index))
        except InvariantViolation as exc:
            why = str(exc).splitlines()[0][:160]
            tally.failures.setdefault(why, index)
            tally.outcomes["(invariant broken)"] += 1
            continue
        for event in outcome.events:
            if is_terminal(event):
                tally.outcomes[event.name] += 1
        if outcome.lost_job:
            tally.outcomes["(2.0 lost a job)"] += 1
    return tally


def _run_chunk(args: tuple[int, int, int]) -> Tally:
    return run_range(*args)


def _cpu_seconds() -> float:
    """User and system CPU of this process and its finished workers (load-independent)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def replay(seed: int, index: int) -> int:
    transcript: list[str] = []
    try:
        outcome = run_case(chooser_for(seed, index), transcript=transcript)
    except InvariantViolation as exc:
        print("\n".join(transcript))
        print(f"\nINVARIANT BROKEN by input {index} of seed {seed}: {exc}")
        return 1
    print("\n".join(transcript))
    print(f"\ninput {index} of seed {seed}: every invariant held "
          f"({len(outcome.events)} events, {outcome.virtual_us / 1e6:.3f} s of virtual time)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the client core with hostile replies.")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: 2, or 1 on a one-core machine)")
    parser.add_argument("--replay", type=int, metavar="INDEX",
                        help="run input INDEX alone and print its whole dialogue")
    args = parser.parse_args(argv)
    if args.seed < 0 or args.inputs < 1 or args.workers < 1:
        parser.error("--seed must be >= 0, --inputs and --workers >= 1")
    if args.replay is not None:
        return replay(args.seed, args.replay)

    chunks = [(args.seed, start, min(start + CHUNK, args.inputs))
              for start in range(0, args.inputs, CHUNK)]
    total = Tally()
    cpu_before = _cpu_seconds()
    started = last_report = time.perf_counter()
    print(f"fuzzing the client core: {args.inputs} inputs, seed {args.seed}, "
          f"{args.workers} worker(s)", flush=True)
    with contextlib.ExitStack() as stack:
        if args.workers == 1:
            tallies: Iterator[Tally] = map(_run_chunk, chunks)
        else:
            pool = stack.enter_context(multiprocessing.Pool(args.workers))
            tallies = pool.imap_unordered(_run_chunk, chunks)
        for tally in tallies:
            total.add(tally)
            now = time.perf_counter()
            if now - last_report >= PROGRESS_S:
                last_report = now
                print(f"  {total.inputs} inputs, {total.inputs / (now - started):.0f}/s, "
                      f"{len(total.failures)} distinct failure(s)", flush=True)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    print(f"{total.inputs} inputs in {wall:.1f} s wall: {total.inputs / wall:.0f} inputs/s "
          f"({args.workers} worker(s)); {cpu:.1f} s of CPU, "
          f"{total.inputs / max(cpu, 1e-9):.0f} inputs per CPU second")
    print("how the jobs ended: " + ", ".join(f"{name} {count}" for name, count
                                             in total.outcomes.most_common()))
    if not total.failures:
        print("no invariant broken")
        return 0
    print(f"{len(total.failures)} distinct invariant violation(s):")
    for why, index in sorted(total.failures.items(), key=lambda item: item[1]
                             )[:MAX_FAILURES_SHOWN]:
        print(f"  input {index}: {why}")
        print(f"    replay: .venv/bin/python bench/fuzz_replies.py --seed {args.seed} "
              f"--replay {index}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
