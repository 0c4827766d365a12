"""OneShot on both timer services: a restart moves the deadline, whichever way."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.board import Board
from emulator.kernel import Kernel
from stack.timers import KernelTimers, OneShot, TimerService


def _kernel_timers(kernel: Kernel) -> TimerService:
    return KernelTimers(kernel)


def _board_timers(kernel: Kernel) -> TimerService:
    return Board(kernel).stack.timers


SERVICES: list[Callable[[Kernel], TimerService]] = [_kernel_timers, _board_timers]


def _timer(service: Callable[[Kernel], TimerService]) -> tuple[Kernel, OneShot, list[int]]:
    """A kernel, a OneShot on ``service``, and the times its callback ran."""
    kernel = Kernel(seed=1)
    fired: list[int] = []
    return kernel, OneShot(service(kernel), lambda: fired.append(kernel.now_us)), fired


@pytest.mark.parametrize("service", SERVICES, ids=["kernel", "board"])
def test_a_restart_to_a_later_deadline_fires_at_the_later_one_only(
        service: Callable[[Kernel], TimerService]) -> None:
    kernel, timer, fired = _timer(service)
    timer.start(100)
    kernel.run(until_us=60)
    timer.start(100)  # due at 160; the firing pending for 100 must not run the callback
    kernel.run(until_us=150)
    assert fired == [] and timer.running
    kernel.run()
    assert fired == [160]
    assert not timer.running


@pytest.mark.parametrize("service", SERVICES, ids=["kernel", "board"])
def test_a_restart_to_an_earlier_deadline_fires_at_the_earlier_one_only(
        service: Callable[[Kernel], TimerService]) -> None:
    kernel, timer, fired = _timer(service)
    timer.start(1000)
    kernel.run(until_us=10)
    timer.start(20)
    kernel.run()
    assert fired == [30]


@pytest.mark.parametrize("service", SERVICES, ids=["kernel", "board"])
def test_a_cancel_after_restarts_stops_the_timer(
        service: Callable[[Kernel], TimerService]) -> None:
    kernel, timer, fired = _timer(service)
    timer.start(100)
    kernel.run(until_us=50)
    timer.start(100)
    kernel.run(until_us=120)  # the first firing came and waits on for 150
    timer.cancel()
    kernel.run()
    assert fired == []
    assert not timer.running
