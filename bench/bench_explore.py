"""The explorer's throughput: schedules per second, one process and on every core.

(a) Per starting point, in this process: runs per second of the starting point alone
    (unmutated, as the runner runs it) and of drawn schedules (mutated, judged by the
    invariants), by wall time and by CPU time (the machine is shared: CPU time says what
    one core gives).
(b) `explore()` end to end on `current` from the plaintext happy paths (pipelining,
    chunking, attachments, date-header), with 1 process and with every core: runs per
    second of wall time (nothing fails there, so nothing is shrunk).

Prints the load average before and after, and the commit measured.

    .venv/bin/python bench/bench_explore.py [--schedules N] [--budget N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from scenarios.explore import explore, load_start
from scenarios.explore.executors import default_jobs
from scenarios.explore.loop import Campaign, run_schedule
from scenarios.explore.schedule import build
from scenarios.runner import run

STARTS = ("pipelining", "chunking", "attachments", "date-header", "blank-line-truncation",
          "starttls")
PLAINTEXT = ("pipelining", "chunking", "attachments", "date-header")


def _rate(count: int, wall: float, cpu: float) -> str:
    return f"{count / wall:6.0f}/s wall {count / cpu:6.0f}/s CPU"


def per_start(schedules: int) -> None:
    print(f"(a) one process, {schedules} runs each (unmutated | mutated + invariants)")
    for name in STARTS:
        start = load_start(name)
        scenario = build(start, ())
        wall, cpu = time.perf_counter(), time.process_time()
        for seed in range(schedules):
            run(scenario, "current", seed)
        plain = _rate(schedules, time.perf_counter() - wall, time.process_time() - cpu)
        campaign = Campaign((start,), seed=0)
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(schedules):
            run_schedule(campaign, "current", index)
        mutated = _rate(schedules, time.perf_counter() - wall, time.process_time() - cpu)
        print(f"  {name:24} {plain} | {mutated}")


def end_to_end(budget: int) -> None:
    cores = default_jobs()
    print(f"(b) explore() from {', '.join(PLAINTEXT)} on current, budget {budget}")
    for jobs in sorted({1, cores}):
        started = time.perf_counter()
        report = explore(list(PLAINTEXT), "current", budget=budget, jobs=jobs)
        wall = time.perf_counter() - started
        print(f"  --jobs {jobs}: {report.runs} runs in {wall:.1f} s wall = "
              f"{report.runs / wall:.0f} runs/s ({len(report.failures)} failures)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--budget", type=int, default=1000)
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "?"
    print(f"commit {commit}, {default_jobs()} core(s), load average {os.getloadavg()}")
    per_start(args.schedules)
    end_to_end(args.budget)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
