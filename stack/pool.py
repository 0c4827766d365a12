"""The IP buffer pool: a fixed number of fixed-size buffers, as on the device.

Every frame the NIC receives takes a buffer until the stack or the application is done
with it, and every segment the stack sends holds one until it is acknowledged. When
the pool is empty an allocation fails; the caller decides what that means (the NIC
drops the frame, ``send()`` accepts nothing). Server-side hosts use an unbounded pool
(``count=None``) with the same accounting.

Every change is a trace record (``pool``/``alloc``, ``free``, ``exhausted``,
``drop``) carrying the number in use, so pool use over time can be charted from the
trace alone; a buffer lent for the instant of one transmission (:meth:`BufferPool.lend`)
is instead the ``pool_in_use`` field of the link's record of that segment. This module
knows nothing about TCP or frames beyond a purpose string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.kernel import Kernel


@dataclass(slots=True)
class PoolStats:
    """Counters of one pool over a run."""

    count: int | None
    size: int
    in_use: int = 0
    peak_in_use: int = 0
    lowest_free: int | None = None
    allocations: int = 0
    failed_allocations: int = 0
    frames_dropped: int = 0
    failed_by_purpose: dict[str, int] = field(default_factory=dict)
    """``failed_allocations`` split by the purpose the buffer was asked for (``rx``: a
    received frame, then also counted in ``frames_dropped``; ``tx``: a segment to send)."""

    @property
    def free(self) -> int | None:
        return None if self.count is None else self.count - self.in_use


class Buffer:
    """One pool buffer; give it back with :meth:`free` exactly once."""

    __slots__ = ("_freed", "id", "pool", "purpose")

    def __init__(self, pool: BufferPool, buffer_id: int, purpose: str) -> None:
        self.pool = pool
        self.id = buffer_id
        self.purpose = purpose
        self._freed = False

    @property
    def freed(self) -> bool:
        return self._freed

    def free(self) -> None:
        if self._freed:
            raise RuntimeError(f"buffer {self.id} ({self.purpose}) freed twice")
        self._freed = True
        self.pool._release(self)


class BufferPool:
    """A pool of ``count`` buffers of ``size`` bytes (``count=None``: unbounded)."""

    def __init__(self, kernel: Kernel, *, count: int | None, size: int = 1536,
                 name: str = "pool", traced: bool = True) -> None:
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise ValueError(f"pool count: expected a positive integer or None, got {count!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 128:
            raise ValueError(f"pool size: expected an integer of at least 128 bytes, got {size!r}")
        self.kernel = kernel
        self.name = name
        self.traced = traced
        self.stats = PoolStats(count=count, size=size, lowest_free=count)
        self._next_id = 0
        self._live: dict[int, Buffer] = {}

    @property
    def count(self) -> int | None:
        return self.stats.count

    @property
    def size(self) -> int:
        return self.stats.size

    @property
    def in_use(self) -> int:
        return self.stats.in_use

    @property
    def free_count(self) -> int | None:
        count = self.stats.count  # PoolStats.free, without a second property call
        return None if count is None else count - self.stats.in_use

    def _count_allocation(self, purpose: str) -> bool:
        """Count one buffer taken for ``purpose`` (the peak and the lowest free see it);
        False, counted as a failure with an ``exhausted`` record, when the pool is empty.
        The caller then holds it (``alloc``) or gives it back at once (``lend``)."""
        st = self.stats
        count = st.count
        if count is not None and st.in_use >= count:
            st.failed_allocations += 1
            st.failed_by_purpose[purpose] = st.failed_by_purpose.get(purpose, 0) + 1
            if self.traced:
                self.kernel.emit(self.name, "exhausted", purpose=purpose, in_use=st.in_use)
            return False
        st.allocations += 1
        during = st.in_use + 1
        if during > st.peak_in_use:  # plain comparisons: this runs for every frame
            st.peak_in_use = during
        if count is not None:
            free = count - during
            lowest = st.lowest_free
            if lowest is None or free < lowest:
                st.lowest_free = free
        return True

    def alloc(self, purpose: str) -> Buffer | None:
        """Take a buffer, or return None (and count it) when the pool is empty."""
        if not self._count_allocation(purpose):
            return None
        st = self.stats
        buffer_id = self._next_id
        buf = Buffer(self, buffer_id, purpose)
        self._next_id = buffer_id + 1
        self._live[buffer_id] = buf
        in_use = st.in_use + 1
        st.in_use = in_use
        if self.traced:
            self.kernel.emit_fields(self.name, "alloc",
                                    {"purpose": purpose, "id": buffer_id, "in_use": in_use})
        return buf

    def lend(self, purpose: str) -> int | None:
        """A buffer for the instant of one transmission only (a pure ACK, an RST): taken
        and given back at once. Counted as an allocation (the peak and the lowest free
        see it) but written as no ``alloc``/``free`` pair: the caller puts the returned
        number in use (this buffer included) on the record of what it sent. None, with
        an ``exhausted`` record, when the pool is empty."""
        if not self._count_allocation(purpose):
            return None
        return self.stats.in_use + 1

    def _release(self, buf: Buffer) -> None:
        buffer_id = buf.id
        del self._live[buffer_id]
        st = self.stats
        in_use = st.in_use - 1
        st.in_use = in_use
        if self.traced:
            self.kernel.emit_fields(self.name, "free",
                                    {"purpose": buf.purpose, "id": buffer_id, "in_use": in_use})

    def count_drop(self, what: str) -> None:
        """Count a frame dropped because no buffer was free."""
        self.stats.frames_dropped += 1
        if self.traced:
            self.kernel.emit(self.name, "drop", what=what, dropped=self.stats.frames_dropped)

    def live_buffers(self) -> list[Buffer]:
        """Buffers currently taken, oldest first (for leak checks and resets)."""
        return [self._live[k] for k in sorted(self._live)]

    def reclaim_all(self, why: str) -> int:
        """Give back every buffer (a board reset re-initialises RAM); returns how many."""
        bufs = self.live_buffers()
        for buf in bufs:
            buf.free()
        if self.traced:
            self.kernel.emit(self.name, "reclaimed", why=why, buffers=len(bufs))
        return len(bufs)
