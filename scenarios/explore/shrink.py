"""Shrinking a failing schedule to a minimal one, deterministically.

Given a predicate "this schedule still fails the same way" (the same invariant, reason
and context on the same release), :func:`shrink`:

1. moves the kernel seed to 0 when the failure does not need another one (a file that
   fails with seed 0 needs no ``--seed`` to reproduce);
2. tries the starting point alone (no mutation at all: the starting point fails);
3. runs ddmin (Zeller and Hildebrandt, IEEE TSE 28(2), 2002) over the list of
   mutations, order kept: the result is 1-minimal, removing any single mutation makes
   the failure go away;
4. shrinks each mutation's values toward the starting point, most aggressive candidate
   first (:func:`scenarios.explore.space.simpler`: optional keys dropped, numbers to
   their smallest, delays and durations rounded to whole and tenth seconds), and starts
   over after each success, until no candidate fails;
5. tries the kernel seed 0 once more.

Every tested schedule is cached, so no schedule runs twice; the count of runs is part of
the result. Nothing here is random: the same failing schedule shrinks to the same
result in every process.

This module knows lists of mutations; what a run is and what "fails the same way" means
are the predicate's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scenarios.explore.mutations import Mutation
from scenarios.explore.space import simpler

Predicate = Callable[[tuple[Mutation, ...], int], bool]
"""Whether the start with these mutations and this kernel seed fails the same way."""


@dataclass(frozen=True)
class Shrunk:
    """The minimal schedule: its mutations and kernel seed, and how many runs it took."""

    mutations: tuple[Mutation, ...]
    kernel_seed: int
    runs: int


class NotFailing(RuntimeError):
    """The schedule given to :func:`shrink` does not fail (a bug of the caller, or a
    nondeterministic run)."""


class _Cached:
    def __init__(self, predicate: Predicate) -> None:
        self._predicate = predicate
        self._seen: dict[tuple[tuple[Mutation, ...], int], bool] = {}

    @property
    def runs(self) -> int:
        return len(self._seen)

    def __call__(self, mutations: Sequence[Mutation], seed: int) -> bool:
        key = (tuple(mutations), seed)
        if key not in self._seen:
            self._seen[key] = self._predicate(*key)
        return self._seen[key]


def shrink(mutations: Sequence[Mutation], kernel_seed: int, fails: Predicate) -> Shrunk:
    """The minimal version of a failing schedule (see the module docstring)."""
    test = _Cached(fails)
    if not test(mutations, kernel_seed):
        raise NotFailing("the schedule to shrink does not fail")
    seed = 0 if kernel_seed != 0 and test(mutations, 0) else kernel_seed
    if test((), seed):
        return Shrunk((), seed, test.runs)
    items = ddmin(list(mutations), lambda subset: test(subset, seed))
    items = shrink_values(items, lambda subset: test(subset, seed))
    if seed != 0 and test(items, 0):
        seed = 0
    return Shrunk(tuple(items), seed, test.runs)


def _chunks(items: list[Mutation], n: int) -> list[list[Mutation]]:
    size, extra = divmod(len(items), n)
    out, at = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(items[at:at + step])
        at += step
    return [c for c in out if c]


def ddmin(items: list[Mutation], test: Callable[[list[Mutation]], bool]) -> list[Mutation]:
    """A 1-minimal sublist of ``items`` (order kept) on which ``test`` holds; ``test``
    must hold on ``items`` and not on the empty list."""
    n = 2
    while len(items) >= 2:
        chunks = _chunks(items, min(n, len(items)))
        reduced = next((c for c in chunks if test(c)), None)
        if reduced is not None:
            items, n = reduced, 2
            continue
        complements = ([m for j, c in enumerate(chunks) if j != i for m in c]
                       for i in range(len(chunks)))
        reduced = next((c for c in complements if len(chunks) > 2 and test(c)), None)
        if reduced is not None:
            items, n = reduced, max(n - 1, 2)
            continue
        if n >= len(items):
            break
        n = min(len(items), 2 * n)
    return items


def shrink_values(items: list[Mutation], test: Callable[[list[Mutation]], bool]
                  ) -> list[Mutation]:
    """Each mutation's values moved toward the starting point while ``test`` holds."""
    changed = True
    while changed:
        changed = False
        for i, mutation in enumerate(items):
            for candidate in simpler(mutation):
                trial = [*items[:i], candidate, *items[i + 1:]]
                if test(trial):
                    items, changed = trial, True
                    break
            if changed:
                break
    return items
