"""``--jobs``: many runs at once on worker processes, with results the same as one by one.

:func:`run_cells` runs each :class:`Cell` (a scenario on a release) and hands the
caller every finished result, in the order the runs finish; the caller puts them back in
its own order before printing anything, so tables, JSON, JUnit, golden files and reports
are the same whatever ``--jobs`` says. Each run builds its own kernel from its seed and
shares nothing with the others but the test PKI (keys change only ciphertext content,
which the trace hash leaves out), so the trace hashes are the same too; a test compares
the golden files of one and two jobs.

Workers are forked from the process that has already imported the runner, loaded the
catalog and made the test PKI (Python 3.14 makes "forkserver" the default on Linux, so
"fork" is asked for by name; where there is none, "spawn" starts workers that import
again and take the PKI from the per-user key cache). Every worker gets the command's
cells once, when it starts (forked: for free); a task then names cells by their
positions, several at a time (:func:`chunks`). A worker writes its runs' artifacts
itself and returns the runs without their worlds (:meth:`~scenarios.runner.RunResult.
lean`), pickled with each cell's scenario as a reference to the caller's own
(:func:`dump_results`): a scenario is most of what a lean run pickles, and building it
again from the pickle cost the caller more than any other part of its work. The
heaviest scenarios go first (a run that replies byte by byte costs a hundred times a
plain one), so the last worker is not left alone with one of them. Workers ignore
Ctrl-C; the caller's process gets it, cancels the tasks not started and reports what
finished, whole tasks (the tasks under way end by themselves in a moment).

:func:`quiet_collector` tunes the garbage collector for a loop of runs: the objects made
before it (modules, the catalog) are frozen out of its reach and it runs far less often
(each run's world is short-lived garbage it need not chase).

This module knows processes, the runner and the artifacts' writer; it prints nothing.
"""

from __future__ import annotations

import contextlib
import gc
import io
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from scenarios.cli.outputs import write_run_artifacts
from scenarios.cli.progress import uninterrupted
from scenarios.cli.streamrun import run_with_streamed_artifacts
from scenarios.format import Scenario
from scenarios.runner import RunResult, run, watchable

GC_THRESHOLDS = (50_000, 50, 100)
"""Generation-0 threshold raised from 700: a run allocates tens of thousands of
short-lived objects, and every collection in between walks the survivors again."""


@dataclass(frozen=True)
class Cell:
    """One run to do: ``scenario`` on release ``profile``; ``index`` is the caller's."""

    index: int
    scenario: Scenario
    profile: str


@dataclass(frozen=True)
class CellOptions:
    """What every run of one command shares: the seed, whether views will read the
    trace records (``keep_trace``), and where to write artifacts (None: nowhere)."""

    seed: int
    keep_trace: bool
    artifacts: Path | None = None
    show_secrets: bool = False


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_cell(cell: Cell, options: CellOptions) -> RunResult:
    """Run one cell, write its artifacts if asked (as it runs when nothing else reads
    its trace), and return it without its world."""
    if (options.artifacts is not None and not options.keep_trace
            and watchable(cell.scenario)):
        result, _ = run_with_streamed_artifacts(cell.scenario, cell.profile, options.seed,
                                                None, options.artifacts,
                                                options.show_secrets)
        return result.lean(keep_trace=False)
    result = run(cell.scenario, cell.profile, options.seed,
                 keep_trace=options.keep_trace or options.artifacts is not None)
    if options.artifacts is not None:
        write_run_artifacts(result, options.artifacts, options.show_secrets)
    return result.lean(keep_trace=options.keep_trace)


def uses_tls(scenario: Scenario) -> bool:
    """Whether the scenario's device asks for TLS (STARTTLS or implicit)."""
    server = scenario.device.config.get("server")
    return isinstance(server, dict) and bool(server.get("security", "none") != "none")


def _weight(cell: Cell) -> tuple[int, int]:
    """Sorts the costly first: server replies byte by byte, then TLS."""
    scenario = cell.scenario
    return (-int(scenario.server.segmentation == "byte_by_byte"), -int(uses_tls(scenario)))


