"""The scenario file format: one TOML file describes one run, validated by pydantic.

A scenario names a device (the emulated board and its partial device configuration), the
link between it and the server (with faults), the scripted SMTP server (which maps 1:1
onto :class:`scenarios.server.rules.ServerConfig` and its rules), one job, and the
expectations that say what a CORRECT client does. ``reproduces`` lists the releases known
to get it wrong and the changelog line that says so. ``scenarios/README.md`` documents
every key.

Files hold seconds (numbers) and TOML date-times; the models expose integer microseconds
(``*_us`` properties) and aware UTC datetimes. Every model refuses unknown keys and takes
strict types. Problems come back as one ``ScenarioError`` listing every line, each naming
the file and the dotted key: ``x.toml: device.pool_buffers: expected an integer >= 2,
got 1``.

This module knows the file format and how it maps onto the server config, the device
config, jobs and expectations. It knows nothing about running a scenario: no kernel, no
sockets, no clock, no verdicts (the runner reads the expectations and judges).
"""

from __future__ import annotations

import functools
import hashlib
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta
from os import PathLike, fspath
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from emulator.units import MS, SECOND
from emulator.userinput import UserInputError
from scenarios.datetimes import RtcSetting, UtcDateTime, in_calendar, passes_the_calendar
from scenarios.firmware_choice import MODEL, FirmwareSetting
from scenarios.format_replay import ReplayEntries, replay_rules
from scenarios.server.actions import DropTlsMode, Segmentation
from scenarios.server.rules import Rule, RuleAction, ServerConfig
from smtp.bounds import (
    MAX_GENERATED_BYTES,
    AdvertisedSize,
    BitsPerSecond,
    BufferSize,
    Count,
    GeneratedBytes,
    Hours,
    LineLength,
    Milliseconds,
    PoolBuffers,
    Port,
    PositiveCount,
    PositiveSeconds,
    Seconds,
)
from smtp.config import (
    CONFIG_VERSION,
    DOMAIN_PATTERN,
    HOSTNAME_PATTERN,
    DeviceConfig,
    IPv4String,
)
from smtp.inputwording import Problem, describe, describe_error, expected, problems_error, says
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import Attachment, MailJob
from smtp.profiles import PROFILE_NAMES
from smtp.userfiles import (
    MIB,
    SCENARIO_FILE,
    UserFileError,
    parse_toml,
    read_user_text,
    shown_path,
)

# ----------------------------------------------------------------------------------------
# Names and shared types

EventName: TypeAlias = Literal[
    "sent", "command_abort", "error", "timeout", "vrfy_result", "etrn_result"
]
EVENT_NAMES: Final[tuple[str, ...]] = get_args(EventName)
"""The terminal client events (``smtp.events.TERMINAL_EVENTS`` by name)."""
ProgressEventName: TypeAlias = Literal[
    "connected", "tls_established", "tls_downgraded", "authenticated", "recipient_rejected"
]
PROGRESS_EVENT_NAMES: Final[tuple[str, ...]] = get_args(ProgressEventName)
"""The other client events (``smtp.events.PROGRESS_EVENTS`` by name)."""
ErrorKindName: TypeAlias = Literal[
    "tls_failed", "tls_required", "auth_failed", "protocol", "size_exceeded",
    "connection_lost", "connection_refused", "service_unavailable", "unsupported",
    "invalid_input", "out_of_memory",
]
ERROR_KIND_NAMES: Final[tuple[str, ...]] = get_args(ErrorKindName)
"""The values of ``smtp.events.ErrorKind``."""
Side: TypeAlias = Literal["device", "server"]
TlsVersionName: TypeAlias = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
FaultName: TypeAlias = Literal[
    "drop_nth", "drop_after", "inject_rst", "hold", "partition", "set_loss"
]
FAULT_NAMES: Final[tuple[str, ...]] = get_args(FaultName)
JobKind: TypeAlias = Literal["mail", "vrfy", "etrn"]
JOB_KINDS: Final[tuple[str, ...]] = get_args(JobKind)
HISTORICAL_PROFILES: Final = tuple(p for p in PROFILE_NAMES if p != "current")

DEFAULT_RTC: Final = datetime(2024, 6, 3, 10, 0, 0, tzinfo=UTC)
"""The device RTC (and the server clock) when the scenario does not say."""
DEFAULT_PORT: Final = 25
DEFAULT_IMPLICIT_TLS_PORT: Final = 465
ATTACHMENT_BLOCK: Final = 64 * 1024
"""Size of the chunks a generated (``size =``) attachment streams in."""
MAX_RTC_VARIANTS: Final = 100
"""Each RTC variant is a whole run."""

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME_WORDS: Final = "a name of letters, digits, '_', '-' and '.'"
_LINE_BREAKS: Final = frozenset("\r\n\x00")


