"""``smtp-hil matrix --jobs``: runs on worker processes give exactly what one by one gives."""

from __future__ import annotations

import io
import json
import pickle
import re
import signal
from pathlib import Path

import pytest

from scenarios.catalog import load_catalog
from scenarios.cli.jobs import (
    CHUNK_CELLS,
    Cell,
    CellOptions,
    chunks,
    dump_results,
    heaviest_first,
    load_results,
    run_cell,
    run_cells,
    scenario_positions,
)
from scenarios.cli.main import main
from scenarios.reproducibility import why_not_reproducible
from scenarios.runner import resolve_scenario, run
from smtp.profiles import PROFILE_NAMES


def _matrix(tmp_path: Path, jobs: int) -> tuple[int, str, bytes, str]:
    out, err = io.StringIO(), io.StringIO()
    golden = tmp_path / f"golden-{jobs}.toml"
    junit = tmp_path / f"junit-{jobs}.xml"
    status = main(["matrix", "--jobs", str(jobs), "--json", "--write-golden", str(golden),
                   "--junit", str(junit)], out=out, err=err)
    data = json.loads(out.getvalue())
    data.pop("wall_s")
    return status, json.dumps(data, sort_keys=True), golden.read_bytes(), _cases(junit)


def _cases(junit: Path) -> str:
    """The JUnit file without what differs from run to run (times, the timestamp, and the
    trace hash of a scenario whose trace is not reproducible: reproducibility.py)."""
    text = re.sub(r' (time|timestamp)="[^"]*"', "", junit.read_text())
    for scenario in load_catalog():
        if why_not_reproducible(scenario) is not None:
            case = rf'(<testcase [^>]*name="{re.escape(scenario.name)}".*?</testcase>)'
            text = re.sub(case, lambda m: re.sub(r"trace_sha256: [0-9a-f]+",
                                                 "trace_sha256: (not reproducible)",
                                                 m.group(1)), text, flags=re.S)
    return text


def test_two_jobs_give_the_same_matrix_golden_file_and_junit_as_one(tmp_path: Path) -> None:
    one = _matrix(tmp_path, 1)
    two = _matrix(tmp_path, 2)
    assert one[0] == two[0] == 0
    assert one[1] == two[1]
    assert one[2] == two[2]
    assert one[3] == two[3]


@pytest.mark.parametrize("value", ["0", "-1", "two", "257"])
def test_a_bad_number_of_jobs_is_refused(value: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["matrix", "--jobs", value], out=out, err=err) == 2
    assert f"--jobs: expected an integer from 1 to 256, got '{value}'" in err.getvalue()


def test_a_worker_returns_a_lean_result_that_pickles(tmp_path: Path) -> None:
    scenario = resolve_scenario("starttls")
    full = run(scenario, "current")
    lean = run_cell(Cell(0, scenario, "current"), CellOptions(seed=0, keep_trace=False,
                                                              artifacts=tmp_path))
    assert lean.world is None and lean.trace == ()
    assert lean.trace_sha256 == full.trace_sha256 and lean.carries_tls
    assert lean.verdict == full.verdict and lean.mailbox == full.mailbox
    back = pickle.loads(pickle.dumps(lean))
    assert back.trace_sha256 == lean.trace_sha256 and back.passed
    assert (tmp_path / "starttls--current--seed0" / "capture.pcap").stat().st_size > 0
    with pytest.raises(ValueError, match="world was dropped"):
        lean.connections  # noqa: B018


def test_the_heaviest_scenarios_go_first() -> None:
    plain, heavy = resolve_scenario("pipelining"), resolve_scenario("replies-byte-by-byte")
    order = heaviest_first([Cell(0, plain, "current"), Cell(1, heavy, "current")])
    assert [c.index for c in order] == [1, 0]


def test_tasks_hold_every_cell_once_the_costly_alone_first_and_the_last_small() -> None:
    cells = [Cell(len(PROFILE_NAMES) * row + col, scenario, profile)
             for row, scenario in enumerate(load_catalog())
             for col, profile in enumerate(PROFILE_NAMES)]
    tasks = chunks(cells, workers=2)
    assert sorted(p for task in tasks for p in task) == list(range(len(cells)))
    costly = [p for p, cell in enumerate(cells)
              if cell.scenario.server.segmentation == "byte_by_byte"]
    assert costly and sorted(tasks[:len(costly)]) == [(p,) for p in costly]
    assert max(len(task) for task in tasks) == CHUNK_CELLS < len(cells) // 8
    assert [len(task) for task in tasks[-3:]] == [1, 1, 1]


def test_results_travel_back_with_the_callers_own_scenarios(tmp_path: Path) -> None:
    """The scenario of a cell comes back as the caller's object (it was not pickled);
    an RTC variant's scenario, which no cell holds, comes back whole."""
    variants, plain = resolve_scenario("date-month-day"), resolve_scenario("starttls")
    cells = [Cell(0, plain, "current"), Cell(1, variants, "2.3")]
    options = CellOptions(seed=0, keep_trace=False)
    results = [run_cell(cell, options) for cell in cells]
    assert results[1].ran is not None and results[1].ran is not variants
    data = dump_results(results, scenario_positions(cells))
    twins = [Cell(0, resolve_scenario("starttls"), "current"),
             Cell(1, resolve_scenario("date-month-day"), "2.3")]
    back = load_results(data, twins)
    assert back[0].scenario is twins[0].scenario and back[1].scenario is twins[1].scenario
    assert back[0].ran is twins[0].scenario
    assert back[1].ran == results[1].ran and back[1].ran is not twins[1].scenario
    assert [(r.trace_sha256, r.verdict, r.mailbox) for r in back] == [
        (r.trace_sha256, r.verdict, r.mailbox) for r in results]


def test_ctrl_c_as_a_task_is_reported_lets_the_whole_task_be_reported() -> None:
    """SIGINT while the first result of a task is handed over reaches its handler only
    once the task's other runs are handed over too (they finished). The handler here
    notes how many runs were handed over when it ran (the default one would raise
    KeyboardInterrupt wherever the interpreter happens to be, a gc callback included)."""
    scenario = resolve_scenario("vrfy")
    cells = [Cell(index, scenario, PROFILE_NAMES[index % len(PROFILE_NAMES)])
             for index in range(40)]
    tasks = chunks(cells, workers=2)
    assert min(len(task) for task in tasks[:4]) > 1
    seen: list[int] = []
    handed_over_at_signal: list[int] = []

    def done(cell: Cell, _result: object) -> None:
        seen.append(cell.index)
        if len(seen) == 1:
            signal.raise_signal(signal.SIGINT)

    before = signal.signal(signal.SIGINT,
                           lambda _signum, _frame: handed_over_at_signal.append(len(seen)))
    try:
        run_cells(cells, CellOptions(seed=0, keep_trace=False), 2, done)
    finally:
        signal.signal(signal.SIGINT, before)
    [first] = [task for task in tasks if seen[0] in task]
    assert len(first) > 1 and tuple(seen[:len(first)]) == first, (seen, tasks)
    assert handed_over_at_signal == [len(first)]
