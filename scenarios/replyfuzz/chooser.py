"""Where the reply fuzzer's choices come from: one small interface, three sources.

Every generator of :mod:`scenarios.replyfuzz.mutations` and the driver of
:mod:`scenarios.replyfuzz.harness` take their decisions from a :class:`Chooser`, so the
same generators run under Hypothesis (the test suite: a chooser that draws from
Hypothesis, which then shrinks a failure to a small case), under a seeded
``random.Random`` (:class:`RandomChooser`, ``make fuzz``: a million inputs) and from a
recorded list of choices (:class:`ReplayChooser`, the reproducer of a failure).
:class:`RecordingChooser` wraps any chooser and keeps what it chose.

Conventions that make shrinking work: ``integer`` shrinks towards ``low``, ``pick``
towards the first option (so options are listed plainest first), ``chance`` towards
False. Every decision is one ``integer`` call underneath, so a case is fully described
by its list of integers.

This module knows nothing about SMTP. It never uses the global random generator.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    """The one primitive: an integer in ``[low, high]`` (both included)."""

    def integer(self, low: int, high: int) -> int: ...


def pick(chooser: Chooser, options: Sequence[T]) -> T:
    """One of ``options`` (the first is the plainest: shrinking goes there)."""
    return options[chooser.integer(0, len(options) - 1)]


def chance(chooser: Chooser, percent: int) -> bool:
    """True with probability ``percent`` / 100 (shrinks towards False)."""
    return chooser.integer(0, 99) >= 100 - percent


class RandomChooser:
    """Choices from a seeded ``random.Random`` (never the global one)."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        # random() rather than randint(): five times faster, and the bias of at most
        # 2**-53 per value does not matter to a fuzzer.
        return low + int(self._rng.random() * (high - low + 1))


class RecordingChooser:
    """Wraps a chooser and keeps every integer it returned, in order (``choices``)."""

    def __init__(self, inner: Chooser) -> None:
        self._inner = inner
        self.choices: list[int] = []

    def integer(self, low: int, high: int) -> int:
        value = self._inner.integer(low, high)
        self.choices.append(value)
        return value


class ReplayChooser:
    """Plays back recorded choices; past their end (or out of range) it chooses ``low``."""

    def __init__(self, choices: Sequence[int]) -> None:
        self._choices = list(choices)
        self._next = 0

    def integer(self, low: int, high: int) -> int:
        if self._next < len(self._choices):
            value = self._choices[self._next]
            self._next += 1
            if low <= value <= high:
                return value
        return low
