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


class KernelTimers:
    """Timers straight on the kernel, for hosts without a super-loop."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def start_timer(self, delay_us: int, callback: Callable[[], None]) -> TimerHandle:
        if not isinstance(delay_us, int) or isinstance(delay_us, bool) or delay_us < 0:
            raise ValueError(f"delay_us: expected a non-negative integer, got {delay_us!r}")
        return self.kernel.call_later(delay_us, callback)


class OneShot:
    """One restartable timer on a :class:`TimerService`.

    Each start gets a fresh token; a firing whose token is stale (the timer was
    cancelled or restarted since) does nothing, even if the service could not cancel it.
    """

    __slots__ = ("_callback", "_handle", "_service", "_token")

    def __init__(self, service: TimerService, callback: Callable[[], None]) -> None:
        self._service = service
        self._callback = callback
        self._handle: TimerHandle | None = None
        self._token = 0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, delay_us: int) -> None:
        """(Re)start: fire ``delay_us`` from now, forgetting any earlier start."""
        self.cancel()
        self._token += 1
        token = self._token
        self._handle = self._service.start_timer(max(0, delay_us), lambda: self._fire(token))

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
        self._handle = None
        self._callback()
