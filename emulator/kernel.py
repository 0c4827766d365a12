"""The virtual-time kernel: one clock, one random generator, one event heap, one trace.

Time is an integer number of microseconds and only moves when the kernel jumps to the
next scheduled event, so idle time costs nothing. Events due at the same instant run in
the order they were scheduled (a sequence number breaks ties). All randomness in the
simulated world comes from :attr:`Kernel.rng`, seeded once.

A cancelled event stays in the heap until its time comes, unless the heap doubles in
size since it was last swept: then the cancelled entries are dropped and the rest made a
heap again (:data:`SWEEP_FLOOR`). Every entry's ``(time, sequence)`` is unique, so the
order events run in does not depend on the heap's layout, and a sweep changes nothing
but memory: a long transfer re-arms its timeouts thousands of times, and each re-arming
would otherwise hold a cancelled entry for minutes of virtual time.

The kernel knows nothing about boards, stacks or SMTP. It is passed explicitly through
constructors; there is no ambient "current kernel".
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any, Final

from emulator.checks import check_int
from emulator.trace import TRACE_KINDS, FieldValue, Trace, TraceKind, TraceRecord, unknown_kind

SWEEP_FLOOR: Final = 4096
"""The heap is not swept below this many entries (a sweep is then not worth its time)."""


class Handle:
    """A scheduled callback; :meth:`cancel` prevents it from running."""

    __slots__ = ("args", "callback", "cancelled", "when_us")

    def __init__(self, when_us: int, callback: Callable[..., object], args: tuple[Any, ...]):
        self.when_us = when_us
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<Handle at {self.when_us}us {getattr(self.callback, '__qualname__', '?')}{state}>"


class Kernel:
    """Discrete-event scheduler over integer microseconds."""

    def __init__(self, seed: int = 0, trace: Trace | None = None) -> None:
        # random.Random seeds with abs(seed): -1 would silently give the run of 1.
        check_int("seed", seed, 0)
        self.seed = seed
        self.rng = random.Random(seed)
        self.trace = trace if trace is not None else Trace()
        self._now_us = 0
        self._heap: list[tuple[int, int, Handle]] = []
        self._sweep_at = SWEEP_FLOOR
        self._sequence = 0
        self.events_run = 0

    @property
    def now_us(self) -> int:
        return self._now_us

    def call_at(self, when_us: int, callback: Callable[..., object], *args: Any) -> Handle:
        """Run ``callback(*args)`` at virtual time ``when_us`` (never in the past)."""
        if when_us < self._now_us:
            raise ValueError(f"call_at: {when_us}us is in the past (now {self._now_us}us)")
        if type(when_us) is not int:
            when_us = int(when_us)
        handle = Handle(when_us, callback, args)
        sequence = self._sequence
        heapq.heappush(self._heap, (when_us, sequence, handle))
        self._sequence = sequence + 1
        if len(self._heap) > self._sweep_at:
            self._sweep()
        return handle

    def _sweep(self) -> None:
        """Drop the cancelled entries (module docstring); the next sweep waits until the
        heap has doubled again."""
        live = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(live)
        self._heap = live
        self._sweep_at = max(SWEEP_FLOOR, 2 * len(live))

    @property
    def pending(self) -> int:
        """Entries in the heap, cancelled ones included (for tests and benchmarks)."""
        return len(self._heap)

    def call_later(self, delay_us: int, callback: Callable[..., object], *args: Any) -> Handle:
        """Run ``callback(*args)`` after ``delay_us`` microseconds of virtual time."""
        if delay_us < 0:
            raise ValueError(f"call_later: negative delay {delay_us}us")
        return self.call_at(self._now_us + int(delay_us), callback, *args)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Handle:
        """Run ``callback(*args)`` at the current instant, after what is already due."""
        return self.call_at(self._now_us, callback, *args)

    def peek(self) -> int | None:
        """Time of the next pending event, or None when nothing is scheduled."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Run the next pending event; False when there was none."""
        while self._heap:
            when, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._now_us = when
            self.events_run += 1
            handle.callback(*handle.args)
            return True
        return False

    def run(self, until_us: int | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Run events up to and including ``until_us`` (then the clock reads ``until_us``).

        Without ``until_us`` it runs until nothing is scheduled. ``stop`` is checked
        after every event; when it returns True the run ends at that event's time.
        """
        heappop = heapq.heappop
        while True:  # peek() and step() in one loop: this is the loop of every run
            if stop is not None and stop():
                return
            heap = self._heap  # read again each time: a sweep replaces the list
            while heap and heap[0][2].cancelled:
                heappop(heap)
            if not heap or (until_us is not None and heap[0][0] > until_us):
                break
            when, _, handle = heappop(heap)
            self._now_us = when
            self.events_run += 1
            handle.callback(*handle.args)
        if until_us is not None and until_us > self._now_us:
            self._now_us = until_us

    def run_until_idle(self, limit_us: int | None = None) -> bool:
        """Run until no event is pending (True), or stop at virtual time ``limit_us`` with
        events still pending (False). Unlike ``run(until_us=...)`` the clock stays at the
        last event when the kernel went idle before the limit."""
        while True:
            nxt = self.peek()
            if nxt is None:
                return True
            if limit_us is not None and nxt > limit_us:
                self._now_us = max(self._now_us, limit_us)
                return False
            self.step()

    def emit(self, source: str, kind: TraceKind, **fields: FieldValue) -> TraceRecord:
        """Add a trace record stamped with the current virtual time.

        ``kind`` must be one of :data:`~emulator.trace.TraceKind` (ValueError otherwise:
        a record nobody's view knows would be lost in silence)."""
        if kind not in TRACE_KINDS:
            raise ValueError(unknown_kind(kind, source))
        return self.trace.add(self._now_us, source, kind, fields)

    def emit_fields(self, source: str, kind: TraceKind,
                    fields: dict[str, FieldValue]) -> TraceRecord:
        """:meth:`emit` with the fields already in a dict (which the record keeps: the
        caller must not change it afterwards); saves copying them on the hot paths."""
        if kind not in TRACE_KINDS:
            raise ValueError(unknown_kind(kind, source))
        return self.trace.add(self._now_us, source, kind, fields)