def heaviest_first(cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` with the costly scenarios first (server replies byte by byte, then TLS);
    otherwise in the caller's order."""
    return sorted(cells, key=_weight)


CHUNK_CELLS: Final = 16
"""At most this many cells go to a worker as one task. A task costs the caller a message
each way and wake-ups of the pool's threads: one task per cell of the 1,400-run catalog
cost the caller about 0.9 s of CPU (measured), as much as 200 runs. Sixteen plain runs
take some 60 ms, so Ctrl-C still stops the workers in a moment."""


def chunks(cells: Sequence[Cell], workers: int) -> list[tuple[int, ...]]:
    """The positions in ``cells`` of each task for ``workers``, heaviest first
    (:func:`heaviest_first`): a costly cell (its server replies byte by byte) alone, the
    others by up to :data:`CHUNK_CELLS`, fewer towards the end (a quarter of each
    worker's share of what is left) so that the workers finish together."""
    order = sorted(range(len(cells)), key=lambda position: _weight(cells[position]))
    tasks: list[tuple[int, ...]] = []
    start = 0
    while start < len(order):
        left = len(order) - start
        size = 1 if _weight(cells[order[start]])[0] else min(
            CHUNK_CELLS, max(1, left // (4 * workers)))
        tasks.append(tuple(order[start:start + size]))
        start += size
    return tasks


class _ScenarioReferences(pickle.Pickler):
    """Pickles results with each cell's scenario as its position in the cells (the
    caller holds the same scenarios: no need to send them back, nor to build them
    again there); any other scenario (an RTC variant's) is pickled whole."""

    def __init__(self, file: io.BytesIO, positions: dict[int, int]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.positions = positions

    def persistent_id(self, obj: object) -> int | None:
        return self.positions.get(id(obj))


def scenario_positions(cells: Sequence[Cell]) -> dict[int, int]:
    """Each cell's scenario (by identity) to the position of a cell that holds it."""
    return {id(cell.scenario): position for position, cell in enumerate(cells)}


def dump_results(results: list[RunResult], positions: dict[int, int]) -> bytes:
    """``results`` as bytes for :func:`load_results`, the scenarios ``positions`` knows
    (:func:`scenario_positions`) as references."""
    data = io.BytesIO()
    _ScenarioReferences(data, positions).dump(results)
    return data.getvalue()


def load_results(data: bytes, cells: Sequence[Cell]) -> list[RunResult]:
    """The results :func:`dump_results` wrote, with ``cells``' scenarios where it wrote
    references."""
    results: list[RunResult] = _CellScenarios(data, cells).load()
    return results


class _CellScenarios(pickle.Unpickler):
    """Unpickles what :class:`_ScenarioReferences` pickled, with ``cells``' scenarios."""

    def __init__(self, data: bytes, cells: Sequence[Cell]) -> None:
        super().__init__(io.BytesIO(data))
        self.cells = cells

    def persistent_load(self, pid: object) -> Scenario:
        if not isinstance(pid, int):
            raise pickle.UnpicklingError(f"not a cell's position: {pid!r}")
        return self.cells[pid].scenario


@dataclass(frozen=True)
class _WorkerState:
    cells: Sequence[Cell]
    options: CellOptions
    positions: dict[int, int]


_worker: _WorkerState | None = None
"""In a worker process: the command's cells and options, set once by
:func:`_start_worker` (forked workers inherit them; spawned ones get them pickled once)."""


def _start_worker(cells: Sequence[Cell], options: CellOptions) -> None:
    """A worker's start: Ctrl-C is for the caller's process; keep what every task needs."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = _WorkerState(cells, options, scenario_positions(cells))


def _run_task(positions: tuple[int, ...]) -> bytes:
    """In a worker: run the cells at ``positions``, return their results as bytes."""
    assert _worker is not None, "a task runs only in a worker that _start_worker set up"
    results = [run_cell(_worker.cells[p], _worker.options) for p in positions]
    return dump_results(results, _worker.positions)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_cells(cells: Sequence[Cell], options: CellOptions, jobs: int,
              done: Callable[[Cell, RunResult], None]) -> None:
    """Run every cell, ``jobs`` at a time (1: here, in order), calling ``done`` with each
    result as it finishes. KeyboardInterrupt propagates once the runs not started are
    cancelled; ``done`` has then seen every run that finished."""
    if jobs <= 1 or len(cells) <= 1:
        for cell in cells:
            done(cell, run_cell(cell, options))
        return
    cells = list(cells)
    workers = min(jobs, len(cells))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_start_worker, initargs=(cells, options))
    try:
        futures: dict[Future[bytes], tuple[int, ...]] = {
            pool.submit(_run_task, task): task for task in chunks(cells, workers)}
        for future in as_completed(futures):
            results = load_results(future.result(), cells)
            with uninterrupted():  # a task's runs are all reported, or none
                for position, result in zip(futures[future], results, strict=True):
                    done(cells[position], result)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def quiet_collector() -> Iterator[None]:
    """Freeze what exists now out of the collector's reach and collect less often for
    the block (see the module docstring); everything is as before afterwards."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
