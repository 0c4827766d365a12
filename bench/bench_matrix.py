"""Times the whole matrix (every catalog scenario against every release profile).

Prints wall time, runs, runs per second, virtual time simulated, and the slowest
scenarios. The goal is the whole matrix in under 10 s of wall time on a 2-core machine;
this script reports, it asserts nothing. Run: ``.venv/bin/python bench/bench_matrix.py``.
"""

from __future__ import annotations

import time
from collections import defaultdict

from scenarios.catalog import load_catalog
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES


def main() -> None:
    started = time.perf_counter()
    scenarios = load_catalog()
    loaded = time.perf_counter()
    per_scenario: dict[str, float] = defaultdict(float)
    virtual_us = 0
    runs = 0
    for scenario in scenarios:
        for profile in PROFILE_NAMES:
            result = run(scenario, profile, seed=0)
            per_scenario[scenario.name] += result.wall_s
            virtual_us += result.virtual_us
            runs += 1
    finished = time.perf_counter()
    wall = finished - started
    print(f"catalog: {len(scenarios)} scenarios x {len(PROFILE_NAMES)} profiles = {runs} runs")
    print(f"load catalog: {loaded - started:.3f} s")
    print(f"matrix wall time: {wall:.2f} s ({runs / wall:.1f} runs/s)")
    print(f"virtual time simulated: {virtual_us / 1e6:.1f} s "
          f"({virtual_us / 1e6 / wall:.0f}x faster than real time)")
    print("slowest scenarios (all profiles):")
    for name, seconds in sorted(per_scenario.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {name:40} {seconds:.3f} s")


if __name__ == "__main__":
    main()
