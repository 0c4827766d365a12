"""The IP buffer pool: allocation, exhaustion, frees, drops, reclaim and trace records."""

from __future__ import annotations

import pytest

from emulator.kernel import Kernel
from emulator.trace import TraceRecord
from stack.pool import Buffer, BufferPool, PoolStats


def _pool(count: int | None = 3, *, size: int = 1536,
          traced: bool = True) -> tuple[Kernel, BufferPool]:
    kernel = Kernel(seed=0)
    return kernel, BufferPool(kernel, count=count, size=size, name="board.pool", traced=traced)


def _records(kernel: Kernel, kind: str | None = None) -> list[TraceRecord]:
    return kernel.trace.select(source="board.pool", kind=kind)


def _take(pool: BufferPool, purpose: str) -> Buffer:
    buf = pool.alloc(purpose)
    assert buf is not None, f"pool unexpectedly empty allocating {purpose}"
    return buf


def test_a_fresh_pool_is_full() -> None:
    _, pool = _pool(4, size=512)
    assert (pool.count, pool.size, pool.in_use, pool.free_count) == (4, 512, 0, 4)
    assert pool.stats == PoolStats(count=4, size=512, lowest_free=4)
    assert pool.live_buffers() == []


def test_alloc_until_exhausted_returns_none_and_counts_the_failure() -> None:
    kernel, pool = _pool(2)
    first, second = _take(pool, "rx"), _take(pool, "tx")
    assert (first.id, second.id) == (0, 1)
    assert pool.free_count == 0

    assert pool.alloc("rx") is None
    assert pool.alloc("tx") is None

    assert pool.stats.failed_allocations == 2
    assert pool.stats.allocations == 2
    assert pool.in_use == 2
    exhausted = _records(kernel, "exhausted")
    assert [(r.fields["purpose"], r.fields["in_use"]) for r in exhausted] == [("rx", 2), ("tx", 2)]


def test_free_gives_the_buffer_back_for_the_next_alloc() -> None:
    kernel, pool = _pool(1)
    buf = _take(pool, "rx")
    assert pool.alloc("rx") is None
    buf.free()
    assert buf.freed
    assert pool.in_use == 0 and pool.free_count == 1
    again = _take(pool, "rx")
    assert again.id == 1  # ids are never reused
    assert [r.kind for r in _records(kernel)] == ["alloc", "exhausted", "free", "alloc"]


def test_double_free_raises_and_leaves_the_counts_alone() -> None:
    _, pool = _pool(2)
    buf = _take(pool, "tx segment")
    keep = _take(pool, "rx")
    buf.free()
    with pytest.raises(RuntimeError, match=r"buffer 0 \(tx segment\) freed twice"):
        buf.free()
    assert pool.in_use == 1
    assert pool.live_buffers() == [keep]


def test_lowest_free_and_peak_in_use_remember_the_worst_moment() -> None:
    _, pool = _pool(5)
    bufs = [_take(pool, "rx") for _ in range(4)]
    for buf in bufs:
        buf.free()
    _take(pool, "rx")
    assert pool.stats.peak_in_use == 4
    assert pool.stats.lowest_free == 1
    assert pool.stats.allocations == 5
    assert pool.in_use == 1 and pool.free_count == 4


def test_count_drop_counts_frames_and_traces_them() -> None:
    kernel, pool = _pool(1)
    pool.count_drop("frame 192.0.2.10 <- 198.51.100.25")
    pool.count_drop("frame 192.0.2.10 <- 198.51.100.25 (retransmission)")
    assert pool.stats.frames_dropped == 2
    drops = _records(kernel, "drop")
    assert [r.fields["dropped"] for r in drops] == [1, 2]
    assert drops[1].fields["what"] == "frame 192.0.2.10 <- 198.51.100.25 (retransmission)"
    assert pool.in_use == 0  # a drop takes no buffer


def test_reclaim_all_gives_every_live_buffer_back() -> None:
    kernel, pool = _pool(3)
    bufs = [_take(pool, p) for p in ("rx", "tx", "tx")]
    bufs[1].free()
    assert [b.id for b in pool.live_buffers()] == [0, 2]

    assert pool.reclaim_all("watchdog reset") == 2

    assert pool.in_use == 0 and pool.live_buffers() == []
    assert all(b.freed for b in bufs)
    (reclaimed,) = _records(kernel, "reclaimed")
    assert reclaimed.fields == {"why": "watchdog reset", "buffers": 2}
    assert pool.reclaim_all("again") == 0


def test_an_unbounded_pool_never_runs_dry_but_keeps_count() -> None:
    kernel, pool = _pool(None)
    bufs = [_take(pool, "server rx") for _ in range(1000)]
    assert pool.count is None and pool.free_count is None
    assert pool.stats.lowest_free is None
    assert pool.stats.peak_in_use == 1000
    assert pool.stats.failed_allocations == 0
    for buf in bufs:
        buf.free()
    assert pool.in_use == 0
    assert _records(kernel, "exhausted") == []


@pytest.mark.parametrize("count", [0, -1, 2.5, True, "4"])
def test_a_bad_count_is_refused_naming_the_field(count: object) -> None:
    with pytest.raises(ValueError, match=r"^pool count: expected a positive integer or None, got"):
        BufferPool(Kernel(), count=count)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 127, 1536.0, False, "1536"])
def test_a_bad_size_is_refused_naming_the_field(size: object) -> None:
    with pytest.raises(ValueError, match=r"^pool size: expected an integer of at least 128 bytes"):
        BufferPool(Kernel(), count=4, size=size)  # type: ignore[arg-type]


def test_every_trace_record_carries_the_number_in_use() -> None:
    kernel, pool = _pool(2)
    a = _take(pool, "rx")
    b = _take(pool, "tx")
    assert pool.alloc("rx") is None
    a.free()
    b.free()
    assert [(r.kind, r.fields["in_use"]) for r in _records(kernel)] == [
        ("alloc", 1), ("alloc", 2), ("exhausted", 2), ("free", 1), ("free", 0)]
    alloc = _records(kernel, "alloc")[1]
    assert alloc.fields == {"purpose": "tx", "id": 1, "in_use": 2}


def test_an_untraced_pool_counts_the_same_without_records() -> None:
    kernel, pool = _pool(1, traced=False)
    buf = _take(pool, "rx")
    assert pool.alloc("rx") is None
    pool.count_drop("frame")
    buf.free()
    assert (pool.stats.allocations, pool.stats.failed_allocations,
            pool.stats.frames_dropped) == (1, 1, 1)
    assert len(kernel.trace) == 0


def test_records_carry_the_virtual_time_of_the_change() -> None:
    kernel, pool = _pool(2)
    held: list[Buffer] = []
    kernel.call_at(250, lambda: held.append(_take(pool, "rx")))
    kernel.call_at(900, lambda: held[0].free())
    kernel.run()
    assert [(r.t_us, r.kind) for r in _records(kernel)] == [(250, "alloc"), (900, "free")]


def test_a_lent_buffer_counts_but_writes_no_record() -> None:
    kernel, pool = _pool(2)
    _take(pool, "tx")
    assert pool.lend("tx") == 2  # in use while lent, this one included
    assert (pool.in_use, pool.stats.allocations, pool.stats.peak_in_use,
            pool.stats.lowest_free) == (1, 2, 2, 0)
    assert [r.kind for r in _records(kernel)] == ["alloc"]
    _take(pool, "rx")
    assert pool.lend("tx") is None
    assert pool.stats.failed_allocations == 1
    assert _records(kernel)[-1].kind == "exhausted"
