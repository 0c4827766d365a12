"""Times the whole matrix (every catalog scenario against every release profile).

Run: ``.venv/bin/python bench/bench_matrix.py`` (``--processes N`` whole-process runs,
default 3). It prints figures and asserts nothing.

(a) The whole ``smtp-hil matrix`` process, as a user runs it (output thrown away), N
    times with ``--jobs 1`` and N times with its default (one worker per core): wall
    seconds, CPU seconds (user + system of the process and its workers, from its
    rusage) and peak RSS of the process itself, median (min-max), with the load average
    before each run, and the same per run (the catalog grows: 440 runs when the goal
    was first reached, 1,400 now); and whether every run wrote the same golden file (the
    trace hash of every cell) as the first ``--jobs 1`` run. The goal is at most 2 s of
    wall time on 2 cores (with ``--jobs``) and at most 0.6 of the CPU time measured when
    issue 10 was filed (4.7-5.1 s user on this machine).
(b) The same runs inside this process: loading the catalog, the runs' CPU seconds, runs
    per CPU second (what ``explore`` gets too: one schedule is one run), virtual time
    simulated, and the scenarios that cost the most CPU (all profiles summed).
(c) One whole ``smtp-hil run starttls`` process (imports, the test PKI, one TLS run),
    N x 3 times: wall and CPU seconds, median (min-max). The goal is at most 0.3 s; it
    counts the bytecode cache (``__pycache__``) as on a user's machine: the line says
    whether this interpreter has it on.

This script knows the catalog, the runner and the CLI's console script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from measure import bytecode_cache, load_average, spread

from scenarios.catalog import load_catalog
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES


def whole_process(processes: int) -> None:
    runs = len(load_catalog()) * len(PROFILE_NAMES)
    print(f"(a) the whole `smtp-hil matrix` process ({runs} runs), {processes} times each "
          f"({bytecode_cache()}, {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="smtp-hil-bench-matrix-") as temp:
        goldens: list[bytes] = []
        for jobs in (["--jobs", "1"], []):
            label = " ".join(jobs) or "default --jobs"
            walls: list[float] = []
            cpus: list[float] = []
            rss: list[float] = []
            loads: list[str] = []
            for index in range(processes):
                golden = Path(temp) / f"golden-{len(goldens)}-{index}.toml"
                command = [str(Path(sys.executable).with_name("smtp-hil")), "matrix", *jobs,
                           "--write-golden", str(golden)]
                loads.append(load_average())
                start = time.perf_counter()
                child = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                _pid, status, usage = os.wait4(child.pid, 0)
                walls.append(time.perf_counter() - start)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise RuntimeError(f"{' '.join(command)} exited "
                                       f"{os.waitstatus_to_exitcode(status)}")
                cpus.append(usage.ru_utime + usage.ru_stime)
                rss.append(usage.ru_maxrss / 1024)
                goldens.append(golden.read_bytes())
            print(f"  {label}")
            print(f"    wall s     {spread(walls)}")
            print(f"    CPU s      {spread(cpus)}")
            print(f"    peak RSS   {spread(rss, digits=0)} MiB")
            print(f"    per run    {statistics.median(walls) / runs * 1000:.2f} ms wall, "
                  f"{statistics.median(cpus) / runs * 1000:.2f} ms CPU (medians)")
            print(f"    ({', '.join(loads)} before each run)")
        same = all(g == goldens[0] for g in goldens)
        print(f"  every run's trace hashes the same as the first --jobs 1 run's: "
              f"{'yes' if same else 'NO'}")


def in_process() -> None:
    print(f"\n(b) the runs in this process ({load_average()})")
    started = time.process_time()
    scenarios = load_catalog()
    loaded = time.process_time()
    per_scenario: dict[str, float] = defaultdict(float)
    virtual_us = 0
    runs = 0
    for scenario in scenarios:
        for profile in PROFILE_NAMES:
            before = time.process_time()
            result = run(scenario, profile, seed=0)
            per_scenario[scenario.name] += time.process_time() - before
            virtual_us += result.virtual_us
            runs += 1
    cpu = time.process_time() - loaded
    print(f"    catalog: {len(scenarios)} scenarios x {len(PROFILE_NAMES)} profiles = "
          f"{runs} runs; loaded in {loaded - started:.3f} s CPU")
    print(f"    runs: {cpu:.2f} s CPU, {runs / cpu:.0f} runs per CPU second")
    print(f"    virtual time simulated: {virtual_us / 1e6:.1f} s "
          f"({virtual_us / 1e6 / cpu:.0f}x faster than real time per CPU second)")
    print("    most CPU (all profiles of a scenario):")
    for name, seconds in sorted(per_scenario.items(), key=lambda kv: -kv[1])[:8]:
        print(f"      {name:40} {seconds:.3f} s  {seconds / cpu:5.1%}")


def one_run_process(times: int) -> None:
    command = [str(Path(sys.executable).with_name("smtp-hil")), "run", "starttls"]
    print(f"\n(c) one `smtp-hil run starttls` process, {times} times ({bytecode_cache()}, "
          f"{load_average()})")
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(times):
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(child.pid, 0)
        walls.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} exited {os.waitstatus_to_exitcode(status)}")
        cpus.append(usage.ru_utime + usage.ru_stime)
    print(f"    wall s     {spread(walls)}")
    print(f"    CPU s      {spread(cpus)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=3,
                        help="whole-process runs of smtp-hil matrix (default 3)")
    args = parser.parse_args(argv)
    whole_process(args.processes)
    in_process()
    one_run_process(args.processes * 3)


if __name__ == "__main__":
    main()
