"""The RTC: set, unset (flat battery), drift, broken-down reads."""

from datetime import UTC, datetime

import pytest

from emulator.kernel import Kernel
from emulator.rtc import Rtc
from emulator.units import HOUR, SECOND


def test_set_rtc_advances_with_virtual_time() -> None:
    k = Kernel()
    rtc = Rtc(k, start=datetime(2024, 2, 28, 23, 59, 59, tzinfo=UTC))
    k.run(until_us=SECOND)
    r = rtc.read()
    assert (r.year, r.month, r.day, r.hour, r.minute, r.second) == (2024, 2, 29, 0, 0, 0)
    assert r.weekday == 3  # Thursday
    assert r.valid


def test_unset_rtc_reads_1970_and_is_invalid() -> None:
    k = Kernel()
    rtc = Rtc(k)
    k.run(until_us=HOUR)
    r = rtc.read()
    assert (r.year, r.month, r.day, r.hour) == (1970, 1, 1, 1)
    assert not r.valid
    rtc.set(datetime(2026, 11, 28, 12, 0, 0))
    assert rtc.valid
    rtc.unset()
    assert rtc.read().year == 1970 and not rtc.valid


def test_drift_in_ppm() -> None:
    k = Kernel()
    rtc = Rtc(k, start=datetime(2024, 1, 1, tzinfo=UTC), drift_ppm=100)
    k.run(until_us=10_000 * SECOND)
    assert rtc.now() == datetime(2024, 1, 1, 2, 46, 41, tzinfo=UTC)  # 10000 s + 1 s


def test_bad_drift_is_refused() -> None:
    with pytest.raises(ValueError, match="drift_ppm"):
        Rtc(Kernel(), drift_ppm=1.5)  # type: ignore[arg-type]
