"""The RFC 5322 ``Date:`` header, written from the device's real-time clock.

The RTC hands the client a broken-down struct, the way an embedded porting layer
(``psp_rtc_*``) does: year, month 1-12, day 1-31, hour, minute, second, weekday
0=Monday..6=Sunday and a ``valid`` flag (False when the RTC was never set or its backup
battery is flat; it then reads 1970-01-01 00:00:00). This module turns that struct into
the header text, correctly (``format_date_header``) or the way releases before 2.4 did
(``format_date_header_2_3``), and parses a Date header back for the server side.

It knows the calendar and RFC 5322 section 3.3, nothing else: it never reads a clock (the
time is always passed in) and knows nothing of the emulator, sockets or the protocol.
Any object with the struct's attributes can be formatted (``RtcFields``), so the emulated
RTC's own reading type works as well as ``RtcTime``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

from emulator.checks import check_int

MONTH_NAMES: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

FIXED_1_0_DATE: Final = "Mon, 01 Jan 2007 00:00:00 +0000"
"""The Date of every mail sent by release 1.0, which had no real date: real dates came with
the unnumbered group we label 2.0 ("Mail message now has a real date and time sent")."""

MAX_UTC_OFFSET_MINUTES: Final = 24 * 60 - 1


class RtcFields(Protocol):
    """What a ``psp_rtc_*`` read returns; ``RtcTime`` is the checked form of it."""

    @property
    def year(self) -> int: ...
    @property
    def month(self) -> int: ...
    @property
    def day(self) -> int: ...
    @property
    def hour(self) -> int: ...
    @property
    def minute(self) -> int: ...
    @property
    def second(self) -> int: ...
    @property
    def weekday(self) -> int: ...
    @property
    def valid(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RtcTime:
    """A broken-down RTC reading: month 1-12, day 1-31, weekday 0=Monday..6=Sunday.

    ``valid`` False means the RTC is unset (flat battery); such a clock reads
    1970-01-01 00:00:00, see ``RtcTime.unset()``. The weekday is taken as the RTC holds
    it, as the device does; ``from_datetime`` computes it.
    """

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int
    valid: bool

    def __post_init__(self) -> None:
        check_int("rtc year", self.year, 1900, 9999)
        check_int("rtc month", self.month, 1, 12)
        check_int("rtc day", self.day, 1, calendar.monthrange(self.year, self.month)[1])
        check_int("rtc hour", self.hour, 0, 23)
        check_int("rtc minute", self.minute, 0, 59)
        check_int("rtc second", self.second, 0, 59)
        check_int("rtc weekday", self.weekday, 0, 6)
        if not isinstance(self.valid, bool):
            raise ValueError(f"rtc valid: expected true or false, got {self.valid!r}")

    @classmethod
    def from_datetime(cls, when: datetime, *, valid: bool = True) -> RtcTime:
        """The reading of an RTC showing ``when`` (its wall-clock fields, whole seconds)."""
        return cls(when.year, when.month, when.day, when.hour, when.minute, when.second,
                   when.weekday(), valid)

    @classmethod
    def of(cls, fields: RtcFields) -> RtcTime:
        """Check any RTC struct with the same attributes (e.g. the emulated RTC's reading)."""
        if isinstance(fields, RtcTime):
            return fields
        return cls(fields.year, fields.month, fields.day, fields.hour, fields.minute,
                   fields.second, fields.weekday, fields.valid)

    @classmethod
    def unset(cls) -> RtcTime:
        """What an unset RTC reads: 1970-01-01 00:00:00 (a Thursday), marked invalid."""
        return cls(1970, 1, 1, 0, 0, 0, 3, False)


def _zone(utc_offset_minutes: int) -> str:
    check_int("rtc utc_offset_minutes", utc_offset_minutes,
               -MAX_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES)
    sign = "-" if utc_offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    return f"{sign}{hours:02d}{minutes:02d}"


def format_date_header(t: RtcFields, *, utc_offset_minutes: int = 0) -> str:
    """The Date header value, e.g. ``Thu, 29 Feb 2024 23:59:59 +0000`` (RFC 5322 3.3).

    The RTC fields are local time at ``utc_offset_minutes`` east of UTC. An unset RTC
    (``valid`` False) is formatted all the same: the device has no better time, which is
    the known issue "Some SMTP servers (active24) require a correct time to be set".
    """
    r = RtcTime.of(t)
    return (f"{WEEKDAY_NAMES[r.weekday]}, {r.day:02d} {MONTH_NAMES[r.month - 1]} {r.year:04d} "
            f"{r.hour:02d}:{r.minute:02d}:{r.second:02d} {_zone(utc_offset_minutes)}")


def format_date_header_2_3(t: RtcFields, *, utc_offset_minutes: int = 0) -> str:
    """The Date header as releases 2.0 to 2.3 wrote it (labels of unnumbered groups).

    Fixed in 2.4: "Values of month and day are converted properly." The old code took the
    month name with the 1-based month as a 0-based index (January shows ``Feb``, December
    wraps round to ``Jan``) and wrote the day one less (the 1st becomes ``00``). The
    weekday, year, time and zone are right.
    """
    r = RtcTime.of(t)
    month_name = MONTH_NAMES[r.month % 12]
    return (f"{WEEKDAY_NAMES[r.weekday]}, {r.day - 1:02d} {month_name} {r.year:04d} "
            f"{r.hour:02d}:{r.minute:02d}:{r.second:02d} {_zone(utc_offset_minutes)}")


def parse_date_header(value: str) -> datetime | None:
    """The Date header value as a datetime, or None when it does not parse.

    Tolerant (obsolete forms, missing weekday, zone names) as ``email.utils`` is; a zone of
    ``-0000`` gives a naive datetime. Impossible dates such as day ``00`` give None.
    """
    try:
        return parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError):
        return None
