"""The date-times of a scenario file: in UTC, and inside the calendar the device can hold.

A TOML date-time without an offset is taken as UTC; one with an offset is converted. The
result must lie between :data:`FIRST_INSTANT` (1900-01-01, the device RTC's first year,
``smtp.rtcdate``) and :data:`LAST_INSTANT` (the end of year 9999, Python's last date):
``0001-01-01T00:00:00Z`` would crash the client's Date header, and
``9999-12-31T23:59:59-01:00`` is already in year 10000 in UTC. Clocks advance with the run,
so :func:`passes_the_calendar` tells whether one would run past the end within a span.

This module knows date-times and pydantic's custom errors (worded by
``smtp.inputwording``); nothing about the rest of the scenario.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from smtp.inputwording import DATETIME_EXAMPLE, expected

FIRST_INSTANT: Final = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest date-time a file may give: the device RTC's first year."""
LAST_INSTANT: Final = datetime.max.replace(tzinfo=UTC)
"""The end of the calendar; no clock of a run may pass it."""
IN_CALENDAR: Final = "a date-time from 1900-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (naive: taken as UTC); a custom error when out of the calendar."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise expected(IN_CALENDAR) from None
    if utc < FIRST_INSTANT:
        raise expected(IN_CALENDAR)
    return utc


def in_calendar(value: datetime) -> bool:
    try:
        to_utc(value)
    except PydanticCustomError:
        return False
    return True


def passes_the_calendar(when: datetime, span: timedelta) -> bool:
    """Whether a clock at ``when`` passes the end of year 9999 within ``span``."""
    return when > LAST_INSTANT - span


def _datetime_value(value: object) -> datetime:
    if isinstance(value, datetime):
        return to_utc(value)
    raise expected(DATETIME_EXAMPLE)


def _rtc_value(value: object) -> datetime | None:
    if value == "unset":
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    raise expected(f"{DATETIME_EXAMPLE} or 'unset'")


UtcDateTime = Annotated[datetime, BeforeValidator(_datetime_value)]
"""A date-time in the calendar, as an aware UTC datetime."""
RtcSetting = Annotated[datetime | None, BeforeValidator(_rtc_value)]
"""``UtcDateTime``, or ``"unset"`` (None): a device RTC with a flat backup battery."""
