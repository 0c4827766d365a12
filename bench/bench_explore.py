"""The explorer's throughput: schedules per second, one process and on every core.

(a) Per starting point, in this process: runs per second of the starting point alone
    (unmutated, as the runner runs it) and of drawn schedules (mutated, judged by the
    invariants), by wall time and by CPU time (the machine is shared: CPU time says what
    one core gives); for the drawn ones the median CPU time of a run and the share of
    the slowest tenth of the runs (big contents in small chunks) in the total.
(b) `explore()` end to end on `current` from the plaintext happy paths (pipelining,
    chunking, attachments, date-header), with 1 process and with every core: runs per
    second of wall time (nothing fails there, so nothing is shrunk), the CPU time of
    this process and of the worker processes per run, and what that CPU time would give
    on idle cores (runs/s = jobs / CPU per run: the figure a loaded machine hides).

Prints the load average before and after, and the commit measured.

    .venv/bin/python bench/bench_explore.py [--schedules N] [--budget N]
        [--starts A,B] [--skip-per-start]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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
        each = []
        for index in range(schedules):
            before = time.process_time()
            run_schedule(campaign, "current", index)
            each.append(time.process_time() - before)
        mutated = _rate(schedules, time.perf_counter() - wall, time.process_time() - cpu)
        print(f"  {name:24} {plain} | {mutated} (CPU per run: median "
              f"{1000 * statistics.median(each):.1f} ms, slowest tenth "
              f"{sum(sorted(each)[-(schedules // 10 or 1):]) / sum(each):.0%} of the total)")


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime, children.ru_utime + children.ru_stime


def end_to_end(budget: int, starts: list[str]) -> None:
    cores = default_jobs()
    print(f"(b) explore() from {', '.join(starts)} on current, budget {budget}")
    for jobs in sorted({1, cores}):
        load = os.getloadavg()[0]
        started, (mine, children) = time.perf_counter(), _cpu()
        report = explore(starts, "current", budget=budget, jobs=jobs)
        wall = time.perf_counter() - started
        now_mine, now_children = _cpu()  # the workers have ended: explore() closed them
        parent_ms = (now_mine - mine) * 1000 / report.runs
        workers_ms = (now_children - children) * 1000 / report.runs
        per_run = parent_ms + workers_ms
        print(f"  --jobs {jobs}: {report.runs} runs in {wall:.1f} s wall = "
              f"{report.runs / wall:.0f} runs/s ({len(report.failures)} failures; load "
              f"{load:.1f}); CPU per run {per_run:.2f} ms ({parent_ms:.2f} here, "
              f"{workers_ms:.2f} in workers) = {1000 * jobs / per_run:.0f} runs/s on "
              f"{jobs} idle core(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--starts", default=",".join(PLAINTEXT),
                        help="the starting points of (b), comma-separated")
    parser.add_argument("--skip-per-start", action="store_true", help="only (b)")
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "?"
    print(f"commit {commit}, {default_jobs()} core(s), load average {os.getloadavg()}")
    if not args.skip_per_start:
        per_start(args.schedules)
    end_to_end(args.budget, [name for name in args.starts.split(",") if name])
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
