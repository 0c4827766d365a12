"""A board's IP buffer pool and NIC RX ring over virtual time, from its trace records.

The pool writes a record at every allocation and release with the number in use
(``<board>.pool`` ``alloc``/``free``), and one when an allocation fails
(``exhausted``); a buffer lent for the instant of one transmission (a pure ACK, an RST)
is the ``pool_in_use`` field of the link's ``tx`` record of that segment instead, a
spike of one instant; the board writes one when its NIC drops a frame (``rx_drop``, ring full
or no free buffer), when a task starts and stops busy-waiting (``busy_wait``,
``busy_wait_end``) and when the watchdog resets it (``watchdog_reset``, then ``boot``).

The RX ring is not written down frame by frame; its depth follows from how the board
works (``emulator/board.py``): a frame that gets a buffer goes into the ring, and the
super-loop empties the ring at the same virtual instant unless a task holds the CPU in a
busy-wait. So between ``busy_wait`` and ``busy_wait_end`` (or the watchdog's reset, which
clears the ring) every received frame that got a buffer (an ``rx`` allocation) waits
in the ring, and outside those stretches the ring is empty whenever virtual time moves.
The ``rx_ring`` count in a ``watchdog_reset`` record is the board's own count, and a
test checks the two agree.

This module knows the board's and the pool's trace records; it judges nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from emulator.trace import TraceKind, TraceRecord
from scenarios.report.dialogue import board_names
from scenarios.report.model import DeviceChart, Mark
from scenarios.report.timeaxis import compress_axis

MAX_POINTS = 1500
"""More instants than this are merged in runs (keeping the peaks) before drawing."""

Point = tuple[int, int, int, int, int]
_BUFFER_KINDS: Final[frozenset[TraceKind]] = frozenset({"alloc", "free"})


class _Points:
    """The chart's points as they come, merged in runs of ``step`` neighbours (the time
    of the first, the state after the last, the peaks of all), so that at most
    :data:`MAX_POINTS` are drawn and none is held longer; the latest point can still
    change (:attr:`last`) until the next one comes. ``count`` counts them all."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.count = 0
        self.last: Point | None = None
        self.merged: list[Point] = []
        self.peak = 0
        self.ring_peak = 0
        self._run: list[Point] = []

    def add(self, point: Point) -> None:
        self._settle()
        self.last = point
        self.count += 1

    def _settle(self) -> None:
        """The latest point can no longer change: into its run."""
        if self.last is None:
            return
        self.peak = max(self.peak, self.last[2])
        self.ring_peak = max(self.ring_peak, self.last[4])
        self._run.append(self.last)
        self.last = None
        if len(self._run) == self.step:
            self._merge()

    def _merge(self) -> None:
        run, self._run = self._run, []
        last = run[-1]
        self.merged.append((run[0][0], last[1], max(p[2] for p in run), last[3],
                            max(p[4] for p in run)))

    def finish(self) -> list[Point]:
        """Every point, merged."""
        self._settle()
        if self._run:
            self._merge()
        return self.merged


@dataclass
class _State:
    pool_size: int | None = None
    ip: str | None = None
    in_use: int = 0
    rx_in_use: int = 0
    ring: int = 0
    busy_since: int | None = None
    busy_text: str = ""
    points: _Points = field(default_factory=lambda: _Points(1))
    marks: list[Mark] = field(default_factory=list)
    failed: int = 0
    dropped: int = 0
    resets: int = 0

    def record_point(self, t_us: int) -> None:
        last = self.points.last
        if last is not None and last[0] == t_us:
            self.points.last = (t_us, self.in_use, max(last[2], self.in_use), self.rx_in_use,
                                self.ring)
        else:
            self.points.add((t_us, self.in_use, self.in_use, self.rx_in_use, self.ring))

    def spike(self, t_us: int, during: int) -> None:
        """A buffer lent for one instant: the peak of this instant is ``during``."""
        self.record_point(t_us)
        assert self.points.last is not None  # just recorded
        t, in_use, peak, rx, ring = self.points.last
        self.points.last = (t, in_use, max(peak, during), rx, ring)

    def end_busy(self, t_us: int, how: str) -> None:
        if self.busy_since is not None:
            self.marks.append(Mark(self.busy_since, "busy", f"{self.busy_text}; {how}",
                                   end_us=t_us))
        self.busy_since = None
        self.ring = 0


