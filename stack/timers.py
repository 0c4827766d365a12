"""Timers for the stack: the service it is given, and a one-shot timer built on it.

The TCP stack never schedules kernel events itself. It asks a :class:`TimerService`,
so whoever runs the stack decides *when* a due timer actually runs: a server-side host
runs it at once from the kernel (:class:`KernelTimers`), the emulated board runs it from
its super-loop (late, if a task hogs the CPU). :class:`OneShot` is the small helper the
stack uses on top: start, restart, cancel, and a callback that can never run late for
a timer that was cancelled or restarted in the meantime.

This module knows the kernel's scheduling calls; it knows nothing about TCP or boards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from emulator.kernel import Kernel


class TimerHandle(Protocol):
    """What starting a timer returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class TimerService(Protocol):
    """Runs ``callback()`` once, ``delay_us`` microseconds of virtual time from now."""

    def start_timer(self, delay_us: int, callback: Callable[[], None]) -> TimerHandle: ...

    def now_us(self) -> int:
        """The virtual time now (a restarted :class:`OneShot` keeps its pending firing
        when that comes no later than its new deadline)."""
        ...


class KernelTimers:
    """Timers straight on the kernel, for hosts without a super-loop."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def start_timer(self, delay_us: int, callback: Callable[[], None]) -> TimerHandle:
        if not isinstance(delay_us, int) or isinstance(delay_us, bool) or delay_us < 0:
            raise ValueError(f"delay_us: expected a non-negative integer, got {delay_us!r}")
        return self.kernel.call_later(delay_us, callback)

    def now_us(self) -> int:
        return self.kernel.now_us


class OneShot:
    """One restartable timer on a :class:`TimerService`.

    Each start gets a fresh token; a firing whose token is stale (the timer was
    cancelled or restarted since) does nothing, even if the service could not cancel it.

    A restart to a deadline no earlier than the pending firing keeps that firing and
    only moves the deadline: when it comes, it starts the service's timer again for the
    time left (the retransmission timer is restarted by every ACK; cancelling and
    scheduling anew each time cost a kernel event, and a cancelled heap entry, per
    segment). The callback still runs exactly at the deadline (or as late as the
    service runs due timers).
    """

    __slots__ = ("_armed_for", "_callback", "_deadline", "_handle", "_service", "_token")

    def __init__(self, service: TimerService, callback: Callable[[], None]) -> None:
        self._service = service
        self._callback = callback
        self._handle: TimerHandle | None = None
        self._token = 0
        self._deadline = 0  # when the callback is due (while running)
        self._armed_for = 0  # when the service's pending timer fires (while running)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, delay_us: int) -> None:
        """(Re)start: fire ``delay_us`` from now, forgetting any earlier start."""
        delay_us = max(0, delay_us)
        deadline = self._service.now_us() + delay_us
        if self._handle is not None and self._armed_for <= deadline:
            self._deadline = deadline  # the pending firing comes first and waits on
            return
        self.cancel()
        self._arm(delay_us, deadline)

    def _arm(self, delay_us: int, deadline: int) -> None:
        self._token += 1
        token = self._token
        self._deadline = self._armed_for = deadline
        self._handle = self._service.start_timer(delay_us, lambda: self._fire(token))

    def start_if_idle(self, delay_us: int) -> None:
        if self._handle is None:
            self.start(delay_us)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._token += 1

    def _fire(self, token: int) -> None:
        if token != self._token or self._handle is None:
            return
        now = self._service.now_us()
        if now < self._deadline:  # restarted to a later deadline meanwhile
            self._arm(self._deadline - now, self._deadline)
            return
        self._handle = None
        self._callback()
