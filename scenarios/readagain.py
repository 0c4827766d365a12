"""A sequence computed again from its source on every pass, never held whole.

The views of a run whose trace waits on disk (:mod:`emulator.tracespill`) read it record
by record: the records with credentials blanked (:func:`scenarios.masking.iter_masked`),
the transcript's lines (:func:`scenarios.artifacts.iter_transcript`). :class:`ReadAgain`
gives such a stream the shape of the list the views take (``Sequence``): each pass calls
the factory again; an index or ``len()`` is a pass of its own (the views iterate).

This module knows nothing of what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import TypeVar, overload

T = TypeVar("T")


class ReadAgain(Sequence[T]):
    """The items ``make()`` yields, made again on every pass (module docstring)."""

    def __init__(self, make: Callable[[], Iterator[T]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[T]:
        return self._make()

    def __len__(self) -> int:
        return sum(1 for _ in self._make())

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self)
        found = next(islice(self._make(), index, None), None) if index >= 0 else None
        if found is None:
            raise IndexError(f"index {index} out of range")
        return found
