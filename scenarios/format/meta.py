"""``[scenario]``: what a scenario is called, its time limit, and which releases fail it.

``reproduces`` lists the changelog lines of the bugs the scenario shows and the releases
that have them (``[[scenario.reproduces]]``: ``changelog``, ``profiles``, ``why``); the
matrix (``smtp-hil matrix``) checks that exactly those releases fail it.

This module knows the section's keys; nothing of the other sections.
"""

from __future__ import annotations

from typing import Annotated

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

    @property
    def time_limit_us(self) -> int:
        return seconds_to_us(self.time_limit_s)
