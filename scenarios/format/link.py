"""``[link]``: the wire between the board and the server: latency, bandwidth, MTU,
random loss, and the faults (:mod:`scenarios.format.faults`).

This module knows the section's keys and arms the faults in the order the file lists
them, after the random loss; nothing of the other sections.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from emulator.units import MS
from scenarios.format.faults import Fault, Sides
from scenarios.format.vocabulary import STRICT, Probability
from smtp.bounds import BitsPerSecond, Milliseconds
from stack.link import Link


class LinkSection(BaseModel):
    """``[link]``: the wire between the board and the server, and its faults."""

    model_config = STRICT
    latency_ms: Milliseconds = 1.0
    bandwidth_bps: BitsPerSecond = 10_000_000
    mtu: Annotated[int, Field(ge=576, le=65535)] = 1500
    loss: Probability = 0.0
    faults: list[Fault] = Field(default_factory=list)

    @property
    def latency_us(self) -> int:
        return round(self.latency_ms * MS)

    def arm(self, link: Link, sides: Sides) -> None:
        """Set the random loss and arm every fault on ``link`` (virtual time 0)."""
        if self.loss:
            link.set_loss(self.loss)
        for fault in self.faults:
            fault.arm(link, sides)
