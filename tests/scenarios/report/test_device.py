"""The buffer pool and RX ring chart (scenarios/report/device.py), against the board's
own counts."""

from __future__ import annotations

from scenarios.report.device import device_charts
from scenarios.runner import RunResult, resolve_scenario, run


def test_the_chart_agrees_with_the_pool_statistics_on_every_catalog_run(
        matrix_results: list[RunResult]) -> None:
    for result in matrix_results:
        if result.fleet is not None:  # a chart per device; the record's pool is over all
            continue
        records = result.trace
        (chart,) = device_charts(records, result.virtual_us)
        where = f"{result.scenario.name} on {result.profile}"
        assert chart.pool_size == result.pool.count, where
        assert chart.summary["peak_in_use"] == result.pool.peak_in_use, where
        assert chart.summary["failed_allocations"] == result.pool.failed_allocations, where
        assert chart.summary["watchdog_resets"] == result.watchdog_resets, where
        at_end = chart.points[-1][1] if chart.points else 0  # no traffic: no point
        assert at_end == result.pool_in_use_at_end, where
        assert chart.axis[0].t0 == 0 and chart.axis[-1].t1 == max(result.virtual_us, 1), where
        assert chart.axis[-1].x1 == 1.0, where


def test_the_ring_depth_it_derives_is_the_boards_own_count_at_each_watchdog_reset(
        matrix_results: list[RunResult]) -> None:
    """The module derives the RX ring's depth from the busy-waits (its docstring says
    why); a watchdog reset record carries the board's own count to compare with."""
    resets = 0
    for result in matrix_results:
        if result.fleet is not None:  # a chart per device; the record's pool is over all
            continue
        records = result.trace
        (chart,) = device_charts(records, result.virtual_us)
        for rec in records:
            if rec.kind != "watchdog_reset":
                continue
            resets += 1
            before = [p for p in chart.points if p[0] < rec.t_us]
            # the last point before the reset instant holds the ring's depth then
            assert before[-1][4] == rec.fields["rx_ring"], result.scenario.name
    assert resets >= 2  # 1.0 and 2.0 reset in buffer-exhaustion-during-content


def test_busy_waits_drops_and_failed_allocations_are_marked_when_they_happened() -> None:
    result = run(resolve_scenario("buffer-exhaustion-during-content"), "1.0", 0)
    (chart,) = device_charts(result.trace, result.virtual_us)
    kinds = [m.kind for m in chart.marks]
    assert kinds.count("failed") == result.pool.failed_allocations == 3
    assert kinds.count("drop") == result.pool.frames_dropped == 3
    assert kinds.count("watchdog") == 1 and kinds.count("boot") == 1
    (busy,) = [m for m in chart.marks if m.kind == "busy"]
    (watchdog,) = [m for m in chart.marks if m.kind == "watchdog"]
    assert busy.end_us == watchdog.t_us == busy.t_us + 2_000_000  # the watchdog's 2 s
    assert any(p[4] == 1 for p in chart.points)  # a frame waited in the ring
    assert any(gap.gap for gap in chart.axis)  # the quiet 2 s and 15 min are drawn short


def test_a_buffer_lent_for_one_transmission_is_a_spike_of_the_board_only() -> None:
    """A pure ACK's buffer is taken and given back in one instant: no alloc/free pair,
    the count in use rides on the link's tx record of that segment."""
    from emulator.trace import TraceRecord

    def tx(t_us: int, src: str, during: int) -> TraceRecord:
        return TraceRecord(t_us, "link.link", "tx", {"src": f"{src}:49152",
                                                      "dst": "198.51.100.25:25",
                                                      "flags": "A", "pool_in_use": during})

    records = [
        TraceRecord(0, "board", "boot", {"boot": 1, "ip": "192.0.2.10", "pool_buffers": 4}),
        TraceRecord(10, "board.pool", "alloc", {"purpose": "rx", "id": 0, "in_use": 1}),
        tx(20, "192.0.2.10", 2),
        tx(30, "198.51.100.25", 4),  # the server's: not this board's pool
        TraceRecord(40, "board.pool", "free", {"purpose": "rx", "id": 0, "in_use": 0}),
    ]
    (chart,) = device_charts(records, 50)
    assert chart.summary["peak_in_use"] == 2
    assert [(p[0], p[1], p[2]) for p in chart.points] == [(10, 1, 1), (20, 1, 2), (40, 0, 0)]