def _pool(state: _State, rec: TraceRecord) -> None:
    f = rec.fields
    in_use = f.get("in_use")
    if rec.kind in _BUFFER_KINDS and isinstance(in_use, int):
        state.in_use = in_use
        if f.get("purpose") == "rx":
            state.rx_in_use += 1 if rec.kind == "alloc" else -1
            if rec.kind == "alloc" and state.busy_since is not None:
                state.ring += 1
        state.record_point(rec.t_us)
    elif rec.kind == "exhausted":
        state.failed += 1
        state.marks.append(Mark(rec.t_us, "failed",
                                f"allocation failed: no free buffer ({f.get('purpose')})"))


def _lent(state: _State, rec: TraceRecord) -> None:
    """A link ``tx`` record of a segment the board sent with a lent buffer."""
    during = rec.fields.get("pool_in_use")
    src = rec.fields.get("src")
    if (isinstance(during, int) and isinstance(src, str) and rec.source.startswith("link")
            and src.rpartition(":")[0] == state.ip):
        state.spike(rec.t_us, during)


def _board(state: _State, rec: TraceRecord) -> None:
    f, t = rec.fields, rec.t_us
    if rec.kind == "boot":
        size = f.get("pool_buffers")
        state.pool_size = size if isinstance(size, int) else state.pool_size
        ip = f.get("ip")
        state.ip = ip if isinstance(ip, str) else state.ip
        if f.get("after"):
            state.marks.append(Mark(t, "boot", "the board boots again"))
    elif rec.kind == "busy_wait":
        state.busy_since = t
        state.busy_text = (f"task {f.get('task')} busy-waits for {f.get('reason')}: "
                           f"the super-loop does not run, received frames wait in the ring")
    elif rec.kind == "busy_wait_end":
        state.end_busy(t, "the wait ended")
        state.record_point(t)
    elif rec.kind == "watchdog_reset":
        state.resets += 1
        state.marks.append(Mark(t, "watchdog", f"watchdog reset: task {f.get('task')} held "
                                f"the CPU waiting for {f.get('waiting_for')}"))
        state.end_busy(t, "the watchdog reset the board")
        state.record_point(t)
    elif rec.kind == "rx_drop":
        state.dropped += 1
        state.marks.append(Mark(t, "drop", f"frame dropped: {f.get('why')}"))


def _follow(records: Sequence[TraceRecord], board: str, end_us: int, step: int) -> _State:
    """The board's state through the run, its points merged ``step`` at a time."""
    state = _State(points=_Points(step))
    pool = f"{board}.pool"
    for rec in records:
        if rec.source == pool:
            _pool(state, rec)
        elif rec.source == board:
            _board(state, rec)
        elif rec.kind == "tx" and state.ip is not None:
            _lent(state, rec)
    state.end_busy(end_us, "still waiting when the run ended")
    return state


def device_chart(records: Sequence[TraceRecord], board: str, end_us: int) -> DeviceChart:
    """The chart of ``board`` (see the module docstring) over ``0..end_us``: the records
    are read a second time when there are more than :data:`MAX_POINTS` points, to merge
    them in runs as they come (a long run's points are never held whole)."""
    state = _follow(records, board, end_us, 1)
    count = state.points.count
    if count > MAX_POINTS:
        state = _follow(records, board, end_us, -(-count // MAX_POINTS))
    points = state.points.finish()
    marks = tuple(sorted(state.marks, key=lambda m: m.t_us))
    times = [p[0] for p in points] + [m.t_us for m in marks] + \
        [m.end_us for m in marks if m.end_us is not None]
    summary = {"peak_in_use": state.points.peak, "failed_allocations": state.failed,
               "frames_dropped": state.dropped, "watchdog_resets": state.resets,
               "ring_peak": state.points.ring_peak}
    return DeviceChart(board=board, pool_size=state.pool_size, points=tuple(points),
                       marks=marks, axis=compress_axis(times, end_us), summary=summary)


def device_charts(records: Sequence[TraceRecord], end_us: int) -> list[DeviceChart]:
    """One chart per board of the run."""
    return [device_chart(records, board, end_us) for board in board_names(records)]
