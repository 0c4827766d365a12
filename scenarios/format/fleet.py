"""``[fleet]``: many devices like the scenario's, at once, against its one server; and
``[fleet.expect]``: what the fleet as a whole must achieve (each device is judged by the
scenario's ``[expect]`` event).

``devices`` boards run the scenario's job, each at its own address (``[device] ip``, then
the addresses after it), with its own RTC and release. They start

- ``start = "spread"``: at a moment drawn for each from the kernel's generator within
  the first ``spread_s`` seconds (0: all at once);
- ``start = "rtc"``: when each device's own RTC reads ``at`` (a time of day, such as
  ``00:00:00`` for "every meter mails at midnight"): every RTC starts from ``[device]
  rtc`` off by an error drawn for it within ``rtc_error_s`` either way, so the RTCs'
  errors are what spreads the burst.

A device whose job fails (any terminal event but the expected one) submits it again
after ``retry_after_s`` plus up to ``retry_jitter_s`` drawn from the generator, at most
``retries`` times. The devices share the link: with ``queue_frames`` the server's port
holds that many frames waiting and loses the rest (``[server] max_connections`` bounds
the connections the server serves at once; beyond it the greeting is 421).

``firmware`` mixes firmware in one fleet: ``firmware = { lwip = 3 }`` runs the first 3
devices (``d0`` to ``d2``) on lwIP, the rest on the scenario's own firmware (``[device]
firmware``, or ``--firmware``); several entries take the devices after each other, in
the order written. Each key is a firmware setting (``model``, ``lwip`` or a library path
ending in ``.so``, relative to the scenario file).

This module knows the two sections' keys and their bounds; running a fleet is
:mod:`scenarios.fleet`'s business.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field, model_validator

from scenarios.firmware_choice import check_firmware_setting
from scenarios.format.vocabulary import STRICT
from smtp.bounds import Count, PositiveCount, PositiveSeconds, Seconds
from smtp.inputwording import Problem, problems_error

MAX_DEVICES: Final = 65_000
"""The most devices one fleet has (a /16 of addresses after ``[device] ip``)."""
MAX_RETRIES: Final = 1_000

StartMode = Literal["spread", "rtc"]


class FleetExpect(BaseModel):
    """``[fleet.expect]``: the fleet as a whole. ``max_failed``: how many devices may end
    without the expected event (after their retries); ``done_within_s``: every device
    done by then (virtual seconds from the start); ``max_refused`` / ``min_refused``:
    bounds on the connections the server refused with 421."""

    model_config = STRICT
    max_failed: Count = 0
    done_within_s: PositiveSeconds | None = None
    max_refused: Count | None = None
    min_refused: Count | None = None


class FleetSection(BaseModel):
    """``[fleet]``: how many devices, how they start, how they retry (module docstring)."""

    model_config = STRICT
    devices: Annotated[int, Field(ge=1, le=MAX_DEVICES)]
    start: StartMode = "spread"
    spread_s: Seconds = 0.0
    at: time | None = None
    """With ``start = "rtc"``: the time of day each device mails at, by its own RTC."""
    rtc_error_s: Seconds = 0.0
    retries: Annotated[int, Field(ge=0, le=MAX_RETRIES)] = 0
    retry_after_s: Seconds = 60.0
    retry_jitter_s: Seconds = 0.0
    queue_frames: PositiveCount | None = None
    """The frames the server's port holds waiting; None: no limit."""
    firmware: dict[str, PositiveCount] = Field(default_factory=dict)
    """Firmware setting -> how many devices run it, from ``d0`` on (module docstring)."""
    expect: FleetExpect = Field(default_factory=FleetExpect)
    """``[fleet.expect]``: the fleet as a whole (each device: the scenario's [expect])."""

    @model_validator(mode="after")
    def _check_firmware(self) -> FleetSection:
        problems: list[Problem] = []
        for setting in self.firmware:
            try:
                check_firmware_setting(setting)
            except ValueError as exc:
                problems.append((("firmware", setting), str(exc)))
        total = sum(self.firmware.values())
        if total > self.devices:
            problems.append((("firmware",), f"{total} devices named, the fleet has "
                                            f"{self.devices}"))
        if problems:
            raise problems_error(problems)
        return self

    @model_validator(mode="after")
    def _check_start(self) -> FleetSection:
        if self.start == "rtc" and self.at is None:
            raise problems_error([(("at",), 'required with start = "rtc" (a time of day '
                                            'such as 00:00:00)')])
        if self.start == "spread" and (self.at is not None or self.rtc_error_s):
            key = "at" if self.at is not None else "rtc_error_s"
            raise problems_error([((key,), 'only used with start = "rtc"')])
        if self.start == "rtc" and self.spread_s:
            raise problems_error([(("spread_s",), 'only used with start = "spread"')])
        return self
