"""The bounded numbers of the user's files: every duration, size and count has a ceiling.

A device configuration (:mod:`smtp.config`) and a scenario file (``scenarios.format``)
take their numbers from a user. Each number has a sane upper bound as well as a lower
one, so that 1e308 seconds (which overflows the microsecond clock), a pool of 10^26
buffers, a line length of 10^18 or a petabyte attachment is refused with a message
naming the key (``expected a number <= 31536000, got 1e+308``) instead of raising
``OverflowError`` or running for ever. The bounds are written once, here, as pydantic
types; the modules that read files use these types and no bare ``int`` or ``float``.

The ceilings, and why:

- durations (seconds, and the link latency in milliseconds): at most one year of
  virtual time, :data:`MAX_DURATION_S`. Idle virtual time costs nothing, so a year is as
  cheap as a minute, and every instant of a run stays far inside the pcap format's 32-bit
  seconds and the calendar. A duration that must be more than 0 is at least one
  microsecond, the clock's resolution (1e-9 s would round to 0).
- the IP buffer pool: at most 65536 buffers of at most 64 KiB (one frame of the largest
  MTU); the device has a few dozen.
- counts (the n-th segment, rule repetitions, mails, payload bytes before a fault): at
  most 10^9, more than any run sends.
- the SIZE a server advertises: at most 20 digits (RFC 1870's ``size-value``).
- a server's line-length limit and the client's BDAT chunk: at most 1 MiB.
- generated attachments: at most 64 MiB in all (the simulated world moves about 2.5 MiB
  of mail per second of wall time; 64 MiB is also the body and attachment limit of
  ``smtp-hil send``).
- the link bandwidth: at most 10^12 bits per second.
- ``date_tolerance_hours``: at most 10^6 hours (114 years).

This module knows numbers and pydantic's field constraints; nothing else.
"""

from __future__ import annotations

import sys
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticKnownError

from smtp.userfiles import ATTACHMENT_FILE

MAX_DURATION_S: Final = 365 * 24 * 3600
"""One year of virtual time: the longest duration any file may give."""
MAX_POOL_BUFFERS: Final = 65_536
MAX_BUFFER_SIZE: Final = 64 * 1024
MAX_COUNT: Final = 10**9
MAX_ADVERTISED_SIZE: Final = 10**20 - 1
MAX_LINE_LENGTH: Final = 1024 * 1024
MAX_CHUNK_SIZE: Final = 1024 * 1024
MAX_GENERATED_BYTES: Final = ATTACHMENT_FILE.limit
MAX_BANDWIDTH_BPS: Final = 10**12
MAX_HOURS: Final = 10**6


MIN_POSITIVE_S: Final = 1e-6
"""One microsecond: the shortest duration that is not 0 on the kernel's clock."""


def _at_least_a_microsecond(value: float) -> float:
    if 0 < value < MIN_POSITIVE_S:
        raise PydanticKnownError("greater_than_equal", {"ge": MIN_POSITIVE_S})
    return value


def _float_range(low: float, high: float) -> BeforeValidator:
    """An integer too large for a float is out of range, not "not a number"."""

    def check(value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and (
                abs(value) > sys.float_info.max):
            if value > 0:
                raise PydanticKnownError("less_than_equal", {"le": high})
            raise PydanticKnownError("greater_than_equal", {"ge": low})
        return value

    return BeforeValidator(check)


Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION_S, allow_inf_nan=False),
                    _float_range(0, MAX_DURATION_S)]
"""A duration in seconds, 0 included."""
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_DURATION_S, allow_inf_nan=False),
                            _float_range(0, MAX_DURATION_S),
                            AfterValidator(_at_least_a_microsecond)]
"""A duration in seconds, more than 0: at least a microsecond."""
Milliseconds = Annotated[float, Field(ge=0, le=MAX_DURATION_S * 1000, allow_inf_nan=False),
                         _float_range(0, MAX_DURATION_S * 1000)]
"""A duration in milliseconds, 0 included."""
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT)]
PoolBuffers = Annotated[int, Field(ge=2, le=MAX_POOL_BUFFERS)]
BufferSize = Annotated[int, Field(ge=256, le=MAX_BUFFER_SIZE)]
"""Bytes per IP buffer: at least a minimal frame, at most one frame of the largest MTU."""
AdvertisedSize = Annotated[int, Field(ge=0, le=MAX_ADVERTISED_SIZE)]
LineLength = Annotated[int, Field(ge=3, le=MAX_LINE_LENGTH)]
ChunkSize = Annotated[int, Field(ge=1, le=MAX_CHUNK_SIZE)]
GeneratedBytes = Annotated[int, Field(ge=0, le=MAX_GENERATED_BYTES)]
BitsPerSecond = Annotated[int, Field(ge=1, le=MAX_BANDWIDTH_BPS)]
Hours = Annotated[int, Field(ge=0, le=MAX_HOURS)]
Port = Annotated[int, Field(ge=1, le=65535)]
