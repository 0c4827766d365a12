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
again and take the PKI from the per-user key cache). A worker writes its run's artifacts
itself and returns the run without its world (:meth:`~scenarios.runner.RunResult.lean`),
which pickles. The heaviest scenarios go first (a run that replies byte by byte costs a
hundred times a plain one), so the last worker is not left alone with one of them.
Workers ignore Ctrl-C; the caller's process gets it, cancels the runs not started and
reports what finished (the runs under way end by themselves in a moment).

:func:`quiet_collector` tunes the garbage collector for a loop of runs: the objects made
before it (modules, the catalog) are frozen out of its reach and it runs far less often
(each run's world is short-lived garbage it need not chase).

This module knows processes, the runner and the artifacts' writer; it prints nothing.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from scenarios.cli.outputs import write_run_artifacts
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


def heaviest_first(cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` with the costly scenarios first (server replies byte by byte, then TLS);
    otherwise in the caller's order."""
    def weight(cell: Cell) -> tuple[int, int]:
        scenario = cell.scenario
        return (-int(scenario.server.segmentation == "byte_by_byte"), -int(uses_tls(scenario)))

    return sorted(cells, key=weight)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(cells)), mp_context=_context(),
                               initializer=_ignore_sigint)
    try:
        futures: dict[Future[RunResult], Cell] = {
            pool.submit(run_cell, cell, options): cell for cell in heaviest_first(cells)}
        for future in as_completed(futures):
            done(futures[future], future.result())
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
