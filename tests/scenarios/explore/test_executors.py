"""Where schedules run does not change what they do (scenarios/explore/executors.py): this
process, two local processes and a Dask cluster (a LocalCluster of two worker processes
started here, dashboard off) give the same outcome and trace hash for every schedule, and
the same report; a worker running other code refuses the task."""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator

import pytest

from scenarios.explore import explore
from scenarios.explore.executors import (
    DaskCluster,
    InProcess,
    LocalPool,
    WorkerMismatch,
    batches,
    checked_batch,
    code_fingerprint,
)
from scenarios.explore.loop import BatchResult, Campaign
from scenarios.explore.start import load_start

CAMPAIGN = Campaign(tuple(load_start(n) for n in ("pipelining", "chunking", "starttls")), seed=5)
PROFILES = ("2.0", "current")
SCHEDULES = 48


def everything(results: Iterator[BatchResult]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    rows = []
    for result in results:
        failing = {o.index: o for o in result.failing}
        for index, digest, notes in zip(result.indices, result.hashes, result.notes,
                                        strict=True):
            outcome = failing.get(index)
            rows.append((result.profile, index, digest, notes,
                         tuple(s for s, _ in outcome.failures) if outcome else ()))
    return sorted(rows)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def in_process() -> list[tuple[str, int, str, tuple[str, ...]]]:
    return everything(InProcess().run(CAMPAIGN, batches(PROFILES, range(SCHEDULES), 8)))


def test_two_local_processes_run_every_schedule_the_same(
        in_process: list[tuple[str, int, str, tuple[str, ...]]]) -> None:
    pool = LocalPool(2)
    try:
        rows = everything(pool.run(CAMPAIGN, batches(PROFILES, range(SCHEDULES), 8)))
    finally:
        pool.close()
    assert rows == in_process
    assert len(rows) == SCHEDULES * len(PROFILES)
    assert any(r[4] for r in rows)  # 2.0 fails some: the comparison is not of nothing


def _same_report(a: dict[str, object], b: dict[str, object]) -> None:
    for key in ("elapsed_s", "per_second"):
        a.pop(key), b.pop(key)
    for failure in [*a["failures"], *b["failures"]]:  # type: ignore[attr-defined]
        failure.pop("file")
    assert a == b


def test_the_report_does_not_depend_on_the_number_of_jobs() -> None:
    kwargs = {"profiles": ["2.0"], "budget": 60, "seed": 0,
              "invariants": ["terminal.exactly_one", "device.no_watchdog_reset"]}
    one = explore(["pipelining", "chunking"], jobs=1, **kwargs)  # type: ignore[arg-type]
    two = explore(["pipelining", "chunking"], jobs=2, **kwargs)  # type: ignore[arg-type]
    assert one.failures, "the comparison must compare findings"
    _same_report(one.to_json(), two.to_json())


def test_a_worker_running_other_code_refuses_the_task() -> None:
    with pytest.raises(WorkerMismatch, match="this worker runs smtp-hil"):
        checked_batch("smtp-hil 0.0, space v0, code 0", CAMPAIGN, "current", (0,))
    assert checked_batch(code_fingerprint(), CAMPAIGN, "current", (0,)).indices == (0,)


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="dask.distributed is not installed (pip install 'smtp-hil[dask]')")
def test_a_dask_cluster_runs_every_schedule_the_same(
        in_process: list[tuple[str, int, str, tuple[str, ...]]]) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, worker_dashboard_address=None) as cluster:
        dask = DaskCluster(cluster.scheduler_address)
        try:
            assert dask.workers == 2
            rows = everything(dask.run(CAMPAIGN, batches(PROFILES, range(SCHEDULES), 8)))
        finally:
            dask.close()
        assert rows == in_process
        kwargs = {"profiles": ["2.0"], "budget": 24, "seed": 1,
                  "invariants": ["terminal.exactly_one"]}
        on_dask = explore(["chunking"], scheduler=cluster.scheduler_address, **kwargs)  # type: ignore[arg-type]
        here = explore(["chunking"], jobs=1, **kwargs)  # type: ignore[arg-type]
        _same_report(on_dask.to_json(), here.to_json())


def test_in_process_the_heap_is_frozen_while_schedules_run_and_given_back_after() -> None:
    if gc.get_freeze_count():
        pytest.skip("this test process froze its heap before the test (nothing to see)")
    counts: list[int] = []
    executor = InProcess()
    for _result in executor.run(CAMPAIGN, batches(["current"], range(2), 1)):
        counts.append(gc.get_freeze_count())
    assert len(counts) == 2 and all(counts)
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a process that froze its own heap keeps it frozen
    try:
        frozen = gc.get_freeze_count()
        assert list(executor.run(CAMPAIGN, batches(["current"], range(1), 1)))
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
