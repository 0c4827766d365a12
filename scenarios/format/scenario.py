"""The whole scenario file: its sections, and the rules that span several of them.

A scenario names a device (the emulated board and its partial device configuration), the
link between it and the server (with faults), the scripted SMTP server, one job, and the
expectations that say what a CORRECT client does; ``[scenario]`` names it and says which
releases are known to get it wrong. Each section is a module of this package; this one
puts them together, fills the defaults one section takes from another (the job's kind,
the server clock from the device RTC), and checks what no single section can (the
expected event fits the job, the expected login is one of the server's users, no clock
runs past the calendar within the time limit).

This module knows the sections and what the runner and the catalog read of a scenario;
nothing of reading files (:mod:`scenarios.format.loader`) or of running one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scenarios.firmware_choice import MODEL
from scenarios.format.datetimes import in_calendar, passes_the_calendar
from scenarios.format.device import DeviceSection
from scenarios.format.expect import JOB_OF_EVENT, Expect
from scenarios.format.fleet import FleetSection
from scenarios.format.job import JobSection
from scenarios.format.link import LinkSection
from scenarios.format.meta import AUDIT_TAGS, AuditSection, Reproduction, ScenarioMeta
from scenarios.format.server import ServerSection
from scenarios.format.vocabulary import DEFAULT_RTC, STRICT
from scenarios.server.rules import ServerConfig
from smtp.config import DeviceConfig
from smtp.inputwording import Problem, problems_error
from smtp.jobs import Job
from smtp.profiles import get_profile


class Scenario(BaseModel):
    """One scenario file: ``[scenario]``, ``[device]``, ``[link]``, ``[server]``,
    ``[job]``, ``[expect]`` and, for many devices at once, ``[fleet]``."""

    model_config = STRICT
    meta: ScenarioMeta = Field(alias="scenario")
    device: DeviceSection = Field(default_factory=DeviceSection)
    link: LinkSection = Field(default_factory=LinkSection)
    server: ServerSection = Field(default_factory=ServerSection)
    job: JobSection
    expect: Expect
    fleet: FleetSection | None = None
    """``[fleet]``: many devices like ``[device]`` at once (:mod:`scenarios.format.fleet`)."""
    _source: str | None = PrivateAttr(default=None)
    """Where it was read from: the ``source`` of the validation context (the loader's)."""

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_other_sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        job = data.get("job")
        if isinstance(job, Mapping) and "kind" not in job:
            data["job"] = {"kind": "mail", **job}
        server = data.get("server", {})
        if isinstance(server, Mapping) and "clock" not in server:
            device = data.get("device")
            rtc = device.get("rtc") if isinstance(device, Mapping) else None
            # A date-time out of the calendar is device.rtc's problem, reported once.
            clock = rtc if isinstance(rtc, datetime) and in_calendar(rtc) else DEFAULT_RTC
            data["server"] = {**server, "clock": clock}
        return data

    @model_validator(mode="after")
    def _remember_the_source(self, info: ValidationInfo) -> Scenario:
        context = info.context if isinstance(info.context, Mapping) else {}
        source = context.get("source")
        if isinstance(source, str):
            self._source = source
        return self

    @field_validator("expect")
    @classmethod
    def _check_expect_against_job_and_server(cls, expect: Expect,
                                             info: ValidationInfo) -> Expect:
        """The expected event fits the job, and the expected login is one of the server's
        users; each checked when its other section is valid (else that section's own
        problems are reported, in the same pass)."""
        problems: list[Problem] = []
        job, server = info.data.get("job"), info.data.get("server")
        needed = JOB_OF_EVENT.get(expect.event)
        if job is not None and needed is not None and needed != job.kind:
            problems.append((("event",), f"{expect.event} needs a {needed} job, "
                                         f"the job is {job.kind}"))
        user = expect.server.authenticated_as
        if isinstance(server, ServerSection) and user is not None \
                and user not in server.credentials:
            known = ", ".join(server.credentials) or "none"
            problems.append((("server", "authenticated_as"),
                             f"{user!r} is not a user of server.credentials ({known}): no "
                             f"client could log in as it"))
        if problems:
            raise problems_error(problems)
        return expect

    @model_validator(mode="after")
    def _check_fleet(self) -> Scenario:
        fleet = self.fleet
        if fleet is None:
            return self
        problems: list[Problem] = []
        if fleet.start == "rtc" and self.device.rtc is None:
            problems.append((("fleet", "start"), 'start = "rtc" needs device.rtc: the '
                                                 'devices mail when their RTCs read fleet.at'))
        if self.device.rtc_variants:
            problems.append((("device", "rtc_variants"), "not used with [fleet] (each "
                                                         "device has its own RTC error)"))
        if self.device.firmware != MODEL:
            problems.append((("device", "firmware"), "a fleet runs the Python model only"))
        if self.link.faults:
            problems.append((("link", "faults"), "not used with [fleet] (the devices share "
                                                 "the link; loss and bandwidth apply)"))
        if problems:
            raise problems_error(problems)
        return self

    @model_validator(mode="after")
    def _check_audit(self) -> Scenario:
        """A ``hostile`` or ``security`` scenario is an audit case, and the reverse; its
        advisory checks are checks it makes."""
        tagged = [tag for tag in self.meta.tags if tag in AUDIT_TAGS]
        audit = self.meta.audit
        problems: list[Problem] = []
        if tagged and audit is None:
            problems.append((("scenario", "audit"), f"missing: a scenario tagged {tagged[0]} "
                                                    "is an audit case (group, case, claim, "
                                                    "outcome)"))
        elif audit is not None and len(tagged) != 1:
            problems.append((("scenario", "tags"), "an audit case is tagged hostile or "
                                                   "security (exactly one of them)"))
        if audit is not None:
            checks = self.expect.checks()
            for index, name in enumerate(audit.advisory):
                if name not in checks:
                    problems.append((("scenario", "audit", "advisory", index),
                                     f"{name!r} is not a check this scenario makes "
                                     f"(it makes: {', '.join(checks)})"))
        if problems:
            raise problems_error(problems)
        return self

    @model_validator(mode="after")
    def _check_clocks_stay_in_the_calendar(self) -> Scenario:
        """The RTC (running fast by its drift) and the server clock advance with the run;
        neither may pass the end of year 9999 within the time limit."""
        limit = timedelta(microseconds=self.time_limit_us)
        rtc_span = limit * (1 + max(self.device.rtc_drift_ppm, 0) / 1_000_000)
        clocks: list[tuple[tuple[str | int, ...], datetime | None, timedelta]] = [
            (("device", "rtc"), self.device.rtc, rtc_span),
            *((("device", "rtc_variants", i), when, rtc_span)
              for i, when in enumerate(self.device.rtc_variants))]
        if self.server.clock != self.device.rtc:  # else device.rtc says it
            clocks.append((("server", "clock"), self.server.clock, limit))
        problems: list[Problem] = [
            (where, f"{when:%Y-%m-%dT%H:%M:%SZ} runs past the end of year 9999 within "
                    f"scenario.time_limit_s ({self.meta.time_limit_s:g} s): set an earlier "
                    f"date-time or a shorter time limit")
            for where, when, span in clocks if when is not None and passes_the_calendar(when, span)]
        if problems:
            raise problems_error(problems)
        return self

    # --- what the runner and the catalog read -------------------------------------

    @property
    def source(self) -> str | None:
        """The file (or source name) this scenario was read from, if any."""
        return self._source

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def description(self) -> str | None:
        return self.meta.description

    @property
    def tags(self) -> list[str]:
        return list(self.meta.tags)

    @property
    def audit(self) -> AuditSection | None:
        return self.meta.audit

    @property
    def reproduces(self) -> list[Reproduction]:
        return list(self.meta.reproduces)

    @property
    def time_limit_us(self) -> int:
        return self.meta.time_limit_us

    def reproduced_by(self, profile: str) -> bool:
        """Whether release ``profile`` is known to fail this scenario."""
        get_profile(profile)  # a ValueError naming the known releases
        return any(profile in entry.profiles for entry in self.meta.reproduces)

    def server_config(self) -> ServerConfig:
        return self.server.to_server_config()

    def device_config_overrides(self) -> dict[str, Any]:
        """The partial device configuration (see ``DeviceSection.config_overrides``)."""
        return self.device.config_overrides()

    def device_config(self, host: str) -> DeviceConfig:
        """The whole device configuration for a server at ``host``; the port is the
        scripted server's unless [device.config.server] sets one. The version is not
        checked here: whether it must match is the profile's business."""
        data = self.device.full_config_dict(host, self.server.port)
        return DeviceConfig.model_validate(data, context={"check_version": False})

    def to_job(self) -> Job:
        return self.job.to_job()
