"""The words a scenario file shares between its sections, and the types built on them.

The closed sets come from where they are defined, never listed again here: the client's
event names and error kinds from :mod:`smtp.events`, the release names from
:mod:`smtp.profiles`. A file that names anything else is refused with the list of what
is known. Also here: the strict model configuration every section uses, the small
value types (a name, a probability, a non-empty string, a historical release), the
defaults shared by several sections, and seconds to the kernel's integer microseconds.

This module knows the vocabulary and pydantic's field types; nothing of any one section.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeAlias, get_args

from pydantic import BeforeValidator, ConfigDict, Field

from emulator.units import SECOND
from smtp.events import PROGRESS_EVENT_NAMES, TERMINAL_EVENT_NAMES, ErrorKind
from smtp.inputwording import expected, says
from smtp.profiles import PROFILE_NAMES, check_profile_name

STRICT: Final = ConfigDict(extra="forbid", strict=True, frozen=True)
"""Every section: unknown keys refused, strict types, immutable once read."""

EVENT_NAMES: Final[tuple[str, ...]] = TERMINAL_EVENT_NAMES
"""The values of ``expect.event``: the events that end a job
(``smtp.events.TERMINAL_EVENT_NAMES``)."""
ERROR_KIND_NAMES: Final[tuple[str, ...]] = tuple(kind.value for kind in ErrorKind)
"""The values of ``smtp.events.ErrorKind``."""

if TYPE_CHECKING:  # the sets are built from smtp.events at run time
    EventName: TypeAlias = str
    ProgressEventName: TypeAlias = str
    ErrorKindName: TypeAlias = str
else:
    EventName = Literal[EVENT_NAMES]
    ProgressEventName = Literal[PROGRESS_EVENT_NAMES]  # events_include
    ErrorKindName = Literal[ERROR_KIND_NAMES]

Side: TypeAlias = Literal["device", "server"]
"""An end of the link, as fault entries (and the Robot keywords) name it."""
SIDE_NAMES: Final[tuple[Side, ...]] = get_args(Side)
TlsVersionName: TypeAlias = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
HISTORICAL_PROFILES: Final = tuple(p for p in PROFILE_NAMES if p != "current")
"""The releases a scenario may say it fails on (``current`` has every bug fixed)."""

InvariantName: TypeAlias = Literal[
    "terminal.exactly_one", "terminal.timely", "terminal.prompt_on_close",
    "mail.sent_means_one_exact_copy", "mail.failure_means_no_copy", "mail.date_is_rtc",
    "mail.headers_as_job", "tls.policy", "tls.downgrade_announced", "device.pool_full",
    "device.no_watchdog_reset", "device.no_crash", "run.deterministic",
]
"""The invariants :mod:`scenarios.verdict.invariants` judges (what holds for every run of
every scenario, whatever its ``[expect]``). Listed here, once, because the format sits
below the verdicts: ``expect.invariants`` names them (a test checks that the verdict
module judges exactly these)."""
INVARIANT_NAMES: Final[tuple[InvariantName, ...]] = get_args(InvariantName)

DEFAULT_RTC: Final = datetime(2024, 6, 3, 10, 0, 0, tzinfo=UTC)
"""The device RTC (and the server clock) when the scenario does not say."""
LINE_BREAKS: Final = frozenset("\r\n\x00")
"""Characters no job field may hold unless the job says ``allow_invalid``."""

_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME_WORDS: Final = "a name of letters, digits, '_', '-' and '.'"


def _historical_profile(value: object) -> str:
    if not isinstance(value, str):
        raise expected('a release name in quotes, such as "2.0"')
    if value == "current":
        raise says("'current' has every bug fixed: it reproduces none")
    try:
        return check_profile_name(value, HISTORICAL_PROFILES)
    except ValueError as exc:
        raise says(str(exc)) from None


Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonEmpty = Annotated[str, Field(min_length=1)]
Name = Annotated[str, Field(pattern=_NAME_PATTERN, description=_NAME_WORDS)]
HistoricalProfile = Annotated[str, BeforeValidator(_historical_profile)]
"""A release a scenario reproduces a bug of: one of :data:`HISTORICAL_PROFILES`."""


def seconds_to_us(seconds: float) -> int:
    """Seconds (as files hold them) in the kernel's integer microseconds."""
    return round(seconds * SECOND)


def seconds_to_us_or_none(seconds: float | None) -> int | None:
    return None if seconds is None else seconds_to_us(seconds)