def _domain_value(value: object) -> object:
    return None if value == "" else value


def _max_size_value(value: object) -> object:
    if value == "unlimited":
        return None
    if isinstance(value, str):
        raise expected("an integer >= 0 or 'unlimited'")
    return value


def _profile_name(value: object) -> str:
    if not isinstance(value, str):
        raise expected('a release name in quotes, such as "2.0"')
    if value == "current":
        raise says("'current' has every bug fixed: it reproduces none")
    if value not in PROFILE_NAMES:
        known = ", ".join(HISTORICAL_PROFILES)
        raise says(f"unknown profile {value!r} (known: {known})")
    return value


Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonEmpty = Annotated[str, Field(min_length=1)]
Name = Annotated[str, Field(pattern=_NAME_PATTERN, description=_NAME_WORDS)]
ProfileName = Annotated[str, BeforeValidator(_profile_name)]


def _us(seconds: float) -> int:
    return round(seconds * SECOND)


def _us_or_none(seconds: float | None) -> int | None:
    return None if seconds is None else _us(seconds)


# ----------------------------------------------------------------------------------------
# [scenario]


class Reproduction(BaseModel):
    """One ``[[scenario.reproduces]]`` entry: a changelog line and the releases it hits."""

    model_config = _STRICT
    changelog: NonEmpty
    """The changelog line (free text) of the bug, the fix, or the known issue."""
    profiles: Annotated[list[ProfileName], Field(min_length=1)]
    why: NonEmpty | None = None


class ScenarioMeta(BaseModel):
    """``[scenario]``: what the scenario is called and which releases fail it."""

    model_config = _STRICT
    name: Name
    title: NonEmpty
    description: str | None = None
    tags: list[Name] = Field(default_factory=list)
    time_limit_s: PositiveSeconds = 3600.0
    """A run with no terminal event by then is a hang."""
    reproduces: list[Reproduction] = Field(default_factory=list)

    @property
    def time_limit_us(self) -> int:
        return _us(self.time_limit_s)


# ----------------------------------------------------------------------------------------
# [device]

_DEVICE_CONFIG_MOVED: Final = {
    "device": "set device.ip, device.domain and device.hostname instead",
    "stack": "set device.pool_buffers and device.buffer_size instead",
}
_RUNNER_HOST: Final = "server.invalid"
"""Stands in for ``[server] host`` while validating; the runner sets the real one."""


