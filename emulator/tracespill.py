"""Trace records past a bound kept on disk: a run's memory does not grow with its records.

A run that keeps its whole trace for the views that read it (``--report``, ``--junit``,
``--check-determinism``, the artifacts written after the run) holds one record per
segment, pool buffer and chunk: about 180,000 for a 20 MiB mail. :class:`SpillingRecords`
is the list a :class:`~emulator.trace.Trace` keeps its records in
(``Trace(records=SpillingRecords())``): the first ``bound`` records stay in memory, as
a list would hold them; every later one goes, in blocks of ``block`` records, to an
unnamed temporary file (:func:`tempfile.TemporaryFile`: on Linux it never has a name, on
other POSIX systems it is unlinked at once, so nothing is left in the temporary folder
after an error, a Ctrl-C or a kill; the file is closed with the object or by
:meth:`close`).

The records are written losslessly (pickle: bytes, :class:`~emulator.trace.Opaque`,
:class:`~emulator.trace.Elided`, enum members and tuples come back as they went in), so
every view of a spilled trace is the view of the same trace kept in memory: the
canonical line, which drops the bytes a view shows, would not do. Reading it back is a
pass over the file (:meth:`__iter__`, one block in memory at a time); an index reads one
block. Only the latest block, not yet written, can still be changed: a block is written
when the record after it comes, so the latest record always can (the trace replaces the
record it just added with its lean copy, :class:`~emulator.trace.Trace` ``keep_bytes``).

Pickled, it becomes a plain tuple of its records (a worker process returns a result
whole: a file handle cannot travel).

This module knows trace records and files; it knows nothing of runs or views.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from typing import IO, Any, Final, overload

from emulator.trace import TraceRecord

SPILL_BOUND: Final = 4_096
"""Records a run keeps in memory before the next ones go to disk: about 2 MiB with their
payloads; a 1 MiB mail's run has about 9,000 (with 20,000, a 20 MiB run peaked 10 MiB
above a 1 MiB one, with 4,096 2 MiB: ``bench/bench_memory.py``)."""
SPILL_BLOCK: Final = 1024
"""Records written (and read back) together."""


class SpillingRecords(MutableSequence[TraceRecord]):
    """A list of trace records whose records past ``bound`` live in an unnamed temporary
    file (module docstring). Appending is the only way to grow it; records on disk cannot
    be changed or removed (ValueError naming the index)."""

    def __init__(self, bound: int = SPILL_BOUND, block: int = SPILL_BLOCK) -> None:
        for name, value, least in (("bound", bound, 0), ("block", block, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name}: expected a whole number >= {least}, got {value!r}")
        self.bound = bound
        self.block = block
        self._head: list[TraceRecord] = []
        self._offsets: list[int] = []
        """Where each block written starts in the file; the file ends at ``_end``."""
        self._end = 0
        self._written = 0
        """Records in the blocks on disk."""
        self._tail: list[TraceRecord] = []
        """Records past the bound not written yet (at most ``block``)."""
        self._file: IO[bytes] | None = None
        self._cached: tuple[int, list[TraceRecord]] | None = None

    # -- growing -------------------------------------------------------------------------
    def append(self, value: TraceRecord) -> None:
        if len(self._head) < self.bound:
            self._head.append(value)
            return
        if len(self._tail) >= self.block:
            self._write_block()  # written when the next comes: the latest stays changeable
        self._tail.append(value)

    def insert(self, index: int, value: TraceRecord) -> None:
        if index != len(self):
            raise ValueError(f"insert at {index}: records can only be appended "
                             f"(at {len(self)})")
        self.append(value)

    def extend(self, values: Iterable[TraceRecord]) -> None:
        for value in values:
            self.append(value)

    def _write_block(self) -> None:
        # start-up: pickle only once a run spills (measured: 4.5 ms of every `smtp-hil run`)
        import pickle

        if self._file is None:
            # unnamed (O_TMPFILE) or unlinked at once: nothing to clean up, ever
            self._file = tempfile.TemporaryFile(prefix="smtp-hil-trace-")  # noqa: SIM115
        data = pickle.dumps(self._tail, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(self._end)
        self._file.write(data)
        self._offsets.append(self._end)
        self._end += len(data)
        self._written += len(self._tail)
        self._tail = []

    # -- reading -------------------------------------------------------------------------
    @property
    def spilled(self) -> int:
        """Records kept on disk or waiting to be written there (past the bound)."""
        return self._written + len(self._tail)

    def __len__(self) -> int:
        return len(self._head) + self._written + len(self._tail)

    def __iter__(self) -> Iterator[TraceRecord]:
        yield from self._head[:]
        for number in range(len(self._offsets)):
            yield from self._read_block(number)
        yield from self._tail[:]

    def _read_block(self, number: int) -> list[TraceRecord]:
        if self._cached is not None and self._cached[0] == number:
            return self._cached[1]
        import pickle  # start-up: as in _write_block

        assert self._file is not None  # a block was written
        start = self._offsets[number]
        end = self._offsets[number + 1] if number + 1 < len(self._offsets) else self._end
        self._file.seek(start)
        records: list[TraceRecord] = pickle.loads(self._file.read(end - start))
        self._cached = (number, records)
        return records

    @overload
    def __getitem__(self, index: int) -> TraceRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[TraceRecord]: ...

    def __getitem__(self, index: int | slice) -> TraceRecord | list[TraceRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = self._position(index)
        if position < len(self._head):
            return self._head[position]
        past = position - len(self._head)
        if past >= self._written:
            return self._tail[past - self._written]
        return self._read_block(past // self.block)[past % self.block]

    def _position(self, index: int) -> int:
        size = len(self)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError(f"trace record {index}: the trace has {size} records")
        return position

    # -- changing the latest records ------------------------------------------------------
    def _changeable(self, index: int, what: str) -> int:
        """Where record ``index`` is in the head (< bound) or the tail (>= bound)."""
        position = self._position(index)
        if position < len(self._head):
            return position
        past = position - len(self._head) - self._written
        if past < 0:
            raise ValueError(f"{what} trace record {index}: it was written to disk")
        return self.bound + past

    @overload
    def __setitem__(self, index: int, value: TraceRecord) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[TraceRecord]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            raise TypeError("trace records: replace one record at a time")
        at = self._changeable(index, "replace")
        if at < self.bound:
            self._head[at] = value
        else:
            self._tail[at - self.bound] = value

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            raise TypeError("trace records: remove one record at a time")
        at = self._changeable(index, "remove")
        if at < self.bound:
            if self.spilled:
                raise ValueError(f"remove trace record {index}: records after it are on "
                                 f"disk and cannot move")
            del self._head[at]
        else:
            del self._tail[at - self.bound]

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Let go of the file now (reading the spilled records fails afterwards)."""
        if self._file is not None:
            self._file.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (tuple(self),))


def kept_records(records: Sequence[TraceRecord]) -> Sequence[TraceRecord]:
    """What a finished run keeps of its trace's ``records``: the spilling list itself once
    records went to disk, else a tuple of them (no file, nothing to close)."""
    if isinstance(records, SpillingRecords) and records.spilled:
        return records
    return tuple(records)


def spills(records: Sequence[TraceRecord]) -> bool:
    """Whether ``records`` is a list that keeps records past its bound on disk."""
    return isinstance(records, SpillingRecords)
