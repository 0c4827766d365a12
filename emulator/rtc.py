"""The simulated real-time clock of the board.

Calendar time is derived from kernel time plus an offset, so it advances exactly with
virtual time (optionally drifting by an integer number of ppm). It can be set, and it can
be *unset*: a board with a flat backup battery reads 1970-01-01 00:00:00 from boot and
reports itself invalid, which is how "some SMTP servers require a correct time" shows up.

Reads come as a broken-down struct, the way an embedded porting layer (``psp_rtc_*``)
hands them over. This module knows the kernel's clock and the calendar, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from emulator.kernel import Kernel

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RtcReading:
    """What ``psp_rtc_get()`` returns: month 1-12, weekday 0=Monday .. 6=Sunday."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int
    valid: bool


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class Rtc:
    """A settable, optionally drifting calendar clock driven by the kernel."""

    def __init__(self, kernel: Kernel, *, start: datetime | None = None, drift_ppm: int = 0,
                 name: str = "rtc") -> None:
        if (not isinstance(drift_ppm, int) or isinstance(drift_ppm, bool)
                or abs(drift_ppm) > 500_000):
            raise ValueError(
                f"rtc drift_ppm: expected an integer within +-500000, got {drift_ppm!r}")
        self.kernel = kernel
        self.name = name
        self.drift_ppm = drift_ppm
        self._base_us = 0  # calendar microseconds since the epoch at _set_at_us
        self._set_at_us = kernel.now_us
        self._valid = False
        if start is not None:
            self.set(start)

    @property
    def valid(self) -> bool:
        return self._valid

    def set(self, when: datetime) -> None:
        """Set the calendar time now (naive datetimes are taken as UTC)."""
        delta = _as_utc(when) - EPOCH
        self._base_us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        self._set_at_us = self.kernel.now_us
        self._valid = True
        self.kernel.emit(self.name, "set", time=self.now().isoformat())

    def unset(self) -> None:
        """Lose the time, as a flat battery does: back to 1970, marked invalid."""
        self._base_us = 0
        self._set_at_us = self.kernel.now_us
        self._valid = False
        self.kernel.emit(self.name, "unset")

    def _calendar_us(self) -> int:
        elapsed = self.kernel.now_us - self._set_at_us
        return self._base_us + elapsed + (elapsed * self.drift_ppm) // 1_000_000

    def now(self) -> datetime:
        """The RTC's calendar time as an aware UTC datetime."""
        return EPOCH + timedelta(microseconds=self._calendar_us())

    def read(self) -> RtcReading:
        """The broken-down struct of ``psp_rtc_get()`` (whole seconds)."""
        t = self.now()
        return RtcReading(t.year, t.month, t.day, t.hour, t.minute, t.second, t.weekday(),
                          self._valid)