class DeviceSection(BaseModel):
    """``[device]``: the emulated board, its RTC, and its partial device configuration.

    ``rtc`` None means ``"unset"`` (a flat backup battery); ``domain`` None means none
    (EHLO then uses the address literal of ``ip``). ``config`` is the partial device
    configuration ([device.config]), checked against ``smtp.config.DeviceConfig``.
    """

    model_config = _STRICT
    pool_buffers: PoolBuffers = 16
    buffer_size: BufferSize = 1536
    rtc: RtcSetting = DEFAULT_RTC
    rtc_variants: Annotated[list[UtcDateTime], Field(max_length=MAX_RTC_VARIANTS)] = Field(
        default_factory=list)
    """Run the scenario once per RTC setting listed here (and the server clock with it);
    it passes only when every variant passes."""
    rtc_drift_ppm: Annotated[int, Field(ge=-500_000, le=500_000)] = 0
    ip: IPv4String = "192.0.2.10"
    domain: Annotated[
        Annotated[str, Field(pattern=DOMAIN_PATTERN)] | None,
        BeforeValidator(_domain_value),
        Field(description="a domain name or address literal such as device.example.com "
                          "or [192.0.2.10], or \"\" for none"),
    ] = "device.example.com"
    hostname: Annotated[str, Field(pattern=HOSTNAME_PATTERN,
                                   description="a host name such as device")] = "device"
    watchdog_timeout_s: PositiveSeconds = 2.0
    config: dict[str, Any] = Field(default_factory=dict)
    firmware: FirmwareSetting = MODEL
    """The board's firmware (``scenarios.firmware_choice``); ``--firmware`` overrides it."""
    firmware_options: dict[str, str] = Field(default_factory=dict)
    """``key = "value"`` handed to a C firmware's init (each firmware documents its own)."""

    @property
    def watchdog_timeout_us(self) -> int:
        return _us(self.watchdog_timeout_s)

    @property
    def rtc_unset(self) -> bool:
        return self.rtc is None

    @model_validator(mode="after")
    def _check_config(self) -> DeviceSection:
        # The moved keys are overwritten by the scenario's own ones: check the rest too.
        problems = self._moved_keys()
        try:
            DeviceConfig.model_validate(self.full_config_dict(_RUNNER_HOST),
                                        context={"check_version": False})
        except ValidationError as exc:
            problems += [_device_config_problem(err) for err in exc.errors()]
        if problems:
            raise problems_error(problems)
        return self

    def _moved_keys(self) -> list[Problem]:
        problems: list[Problem] = []
        for key, advice in _DEVICE_CONFIG_MOVED.items():
            if key in self.config:
                problems.append((("config", key), advice))
        server = self.config.get("server")
        if isinstance(server, Mapping) and "host" in server:
            problems.append((("config", "server", "host"),
                             "set by the runner (the scripted server's address)"))
        return problems

    def config_overrides(self) -> dict[str, Any]:
        """The device configuration this scenario sets, as a partial config dict: every
        table but ``server.host`` (and ``server.port`` unless [device.config.server] sets
        it: the runner fills both in from the scripted server)."""
        out: dict[str, Any] = {k: _deep_copy(v) for k, v in self.config.items()}
        device: dict[str, Any] = {"ip": self.ip, "hostname": self.hostname}
        if self.domain is not None:
            device["domain"] = self.domain
        out["device"] = device
        out["stack"] = {"pool_buffers": self.pool_buffers, "buffer_size": self.buffer_size}
        return out

    def full_config_dict(self, host: str, port: int | None = None) -> dict[str, Any]:
        """A whole device configuration dict: the overrides, ``config_version`` (this
        client's unless the scenario sets one), ``server.host`` and the default port."""
        data = self.config_overrides()
        data.setdefault("config_version", CONFIG_VERSION)
        server = data.get("server", {})
        if isinstance(server, Mapping):  # anything else: DeviceConfig says what is wrong
            server = {**server, "host": host}
            if port is not None:
                server.setdefault("port", port)
        data["server"] = server
        return data


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _device_config_problem(err: Any) -> Problem:
    """A ``DeviceConfig`` finding, keyed where the scenario file sets it."""
    loc = tuple(err["loc"])
    head = loc[0] if loc else None
    # The config's [device] and [stack] keys are [device] keys of the scenario.
    where = loc[1:] if head in _DEVICE_CONFIG_MOVED else ("config", *loc)
    _, message = describe_error(err, DeviceConfig)
    return where, message


# ----------------------------------------------------------------------------------------
# [link]


class _Fault(BaseModel):
    """A fault the runner arms (or fires) ``at_s`` seconds into the run."""

    model_config = _STRICT
    at_s: Seconds = 0.0

    @property
    def at_us(self) -> int:
        return _us(self.at_s)


class DropNthFault(_Fault):
    """Lose the ``n``-th segment sent by ``src`` (either side when omitted), counted from
    ``at_s``; with ``payload_only`` only segments carrying payload count."""

    fault: Literal["drop_nth"]
    n: PositiveCount
    src: Side | None = None
    payload_only: bool = False


class DropAfterFault(BaseModel):
    """Make ``src`` a silent peer from ``at_s`` or once it has sent
    ``after_payload_bytes`` payload bytes, whichever comes first (from the start when
    neither is given). Armed when the run starts (``Link.drop_after(time_us=...)``)."""

    model_config = _STRICT
    fault: Literal["drop_after"]
    src: Side
    at_s: Seconds | None = None
    after_payload_bytes: Count | None = None

    @property
    def time_us(self) -> int | None:
        """When the silence starts by time (None: only by payload bytes, or at once)."""
        return _us_or_none(self.at_s)


class InjectRstFault(_Fault):
    """At ``at_s``, forge an RST to ``towards`` as if from its peer."""

    fault: Literal["inject_rst"]
    towards: Side
    at_s: Seconds  # required: there is no connection to reset at the start


class HoldFault(_Fault):
    """From ``at_s``, hold what ``src`` sends (both sides when omitted); release it
    ``duration_s`` later (never when omitted)."""

    fault: Literal["hold"]
    src: Side | None = None
    duration_s: PositiveSeconds | None = None

    @property
    def duration_us(self) -> int | None:
        return _us_or_none(self.duration_s)


class PartitionFault(_Fault):
    """From ``at_s``, lose every frame both ways; repair ``duration_s`` later (never when
    omitted)."""

    fault: Literal["partition"]
    duration_s: PositiveSeconds | None = None

    @property
    def duration_us(self) -> int | None:
        return _us_or_none(self.duration_s)


