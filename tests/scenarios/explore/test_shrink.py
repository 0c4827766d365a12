"""Shrinking (scenarios/explore/shrink.py) on predicates whose answer is known: ddmin finds
the culprits and leaves a 1-minimal list, values move toward the start, the kernel seed
goes to 0 when it can, nothing runs twice, and a schedule that does not fail is refused.
The whole loop on real runs is tested in test_explore.py."""

from __future__ import annotations

import itertools

import pytest

from scenarios.explore.mutations import Mutation
from scenarios.explore.shrink import NotFailing, ddmin, shrink

ITEMS = [Mutation.of("pool", buffers=b) for b in (2, 3, 4, 5, 6, 8, 12)] + [
    Mutation.of("rtc", value=f"2024-0{m}-01T00:00:00") for m in range(1, 10)]


@pytest.mark.parametrize("culprits", [(3,), (0, 15), (2, 7, 11), (5, 6)])
def test_ddmin_finds_the_culprits_and_nothing_else(culprits: tuple[int, ...]) -> None:
    needed = {ITEMS[i] for i in culprits}
    calls: list[int] = []

    def test(subset: list[Mutation]) -> bool:
        calls.append(len(subset))
        return needed <= set(subset)

    result = ddmin(list(ITEMS), test)
    assert result == [ITEMS[i] for i in culprits]  # order kept
    for i in range(len(result)):  # 1-minimal: no single one can go
        assert not test(result[:i] + result[i + 1:])
    assert len(calls) < 80


def test_shrink_moves_values_toward_the_start_and_the_seed_to_zero() -> None:
    pool = Mutation.of("pool", buffers=2)
    noise = [Mutation.of("rtc", value="2024-02-29T12:00:00"),
             Mutation.of("drift", ppm=100)]
    seen: list[tuple[tuple[Mutation, ...], int]] = []

    def fails(mutations: tuple[Mutation, ...], seed: int) -> bool:
        seen.append((mutations, seed))
        buffers = [m.p["buffers"] for m in mutations if m.kind == "pool"]
        return bool(buffers) and int(buffers[0]) <= 6  # type: ignore[arg-type]

    shrunk = shrink([noise[0], pool, noise[1]], 99, fails)
    assert shrunk.mutations == (Mutation.of("pool", buffers=6),)  # the largest that fails
    assert shrunk.kernel_seed == 0
    assert shrunk.runs == len(seen) == len(set(seen))  # cached: nothing ran twice


def test_a_failure_that_needs_its_seed_keeps_it() -> None:
    m = Mutation.of("link", loss=0.2)
    shrunk = shrink([m], 7, lambda mutations, seed: seed == 7 and m in mutations)
    assert (shrunk.mutations, shrunk.kernel_seed) == ((m,), 7)


def test_the_starting_point_itself_failing_shrinks_to_nothing() -> None:
    shrunk = shrink(ITEMS[:4], 0, lambda mutations, seed: True)
    assert shrunk.mutations == () and shrunk.runs == 2


def test_a_schedule_that_does_not_fail_is_refused() -> None:
    with pytest.raises(NotFailing):
        shrink(ITEMS[:2], 0, lambda mutations, seed: False)


def test_shrinking_is_the_same_every_time() -> None:
    def fails(mutations: tuple[Mutation, ...], seed: int) -> bool:
        return sum(1 for m in mutations if m.kind == "rtc") >= 2 and seed % 2 == 1

    results = {shrink(list(p), 3, fails) for p in itertools.repeat(ITEMS, 3)}
    assert len(results) == 1
