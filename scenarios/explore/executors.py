"""Where batches of schedules run: this process, a pool of local processes, or a Dask
cluster (``--scheduler ADDRESS``, on ``dask.distributed``: no home-made distribution).

Every executor takes tasks (a release and a list of schedule indices) and yields their
:class:`~scenarios.explore.loop.BatchResult` in whatever order they finish; the search
orders them by index, so the results never depend on the executor or the number of jobs.
Tasks are pulled from an iterator only while fewer than ``2 * workers`` are in flight,
so a time-boxed search stops submitting as soon as it is told.

A Dask worker must run the same smtp-hil as this process: each task carries
:func:`code_fingerprint` (the package version, the search space's version and a digest
of the code of every package) and a worker with another one refuses the task, naming
both.

This module knows processes and Dask; nothing of what a schedule does.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from emulator.userinput import UserInputError
from scenarios.explore.loop import BatchResult, Campaign, run_batch
from scenarios.explore.space import GENERATOR_VERSION

Task = tuple[str, tuple[int, ...]]
"""A release and the schedule indices to run on it."""

_PACKAGES = ("emulator", "stack", "smtp", "scenarios")


def default_jobs() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


@cache
def code_fingerprint() -> str:
    """What a worker must share with this process to run the same schedules the same
    way: the package version, the space's version, and a digest of the code."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
        for path in sorted((root / package).rglob("*.toml")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    try:
        version = metadata.version("smtp-hil")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"smtp-hil {version}, space {GENERATOR_VERSION}, code {digest.hexdigest()[:16]}"


class WorkerMismatch(RuntimeError):
    """A worker runs other smtp-hil code than the process that sent it the task."""


def checked_batch(fingerprint: str, campaign: Campaign, profile: str,
                  indices: tuple[int, ...]) -> BatchResult:
    """:func:`~scenarios.explore.loop.run_batch`, after checking that this worker runs
    the code the sender runs."""
    mine = code_fingerprint()
    if mine != fingerprint:
        raise WorkerMismatch(f"this worker runs {mine}; the campaign was sent by {fingerprint}")
    return run_batch(campaign, profile, indices)


class Executor(Protocol):
    workers: int

    def run(self, campaign: Campaign, tasks: Iterator[Task]) -> Iterator[BatchResult]:
        """Run ``tasks``, pulling the next only while fewer than ``2 * workers`` run."""
        ...

    def close(self) -> None: ...


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now (modules, the campaign) out of the garbage collector's way
    while schedules run (``gc.freeze``), given back after: a run makes garbage with
    cycles, and each full collection walked them all again (measured: 0.6 ms of a 9 ms
    run). What is garbage now is collected first, so nothing leaks. A process that froze
    its heap itself is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class InProcess:
    """Every task in this process, one after the other (``--jobs 1``)."""

    workers = 1

    def run(self, campaign: Campaign, tasks: Iterator[Task]) -> Iterator[BatchResult]:
        with frozen_heap():
            for profile, indices in tasks:
                yield run_batch(campaign, profile, indices)

    def close(self) -> None:
        """Nothing to release."""


class LocalPool:
    """``workers`` local processes (forked when this process has one thread, so they
    start with everything loaded; spawned otherwise)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        method = "fork" if ("fork" in multiprocessing.get_all_start_methods()
                            and threading.active_count() == 1) else "spawn"
        self._pool = ProcessPoolExecutor(max_workers=workers,
                                         mp_context=multiprocessing.get_context(method),
                                         initializer=_start_worker)

    def run(self, campaign: Campaign, tasks: Iterator[Task]) -> Iterator[BatchResult]:
        def submit(task: Task) -> Future[BatchResult]:
            return self._pool.submit(run_batch, campaign, task[0], task[1])
        yield from _bounded(submit, tasks, 2 * self.workers)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _start_worker() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops submitting and lets the
    batches running finish), not a reason for a worker to die mid-batch; and what it
    started with stays out of the garbage collector's way for its life (as
    :func:`frozen_heap`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.collect()
    gc.freeze()


def _bounded(submit: Callable[[Task], Future[BatchResult]], tasks: Iterator[Task],
             limit: int) -> Iterator[BatchResult]:
    running: set[Future[BatchResult]] = set()
    exhausted = False
    while True:
        while not exhausted and len(running) < limit:
            task = next(tasks, None)
            if task is None:
                exhausted = True
            else:
                running.add(submit(task))
        if not running:
            return
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=id):
            yield future.result()


class DaskCluster:
    """The tasks on a ``dask.distributed`` cluster whose scheduler is at ``address``."""

    def __init__(self, address: str) -> None:
        try:
            # start-up: distributed takes about 1.4 s to import; only --scheduler needs it
            import distributed
        except ImportError:
            raise UserInputError("--scheduler needs dask.distributed: pip install "
                                 "'smtp-hil[dask]'") from None
        self._dask: Any = distributed  # partly typed: used through Any
        try:
            self._client: Any = self._dask.Client(address, timeout=30)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserInputError(f"--scheduler {address}: cannot reach a Dask scheduler "
                                 f"there ({exc})") from None
        info = self._client.scheduler_info()
        threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        self.workers = max(1, threads)

    def run(self, campaign: Campaign, tasks: Iterator[Task]) -> Iterator[BatchResult]:
        fingerprint = code_fingerprint()
        scattered = self._client.scatter(campaign, broadcast=True)
        limit = 2 * self.workers
        pending = self._dask.as_completed()
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < limit:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                else:
                    pending.add(self._client.submit(checked_batch, fingerprint, scattered,
                                                    task[0], task[1], pure=False))
                    in_flight += 1
            if in_flight == 0:
                return
            future = next(pending)
            in_flight -= 1
            yield future.result()

    def close(self) -> None:
        self._client.close()


def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor ``--jobs`` and ``--scheduler`` ask for."""
    if scheduler is not None:
        return DaskCluster(scheduler)
    workers = default_jobs() if jobs is None else jobs
    return InProcess() if workers <= 1 else LocalPool(workers)


def batches(profiles: Iterable[str], indices: Iterable[int], size: int) -> Iterator[Task]:
    """Tasks of ``size`` consecutive indices, every release of a block before the next
    block (so a time-boxed search covers the releases evenly)."""
    block: list[int] = []
    names = tuple(profiles)
    for index in indices:
        block.append(index)
        if len(block) == size:
            for profile in names:
                yield profile, tuple(block)
            block = []
    if block:
        for profile in names:
            yield profile, tuple(block)