class SetLossFault(_Fault):
    """From ``at_s``, lose each frame from ``src`` (both sides when omitted) with
    ``probability`` (drawn from the kernel's seeded generator)."""

    fault: Literal["set_loss"]
    probability: Probability
    src: Side | None = None


Fault: TypeAlias = Annotated[
    DropNthFault | DropAfterFault | InjectRstFault | HoldFault | PartitionFault | SetLossFault,
    Field(discriminator="fault"),
]


class LinkSection(BaseModel):
    """``[link]``: the wire between the board and the server, and its faults."""

    model_config = _STRICT
    latency_ms: Milliseconds = 1.0
    bandwidth_bps: BitsPerSecond = 10_000_000
    mtu: Annotated[int, Field(ge=576, le=65535)] = 1500
    loss: Probability = 0.0
    faults: list[Fault] = Field(default_factory=list)

    @property
    def latency_us(self) -> int:
        return round(self.latency_ms * MS)


# ----------------------------------------------------------------------------------------
# [server]


def _server_default(name: str) -> Any:
    for f in fields(ServerConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(name)  # pragma: no cover - a renamed field breaks the tests first


_RULE_FIELD_NAMES: Final = {"delay_us": "delay_s", "trickle_delay_us": "trickle_delay_s"}


class RuleSection(BaseModel):
    """One ``[[server.rules]]`` entry: a ``scenarios.server.rules.Rule`` with seconds."""

    model_config = _STRICT
    verb: NonEmpty
    argument: str | None = None
    nth: PositiveCount | None = None
    times: PositiveCount | None = None
    in_tls: bool | None = None
    reply: NonEmpty | None = None
    raw: bool = False
    inject: NonEmpty | None = None
    transition: bool | None = None
    action: RuleAction = "reply"
    delay_s: Seconds = 0.0
    trickle_delay_s: Seconds = 0.0
    drop_tls_mode: DropTlsMode | None = None

    @model_validator(mode="after")
    def _check_rule(self) -> RuleSection:
        if self.action == "drop_tls" and self.drop_tls_mode is None:
            modes = ", ".join(get_args(DropTlsMode))
            raise problems_error([(("drop_tls_mode",),
                                    f"missing, expected one of {modes} with action drop_tls")])
        try:
            self.to_rule()
        except ValueError as exc:
            problem = _dataclass_problem(str(exc), "Rule.", _RULE_FIELD_NAMES)
            raise problems_error([problem]) from None
        return self

    def to_rule(self) -> Rule:
        return Rule(
            verb=self.verb, argument=self.argument, nth=self.nth, times=self.times,
            in_tls=self.in_tls, reply=self.reply, raw=self.raw, inject=self.inject,
            transition=self.transition, action=self.action, delay_us=_us(self.delay_s),
            trickle_delay_us=_us(self.trickle_delay_s), drop_tls_mode=self.drop_tls_mode,
        )


def _dataclass_problem(message: str, prefix: str, renames: Mapping[str, str]) -> Problem:
    """``"Rule.reply: required ..."`` -> ``(("reply",), "required ...")``."""
    for line in message.splitlines():
        match = re.match(rf"{re.escape(prefix)}(\w+): (.*)", line)
        if match:
            return (renames.get(match[1], match[1]),), match[2]
    return (), message


_SERVER_ONLY: Final = frozenset(
    {"listen", "port", "clock", "tls_cert", "tls_ciphers", "tls_min_version",
     "tls_max_version"})
"""[server] keys that are the runner's business, not ``ServerConfig``'s."""


class ServerSection(BaseModel):
    """``[server]``: where and how the scripted server listens, and every
    ``ServerConfig`` field (same names; rules with seconds instead of microseconds)."""

    model_config = _STRICT
    listen: bool = True
    """False: nobody listens, the connection is refused."""
    port: Port = DEFAULT_PORT
    """25, or 465 when ``implicit_tls`` is set and the file gives no port."""
    clock: UtcDateTime = DEFAULT_RTC
    """The server's own clock (Date checks); defaults to the device RTC when set."""
    tls_cert: Literal["rsa", "ecdsa"] = "rsa"
    tls_ciphers: NonEmpty | None = None
    tls_min_version: TlsVersionName | None = None
    tls_max_version: TlsVersionName | None = None
    # --- ServerConfig, 1:1 ----------------------------------------------------------
    hostname: str = _server_default("hostname")
    capabilities: list[str] | None = None
    capabilities_tls: list[str] | None = None
    starttls: bool = _server_default("starttls")
    implicit_tls: bool = _server_default("implicit_tls")
    max_size: Annotated[AdvertisedSize | None,
                        BeforeValidator(_max_size_value)] = _server_default("max_size")
    credentials: dict[str, str] = Field(default_factory=dict)
    allow_anonymous: bool = _server_default("allow_anonymous")
    cram_md5_challenge: NonEmpty = _server_default("cram_md5_challenge")
    require_auth: bool = _server_default("require_auth")
    rcpt_reject: dict[str, str] = Field(default_factory=dict)
    vrfy: dict[str, str] = Field(default_factory=dict)
    vrfy_default: NonEmpty = _server_default("vrfy_default")
    etrn_reply: NonEmpty = _server_default("etrn_reply")
    date_tolerance_hours: Hours | None = _server_default("date_tolerance_hours")
    send_during_data: NonEmpty | None = None
    send_during_data_times: Count = _server_default("send_during_data_times")
    ehlo_reject_bare_ip: bool = _server_default("ehlo_reject_bare_ip")
    max_line_length: LineLength = _server_default("max_line_length")
    coalesce_replies: bool = _server_default("coalesce_replies")
    segmentation: Segmentation = _server_default("segmentation")
    rules: list[RuleSection] = Field(default_factory=list)
    replay: ReplayEntries = Field(default_factory=list)
    """A recorded server's answers, before the rules (``scenarios/format_replay.py``)."""

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "port" not in data and data.get("implicit_tls") is True:
            return {**data, "port": DEFAULT_IMPLICIT_TLS_PORT}
        return data

    @model_validator(mode="after")
    def _check_server(self) -> ServerSection:
        problems: list[Problem] = []
        if self.tls_ciphers is not None:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(self.tls_ciphers)
            except ssl.SSLError:
                problems.append((("tls_ciphers",),
                                 f"OpenSSL accepts no cipher in {self.tls_ciphers!r}"))
        low, high = self.tls_min_version, self.tls_max_version
        order = get_args(TlsVersionName)
        if low is not None and high is not None and order.index(low) > order.index(high):
            problems.append((("tls_min_version",), f"{low} is above tls_max_version {high}"))
        try:
            self.to_server_config()
        except ValueError as exc:
            problems.append(_dataclass_problem(str(exc), "ServerConfig.", {}))
        if problems:
            raise problems_error(problems)
        return self

    def to_server_config(self) -> ServerConfig:
        """The ``ServerConfig`` of the scripted server (every field but the runner's)."""
        values = {name: getattr(self, name) for name in type(self).model_fields
                  if name not in _SERVER_ONLY and name not in ("rules", "replay")}
        values["rules"] = replay_rules(self.replay) + tuple(rule.to_rule() for rule in self.rules)
        for name in ("capabilities", "capabilities_tls"):
            if values[name] is not None:
                values[name] = tuple(values[name])
        for name in ("credentials", "rcpt_reject", "vrfy"):
            values[name] = dict(values[name])
        return ServerConfig(**values)


# ----------------------------------------------------------------------------------------
# [job]


def _pattern_block(filename: str) -> bytes:
    seed = hashlib.sha256(b"smtp-hil attachment\0" + filename.encode("utf-8")).digest()
    return (seed * (ATTACHMENT_BLOCK // len(seed)))[:ATTACHMENT_BLOCK]


def generated_content(filename: str, size: int) -> Iterator[bytes]:
    """The bytes of a ``size =`` attachment: a 32-byte pattern derived from its file name
    (SHA-256), repeated and cut at ``size``; in chunks of at most ``ATTACHMENT_BLOCK``."""
    block = _pattern_block(filename)
    remaining = size
    while remaining > 0:
        piece = block[: min(remaining, ATTACHMENT_BLOCK)]
        remaining -= len(piece)
        yield piece


class AttachmentSection(BaseModel):
    """One attachment: ``text`` (sent as UTF-8) or ``size`` generated bytes."""

    model_config = _STRICT
    filename: NonEmpty
    content_type: NonEmpty | None = None
    """Default: ``text/plain`` for ``text``, ``application/octet-stream`` for ``size``."""
    text: str | None = None
    size: GeneratedBytes | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AttachmentSection:
        if (self.text is None) == (self.size is None):
            raise problems_error([((), "expected exactly one of text or size")])
        return self

    def to_attachment(self) -> Attachment:
        if self.text is not None:
            return Attachment(self.filename, self.content_type or "text/plain",
                              self.text.encode("utf-8"))
        assert self.size is not None  # _one_source
        source = functools.partial(generated_content, self.filename, self.size)
        return Attachment(self.filename, self.content_type or "application/octet-stream",
                          source)


_MAIL_JOB_KEYS: Final = {"sender": "from", "sender_name": "from_name"}


class MailJobSection(BaseModel):
    """``[job]`` with ``kind = "mail"`` (the default): one ``smtp.message.MailJob``.

    ``allow_invalid`` skips the job's own checks (CR/LF in headers, address syntax), for
    scenarios where the client must refuse a malformed job itself (``invalid_input``).
    """

    model_config = _STRICT
    kind: Literal["mail"] = "mail"
    sender: str = Field(alias="from")
    from_name: str = ""
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    reply_to: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[AttachmentSection] = Field(default_factory=list)
    dsn_notify: list[str] | None = None
    dsn_ret: str | None = None
    dsn_envid: str | None = None
    dsn_orcpt: bool = False
    allow_invalid: bool = False

    @model_validator(mode="after")
    def _check_job(self) -> MailJobSection:
        generated = sum(a.size or 0 for a in self.attachments)
        if generated > MAX_GENERATED_BYTES:
            raise problems_error([(("attachments",), (
                f"the sizes add up to {generated} bytes; together at most "
                f"{MAX_GENERATED_BYTES} ({MAX_GENERATED_BYTES // MIB} MiB)"))])
        if self.allow_invalid:
            return self
        problems: list[Problem] = []
        for line in self.to_job().problems():
            key, _, message = line.partition(": ")
            parts = _split_key(key)
            head = parts[0] if parts else None
            if isinstance(head, str) and head in _MAIL_JOB_KEYS:
                parts = (_MAIL_JOB_KEYS[head], *parts[1:])
            problems.append((parts, message))
        if problems:
            raise problems_error(problems)
        return self

    def to_job(self) -> MailJob:
        return MailJob(
            sender=self.sender, to=tuple(self.to), cc=tuple(self.cc), bcc=tuple(self.bcc),
            reply_to=tuple(self.reply_to), subject=self.subject, body=self.body,
            attachments=tuple(a.to_attachment() for a in self.attachments),
            dsn_notify=None if self.dsn_notify is None else tuple(self.dsn_notify),
            dsn_ret=self.dsn_ret, dsn_envid=self.dsn_envid, dsn_orcpt=self.dsn_orcpt,
            sender_name=self.from_name,
        )


def _split_key(key: str) -> tuple[str | int, ...]:
    """``"attachments[0].filename"`` -> ``("attachments", 0, "filename")``."""
    parts: list[str | int] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


class VrfyJobSection(BaseModel):
    """``[job]`` with ``kind = "vrfy"``: ask the server about ``address``."""

    model_config = _STRICT
    kind: Literal["vrfy"]
    address: NonEmpty
    allow_invalid: bool = False

    @model_validator(mode="after")
    def _check_job(self) -> VrfyJobSection:
        if not self.allow_invalid and not _LINE_BREAKS.isdisjoint(self.address):
            raise problems_error([(("address",), "contains CR, LF or NUL")])
        return self

    def to_job(self) -> VrfyJob:
        return VrfyJob(self.address)


class EtrnJobSection(BaseModel):
    """``[job]`` with ``kind = "etrn"``: ask the server to run its queue for ``node``."""

    model_config = _STRICT
    kind: Literal["etrn"]
    node: NonEmpty
    allow_invalid: bool = False

    @model_validator(mode="after")
    def _check_job(self) -> EtrnJobSection:
        if not self.allow_invalid and not _LINE_BREAKS.isdisjoint(self.node):
            raise problems_error([(("node",), "contains CR, LF or NUL")])
        return self

    def to_job(self) -> EtrnJob:
        return EtrnJob(self.node)


JobSection: TypeAlias = Annotated[
    MailJobSection | VrfyJobSection | EtrnJobSection, Field(discriminator="kind")
]


# ----------------------------------------------------------------------------------------
# [expect]


class ServerExpect(BaseModel):
    """``[expect.server]``: what the scripted server must have observed. None (omitted)
    means not checked; ``true``/``false`` is what the observation must be."""

    model_config = _STRICT
    ehlo_name_valid: bool | None = None
    no_auth_in_plaintext: bool | None = None
    no_commands_after_failed_starttls: bool | None = None
    tls_used: bool | None = None
    pipelined: bool | None = None
    ehlo_after_starttls: bool | None = None
    no_bare_line_endings: bool | None = None
    dot_stuffing_correct: bool | None = None
    no_unadvertised_extensions: bool | None = None
    mail_count: Count | None = None
    auth_mechanism: Literal["PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS", "XOAUTH2"] | None = None
    """The SASL mechanism of the client's successful AUTH."""
    authenticated_as: NonEmpty | None = None
    """The user (a key of ``server.credentials``) the client logged in as with its
    credentials: a successful AUTH with a mechanism other than ANONYMOUS."""
    envelope_recipients: list[str] | None = None
    """The RCPT TO addresses of the first mail the server accepted, in order."""
    via: Literal["DATA", "BDAT"] | None = None
    """How the first accepted mail's content came: DATA or CHUNKING's BDAT."""
    commands: list[str] | None = None
    """The verb of every command line the server received, in order (upper-case)."""
    connections_closed: bool | None = None
    """Every connection was over by the end of the run (closed by either side)."""


_COMMAND_EVENTS: Final = ("command_abort", "timeout")
_LIST_CHECKS: Final = frozenset({"headers_present", "headers_absent", "headers_match",
                                 "events_include"})
_EVENT_FOR_JOB: Final = {"sent": "mail", "vrfy_result": "vrfy", "etrn_result": "etrn"}


class Expect(BaseModel):
    """``[expect]``: what a correct client does. Only ``event`` is required; an omitted
    check (None, or an empty list) is not made."""

    model_config = _STRICT
    event: EventName
    command: NonEmpty | None = None
    """For ``command_abort`` and ``timeout``: the command, compared without case."""
    reply_code: Annotated[int, Field(ge=200, le=599)] | None = None
    error_kind: ErrorKindName | None = None
    recipients_rejected: list[str] | None = None
    events_include: list[ProgressEventName] = Field(default_factory=list)
    """Progress events the client must have reported (each at least once)."""
    mailbox_count: Count | None = None
    body_exact: bool | None = None
    headers_present: list[NonEmpty] = Field(default_factory=list)
    headers_absent: list[NonEmpty] = Field(default_factory=list)
    headers_match: dict[str, str] = Field(default_factory=dict)
    """Header name -> regular expression searched in its value as the client wrote it."""
    date_matches_rtc: bool | None = None
    max_virtual_s: PositiveSeconds | None = None
    pool_never_exhausted: bool | None = None
    """No received frame was dropped for want of an IP buffer."""
    tx_allocations_never_failed: bool | None = None
    """The stack never found the pool empty when it needed a buffer to send a segment."""
    pool_returns_to_full: bool | None = None
    no_watchdog_reset: bool = True
    server: ServerExpect = Field(default_factory=ServerExpect)

    @property
    def max_virtual_us(self) -> int | None:
        return _us_or_none(self.max_virtual_s)

    @model_validator(mode="after")
    def _check_expect(self) -> Expect:
        problems: list[Problem] = []
        if self.command is not None and self.event not in _COMMAND_EVENTS:
            problems.append((("command",), f"only used with event command_abort or timeout, "
                                           f"not {self.event}"))
        if self.error_kind is not None and self.event != "error":
            problems.append((("error_kind",), f"only used with event error, not {self.event}"))
        if self.reply_code is not None and self.event == "timeout":
            problems.append((("reply_code",), "a timeout has no reply"))
        for header, pattern in self.headers_match.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append((("headers_match", header),
                                 f"not a regular expression: {exc}"))
        if problems:
            raise problems_error(problems)
        return self

    def checks(self) -> dict[str, object]:
        """Every expectation this scenario makes, by dotted name (``server.tls_used``)."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            if name == "server":
                continue
            value = getattr(self, name)
            if value is None or (name in _LIST_CHECKS and not value):
                continue  # recipients_rejected = [] is a check: nobody was rejected
            out[name] = value
        for name in ServerExpect.model_fields:
            value = getattr(self.server, name)
            if value is not None:
                out[f"server.{name}"] = value
        return out

    def server_side_checks(self) -> dict[str, object]:
        """The expectations a scripted server can check on its own (real clients)."""
        return {k: v for k, v in self.checks().items() if SERVER_OBSERVABLE[k]}


SERVER_OBSERVABLE: Final[Mapping[str, bool]] = {
    "event": False,  # the client's own terminal event
    "command": False,
    "reply_code": False,  # the reply the client's event carries
    "error_kind": False,
    "recipients_rejected": False,  # what the client reports as rejected
    "events_include": False,  # the client's own events
    "mailbox_count": True,
    "body_exact": True,
    "headers_present": True,
    "headers_absent": True,
    "headers_match": True,
    "date_matches_rtc": False,  # needs the device's RTC
    "max_virtual_s": False,  # virtual time exists in the simulation only
    "pool_never_exhausted": False,
    "tx_allocations_never_failed": False,
    "pool_returns_to_full": False,
    "no_watchdog_reset": False,
    **{f"server.{name}": True for name in ServerExpect.model_fields},
}
"""For each expectation (dotted name): can the server side alone check it? A later
feature runs scenarios against real clients, where only those checks apply."""


# ----------------------------------------------------------------------------------------
# The scenario


class Scenario(BaseModel):
    """One scenario file: ``[scenario]``, ``[device]``, ``[link]``, ``[server]``,
    ``[job]`` and ``[expect]``."""

    model_config = _STRICT
    meta: ScenarioMeta = Field(alias="scenario")
    device: DeviceSection = Field(default_factory=DeviceSection)
    link: LinkSection = Field(default_factory=LinkSection)
    server: ServerSection = Field(default_factory=ServerSection)
    job: JobSection
    expect: Expect
    _source: str | None = PrivateAttr(default=None)

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
    def _check_event_for_job(self) -> Scenario:
        needed = _EVENT_FOR_JOB.get(self.expect.event)
        if needed is not None and needed != self.job.kind:
            raise problems_error([(("expect", "event"),
                                    f"{self.expect.event} needs a {needed} job, "
                                    f"the job is {self.job.kind}")])
        return self

    @model_validator(mode="after")
    def _check_login_expected_is_possible(self) -> Scenario:
        user = self.expect.server.authenticated_as
        users = self.server.credentials
        if user is not None and user not in users:
            known = ", ".join(users) or "none"
            raise problems_error([(("expect", "server", "authenticated_as"),
                                    f"{user!r} is not a user of server.credentials "
                                    f"({known}): no client could log in as it")])
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
    def reproduces(self) -> list[Reproduction]:
        return list(self.meta.reproduces)

    @property
    def time_limit_us(self) -> int:
        return self.meta.time_limit_us

    def reproduced_by(self, profile: str) -> bool:
        """Whether release ``profile`` is known to fail this scenario."""
        if profile not in PROFILE_NAMES:
            raise ValueError(f"profile: unknown release {profile!r} "
                             f"(known: {', '.join(PROFILE_NAMES)})")
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


# ----------------------------------------------------------------------------------------
# Loading


class ScenarioError(UserInputError):
    """A scenario file is unusable. One line per problem, each naming the file and the
    dotted key: ``x.toml: expect.event: expected one of sent, ..., got 'snet'``."""


def load_scenario(path: str | PathLike[str]) -> Scenario:
    """Read (``smtp.userfiles``: a regular file of at most 1 MiB) and validate the scenario
    file at ``path``."""
    try:
        text = read_user_text(path, SCENARIO_FILE)
    except UserFileError as exc:
        raise ScenarioError([str(exc)]) from None
    return parse_scenario(text, source=shown_path(path))


def load_catalog_file(path: str | PathLike[str]) -> Scenario:
    """``load_scenario``, and the scenario's name must be the file's stem."""
    scenario = load_scenario(path)
    stem = Path(fspath(path)).stem
    if scenario.name != stem:
        raise ScenarioError([f"{fspath(path)}: scenario.name: expected {stem!r} "
                             f"(the file name), got {scenario.name!r}"])
    return scenario


def parse_scenario(text: str, *, source: str) -> Scenario:
    """Validate TOML ``text``; ``source`` is the file name used in error messages."""
    try:
        data = parse_toml(text, source=source)
    except UserFileError as exc:
        raise ScenarioError([str(exc)]) from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors():
            lines.extend(f"{source}: {line}" for line in describe(err, Scenario))
        raise ScenarioError(lines) from None
    scenario._source = source
    return scenario


__all__ = [
    "ERROR_KIND_NAMES",
    "EVENT_NAMES",
    "FAULT_NAMES",
    "JOB_KINDS",
    "PROGRESS_EVENT_NAMES",
    "SERVER_OBSERVABLE",
    "AttachmentSection",
    "DeviceSection",
    "DropAfterFault",
    "DropNthFault",
    "EtrnJobSection",
    "Expect",
    "HoldFault",
    "InjectRstFault",
    "LinkSection",
    "MailJobSection",
    "PartitionFault",
    "Reproduction",
    "RuleSection",
    "Scenario",
    "ScenarioError",
    "ScenarioMeta",
    "ServerExpect",
    "ServerSection",
    "SetLossFault",
    "VrfyJobSection",
    "generated_content",
    "load_catalog_file",
    "load_scenario",
    "parse_scenario",
]
