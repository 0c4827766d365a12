"""Date header from the RTC: correct on boundary dates, the pre-2.4 bug reproduced exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from smtp.rtcdate import (
    FIXED_1_0_DATE,
    RtcTime,
    format_date_header,
    format_date_header_2_3,
    parse_date_header,
)


def rtc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> RtcTime:
    return RtcTime.from_datetime(datetime(y, mo, d, h, mi, s))


@pytest.mark.parametrize(
    ("when", "correct", "buggy"),
    [
        (rtc(2024, 1, 31, 12, 0, 0),
         "Wed, 31 Jan 2024 12:00:00 +0000", "Wed, 30 Feb 2024 12:00:00 +0000"),
        (rtc(2024, 2, 29, 23, 59, 59),
         "Thu, 29 Feb 2024 23:59:59 +0000", "Thu, 28 Mar 2024 23:59:59 +0000"),
        (rtc(2024, 12, 1, 8, 5, 9),
         "Sun, 01 Dec 2024 08:05:09 +0000", "Sun, 00 Jan 2024 08:05:09 +0000"),
        (rtc(2023, 12, 31, 23, 59, 59),
         "Sun, 31 Dec 2023 23:59:59 +0000", "Sun, 30 Jan 2023 23:59:59 +0000"),
        (rtc(2017, 3, 1, 9, 9, 0),
         "Wed, 01 Mar 2017 09:09:00 +0000", "Wed, 00 Apr 2017 09:09:00 +0000"),
        (rtc(2017, 6, 9, 0, 0, 0),
         "Fri, 09 Jun 2017 00:00:00 +0000", "Fri, 08 Jul 2017 00:00:00 +0000"),
    ],
)
def test_correct_and_pre_2_4_formatters_on_boundary_dates(
        when: RtcTime, correct: str, buggy: str) -> None:
    assert format_date_header(when) == correct
    assert format_date_header_2_3(when) == buggy


def test_correct_header_parses_back_to_the_rtc_time() -> None:
    for day in range(1, 367):
        when = datetime(2024, 1, 1, 13, 14, 15) + timedelta(days=day - 1)
        parsed = parse_date_header(format_date_header(RtcTime.from_datetime(when)))
        assert parsed == when.replace(tzinfo=UTC)


def test_buggy_header_is_wrong_or_unparseable_on_the_first_of_a_month() -> None:
    assert parse_date_header(format_date_header_2_3(rtc(2024, 12, 1))) is None
    assert parse_date_header(format_date_header_2_3(rtc(2024, 1, 15))) == datetime(
        2024, 2, 14, tzinfo=UTC)


def test_utc_offset_is_written_as_hhmm() -> None:
    when = rtc(2024, 7, 4, 10, 30, 0)
    assert format_date_header(when, utc_offset_minutes=120).endswith(" +0200")
    assert format_date_header(when, utc_offset_minutes=-330).endswith(" -0530")
    parsed = parse_date_header(format_date_header(when, utc_offset_minutes=-330))
    assert parsed == datetime(2024, 7, 4, 10, 30, tzinfo=timezone(timedelta(minutes=-330)))
    with pytest.raises(ValueError, match="utc_offset_minutes"):
        format_date_header(when, utc_offset_minutes=24 * 60)


def test_unset_rtc_formats_1970() -> None:
    unset = RtcTime.unset()
    assert not unset.valid
    assert format_date_header(unset) == "Thu, 01 Jan 1970 00:00:00 +0000"


def test_fixed_1_0_date_is_a_valid_date() -> None:
    assert parse_date_header(FIXED_1_0_DATE) == datetime(2007, 1, 1, tzinfo=UTC)


def test_any_struct_with_the_rtc_fields_is_accepted() -> None:
    @dataclass(frozen=True)
    class Reading:  # e.g. the emulated RTC's own reading type
        year: int
        month: int
        day: int
        hour: int
        minute: int
        second: int
        weekday: int
        valid: bool

    reading = Reading(2024, 2, 29, 23, 59, 59, 3, True)
    assert format_date_header(reading) == "Thu, 29 Feb 2024 23:59:59 +0000"
    with pytest.raises(ValueError, match=r"rtc month: expected an integer 1\.\.12, got 13"):
        format_date_header(Reading(2024, 13, 1, 0, 0, 0, 0, True))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"month": 0}, "rtc month"),
        ({"day": 0}, "rtc day"),
        ({"month": 2, "day": 30}, "rtc day: expected an integer 1..29"),
        ({"hour": 24}, "rtc hour"),
        ({"minute": 60}, "rtc minute"),
        ({"second": 60}, "rtc second"),
        ({"weekday": 7}, "rtc weekday"),
        ({"year": 1899}, "rtc year"),
        ({"day": True}, "rtc day"),
    ],
)
def test_out_of_range_fields_are_refused(fields: dict[str, int], message: str) -> None:
    base = {"year": 2024, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0,
            "weekday": 0, "valid": True}
    with pytest.raises(ValueError, match=message):
        RtcTime(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 29 Feb 2024 23:59:59 +0000", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("29 Feb 2024 23:59:59 GMT", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("Thu,  1 Feb 2024 10:00 +0100",
         datetime(2024, 2, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))),
        ("", None),
        ("not a date", None),
        ("Thu, 00 Jan 2024 00:00:00 +0000", None),
    ],
)
def test_parse_date_header_is_tolerant(value: str, expected: datetime | None) -> None:
    assert parse_date_header(value) == expected
