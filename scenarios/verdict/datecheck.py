"""``date_matches_rtc``: the Date header is the device RTC's reading when the message was built.

The client records the instant it built a message, with the RTC reading it wrote the Date
from, as a ``message_composed`` trace record (:class:`smtp.outputs.MessageComposed`). The
Date header must name that instant to the second (in any zone: ``+0200`` is fine when the
local time says the same instant), and its weekday, when it has one (RFC 5322 3.3 makes
it optional), must be the weekday of the date it writes. A slow server changes nothing:
the comparison is with the clock at composition, not at the end of the job.

This module knows trace records and RFC 5322 dates; it runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from emulator.trace import TraceKind, TraceRecord
from smtp.rtcdate import WEEKDAY_NAMES, parse_date_header

COMPOSED_KIND: Final[TraceKind] = "message_composed"
"""The kind of the trace record the client task writes when it has built a message."""

_WEEKDAY_RE: Final = re.compile(r"\A\s*([A-Za-z]+)\s*,")
_SHOWN: Final = "%d %b %Y %H:%M:%S"


def composition(records: Iterable[TraceRecord], message_id: str | None) -> TraceRecord | None:
    """The ``message_composed`` record of the message with ``message_id`` (the last one
    when no record names it: a client that mangled its Message-ID is judged on the Date
    of the last message it built)."""
    composed = [r for r in records if r.kind == COMPOSED_KIND]
    named = [r for r in composed if message_id is not None and r.get("message_id") == message_id]
    candidates = named or composed
    return candidates[-1] if candidates else None


def rtc_reading(record: TraceRecord) -> datetime:
    """The RTC reading of a ``message_composed`` record, as an aware UTC datetime."""
    value = record.get("rtc")
    if not isinstance(value, str):
        raise TypeError(f"{COMPOSED_KIND} record without an rtc reading: {record}")
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def date_difference(header: str | None, rtc: datetime) -> str | None:
    """Why the Date header ``header`` is not the RTC reading ``rtc`` (aware, UTC) to the
    second with the right weekday, in plain words; None when it is."""
    read = f"the device RTC read {rtc:{_SHOWN}} when the message was built"
    if header is None:
        return f"the mail has no Date header; {read}"
    parsed = parse_date_header(header)
    if parsed is None:
        return f"Date header {header!r} does not parse; {read}"
    local = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    instant = local.astimezone(UTC)
    if instant != rtc:
        return f"Date header says {instant:{_SHOWN}}, {read}"
    named = _WEEKDAY_RE.match(header)
    right = WEEKDAY_NAMES[local.weekday()]
    if named is not None and named.group(1).lower() != right.lower():
        return (f"Date header {header!r} names the weekday {named.group(1)}, but "
                f"{local:%d %b %Y} is a {right}")
    return None
