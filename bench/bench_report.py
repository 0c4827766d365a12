"""Times the HTML report: of one run, and of the whole matrix (every catalog scenario on
every release), and prints its size.

For each: the wall time to build the views from the run results (``build_report``:
the dialogue, pool chart, TCP view and per-expectation checks of every run), the wall
time to render the HTML, the file's size, and the largest runs' share of it. The runs
themselves are not counted (``bench_matrix.py`` times them). Best of three; this script
reports, it asserts nothing. Run: ``.venv/bin/python bench/bench_report.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from scenarios.catalog import load_catalog
from scenarios.report.from_runs import build_report
from scenarios.report.html import render_report, script_json
from scenarios.runner import RunResult, resolve_scenario, run
from smtp.profiles import PROFILE_NAMES

ROUNDS = 3


def _measure(label: str, results: Sequence[RunResult], *, matrix: bool) -> None:
    builds, renders = [], []
    html = ""
    for _ in range(ROUNDS):
        started = time.perf_counter()
        report = build_report(results, title=label, matrix=matrix)
        built = time.perf_counter()
        html = render_report(report)
        builds.append(built - started)
        renders.append(time.perf_counter() - built)
    size = len(html.encode("utf-8"))
    print(f"{label}: {len(results)} run(s), build {min(builds):.3f} s, "
          f"render {min(renders):.3f} s (best of {ROUNDS}), "
          f"HTML {size / 1e6:.2f} MB ({size} bytes)")
    if matrix:
        sizes = sorted(((len(script_json(v.as_json())), v.run_id) for v in report.runs),
                       reverse=True)
        print(f"  per run: median {sizes[len(sizes) // 2][0] / 1e3:.1f} kB of JSON; "
              f"largest:")
        for bytes_, run_id in sizes[:5]:
            print(f"    {run_id:48} {bytes_ / 1e3:.1f} kB")


def main() -> None:
    one = [run(resolve_scenario("buffer-exhaustion-during-content"), "1.0", 0)]
    _measure("one run (buffer-exhaustion-during-content on 1.0)", one, matrix=False)
    results = [run(s, p, 0) for s in load_catalog() for p in PROFILE_NAMES]
    _measure("the matrix", results, matrix=True)


if __name__ == "__main__":
    main()
