"""``[scenario]``: what a scenario is called, its time limit, and which releases fail it.

``reproduces`` lists the changelog lines of the bugs the scenario shows and the releases
that have them (``[[scenario.reproduces]]``: ``changelog``, ``profiles``, ``why``); the
matrix (``smtp-hil matrix``) checks that exactly those releases fail it.

``[scenario.audit]`` places a ``hostile`` or ``security`` scenario in ``smtp-hil audit``'s
scorecard (:class:`AuditSection`): its group, the row of the hostile-server catalog it
covers, the one sentence a passing line prints, and how a client program other than the
modelled one is judged (the outcome any correct client must reach).

This module knows the section's keys; nothing of the other sections.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, get_args

from pydantic import BaseModel, Field

from scenarios.format.vocabulary import (
    STRICT,
    HistoricalProfile,
    Name,
    NonEmpty,
    seconds_to_us,
)
from smtp.bounds import PositiveSeconds


class Reproduction(BaseModel):
    """One ``[[scenario.reproduces]]`` entry: a changelog line and the releases it hits."""

    model_config = STRICT
    changelog: NonEmpty
    """The changelog line (free text) of the bug, the fix, or the known issue."""
    profiles: Annotated[list[HistoricalProfile], Field(min_length=1)]
    why: NonEmpty | None = None


AuditGroup: TypeAlias = Literal["starttls", "certificates", "smuggling", "parser", "timeouts"]
AUDIT_GROUPS: Final[dict[str, str]] = {
    "starttls": "STARTTLS stripping and injection",
    "certificates": "Certificate checks",
    "smuggling": "Smuggling and injection",
    "parser": "Parser limits",
    "timeouts": "Timeouts and drops",
}
"""Each group and its title on the scorecard, in scorecard order."""
AuditOutcome: TypeAlias = Literal["refuse", "deliver", "either"]
AuditNeed: TypeAlias = Literal["opportunistic_tls", "raw_body", "raw_arguments"]
AUDIT_TAGS: Final = ("hostile", "security")
"""A scenario with one of these tags is an audit case (and has ``[scenario.audit]``)."""
CATALOG_CASES: Final = 32
"""The rows of shared/reference/hostile-servers.md."""


class AuditSection(BaseModel):
    """``[scenario.audit]``: the scenario's place on ``smtp-hil audit``'s scorecard.

    ``outcome`` is how a client program is judged: ``refuse`` (it must end by itself
    reporting a failure), ``deliver`` (it must deliver), ``either`` (either ending; the
    server-side checks must hold). The modelled client is always judged on the whole
    ``[expect]``. ``needs``: ``opportunistic_tls`` (a program whose STARTTLS mode is
    mandatory cannot be told to fall back: not applicable), ``raw_body`` (the message
    file keeps the job's bare CR and LF: a smuggling probe), ``raw_arguments`` (an address
    with CR/LF reaches the program as an argument: only for a program whose DUT file says
    ``raw_arguments = true``). ``advisory``: checks (``body_exact``,
    ``server.dot_stuffing_correct``, as ``Expect.checks`` names them) reported as notes,
    not failures, for a client program.
    """

    model_config = STRICT
    group: AuditGroup
    case: Annotated[int, Field(ge=1, le=CATALOG_CASES)]
    """The row of shared/reference/hostile-servers.md the scenario covers."""
    claim: NonEmpty
    """What a passing client did, in one sentence (the scorecard's pass line)."""
    outcome: AuditOutcome
    needs: list[AuditNeed] = Field(default_factory=list)
    advisory: list[NonEmpty] = Field(default_factory=list)


AUDIT_NEEDS: Final[tuple[str, ...]] = get_args(AuditNeed)


class ScenarioMeta(BaseModel):
    """``[scenario]``: what the scenario is called and which releases fail it."""

    model_config = STRICT
    name: Name
    title: NonEmpty
    description: str | None = None
    tags: list[Name] = Field(default_factory=list)
    time_limit_s: PositiveSeconds = 3600.0
    """A run with no terminal event by then is a hang."""
    reproduces: list[Reproduction] = Field(default_factory=list)
    audit: AuditSection | None = None
    """The scenario's place in ``smtp-hil audit`` (hostile and security scenarios)."""

    @property
    def time_limit_us(self) -> int:
        return seconds_to_us(self.time_limit_s)
