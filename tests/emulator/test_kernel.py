"""The kernel: ordering, ties, cancellation, idle jumps, bad input."""

import pytest

from emulator.kernel import Kernel
from emulator.units import MINUTE, SECOND


def test_events_run_in_time_order_and_ties_in_scheduling_order() -> None:
    k = Kernel()
    seen: list[str] = []
    k.call_at(20, seen.append, "late")
    k.call_at(10, seen.append, "first-at-10")
    k.call_at(10, seen.append, "second-at-10")
    k.call_later(0, seen.append, "now")
    k.run()
    assert seen == ["now", "first-at-10", "second-at-10", "late"]
    assert k.now_us == 20


def test_cancelled_event_does_not_run_and_does_not_move_time() -> None:
    k = Kernel()
    seen: list[int] = []
    h = k.call_at(5 * MINUTE, seen.append, 1)
    k.call_at(SECOND, seen.append, 2)
    h.cancel()
    k.run()
    assert seen == [2]
    assert k.now_us == SECOND
    assert k.peek() is None


def test_run_until_stops_at_the_limit_and_sets_the_clock() -> None:
    k = Kernel()
    seen: list[int] = []
    k.call_at(100, seen.append, 1)
    k.call_at(300, seen.append, 2)
    k.run(until_us=200)
    assert seen == [1]
    assert k.now_us == 200
    k.run(until_us=300)
    assert seen == [1, 2]


def test_stop_predicate_ends_the_run_at_that_event() -> None:
    k = Kernel()
    seen: list[int] = []
    for i in range(5):
        k.call_at(i * 10, seen.append, i)
    k.run(stop=lambda: len(seen) >= 3)
    assert seen == [0, 1, 2]
    assert k.now_us == 20


def test_idle_ten_minutes_costs_one_event() -> None:
    k = Kernel()
    fired: list[int] = []
    k.call_later(10 * MINUTE, lambda: fired.append(k.now_us))
    k.run()
    assert fired == [10 * MINUTE]
    assert k.events_run == 1


def test_same_seed_same_random_sequence() -> None:
    a, b, c = Kernel(seed=7), Kernel(seed=7), Kernel(seed=8)
    sa = [a.rng.random() for _ in range(5)]
    assert sa == [b.rng.random() for _ in range(5)]
    assert sa != [c.rng.random() for _ in range(5)]


def test_scheduling_in_the_past_or_negative_delay_is_refused() -> None:
    k = Kernel()
    k.run(until_us=100)
    with pytest.raises(ValueError, match="in the past"):
        k.call_at(50, lambda: None)
    with pytest.raises(ValueError, match="negative delay"):
        k.call_later(-1, lambda: None)


@pytest.mark.parametrize("seed", ["7", 1.5, None, True])
def test_seed_must_be_an_integer(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        Kernel(seed=seed)  # type: ignore[arg-type]


def test_run_until_idle_stops_at_the_last_event_or_at_the_limit() -> None:
    k = Kernel()
    k.call_at(100, lambda: None)
    assert k.run_until_idle(limit_us=1_000) is True
    assert k.now_us == 100  # idle before the limit: the clock stays at the last event
    k.call_at(5_000, lambda: None)
    assert k.run_until_idle(limit_us=2_000) is False
    assert k.now_us == 2_000 and k.peek() == 5_000
    assert k.run_until_idle() is True and k.now_us == 5_000


def test_a_negative_seed_is_refused_not_folded_onto_its_absolute_value() -> None:
    with pytest.raises(ValueError, match=r"seed: expected an integer >= 0, got -1"):
        Kernel(seed=-1)
    assert Kernel(seed=0).seed == 0


def test_a_sweep_drops_cancelled_entries_and_changes_no_event_order() -> None:
    """Re-armed timeouts leave cancelled entries; once the heap doubles they go, and
    the events that remain run in the same order (same times, same ties)."""
    from emulator.kernel import SWEEP_FLOOR

    def schedule(kernel: Kernel, ran: list[int]) -> None:
        for i in range(3 * SWEEP_FLOOR):
            handle = kernel.call_at(10 * MINUTE + i % 7, ran.append, i)
            if i % 5:
                handle.cancel()  # four in five re-armed: a cancelled entry each

    kernel, ran = Kernel(), []
    schedule(kernel, ran)
    assert kernel.pending < 2 * SWEEP_FLOOR  # swept: the live fifth and what came since
    kernel.run()
    expected = sorted((i for i in range(3 * SWEEP_FLOOR) if not i % 5),
                      key=lambda i: (10 * MINUTE + i % 7, i))
    assert ran == expected and kernel.pending == 0
