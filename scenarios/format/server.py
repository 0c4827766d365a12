"""``[server]``: where and how the scripted server listens, and its behaviour.

Every key of :class:`scenarios.server.rules.ServerConfig` has the same name here (rules
with seconds instead of microseconds); ``listen``, ``port``, ``clock`` and the ``tls_*``
keys, ``certificate`` (:mod:`scenarios.format.certificate`) and ``tls_stall`` are the
runner's (whether anybody listens, where, the server's clock, its certificate and TLS
settings). ``[[server.rules]]`` override the correct server's
replies (:class:`RuleSection`); ``[[server.replay]]`` answers with a recorded server's
bytes (:mod:`scenarios.format.replay`) and comes before the rules.

This module knows the section's keys and how they map onto ``ServerConfig``; nothing of
the other sections.
"""

from __future__ import annotations

import re
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from scenarios.format.certificate import CertificateSection
from scenarios.format.datetimes import UtcDateTime
from scenarios.format.replay import ReplayEntries, replay_rules
from scenarios.format.vocabulary import DEFAULT_RTC, STRICT, NonEmpty, TlsVersionName, seconds_to_us
from scenarios.server.actions import DropTlsMode, Segmentation
from scenarios.server.generated import MAX_COUNT, MAX_SIZE, GeneratedReply, GenerateKind
from scenarios.server.rules import Rule, RuleAction, ServerConfig
from scenarios.server.tlsstall import TlsStallMode
from smtp.bounds import AdvertisedSize, Count, Hours, LineLength, Port, PositiveCount, Seconds
from smtp.inputwording import Problem, expected, problems_error
from stack.tls.badcerts import CertificateSpec

DEFAULT_PORT: Final = 25
DEFAULT_IMPLICIT_TLS_PORT: Final = 465


def _max_size_value(value: object) -> object:
    if value == "unlimited":
        return None
    if isinstance(value, str):
        raise expected("an integer >= 0 or 'unlimited'")
    return value


def _server_default(name: str) -> Any:
    for f in fields(ServerConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(name)  # pragma: no cover - a renamed field breaks the tests first


_RULE_FIELD_NAMES: Final = {"delay_us": "delay_s", "trickle_delay_us": "trickle_delay_s",
                            "trickle_jitter_us": "trickle_jitter_s",
                            "stop_reading_us": "stop_reading_s"}


class GenerateSection(BaseModel):
    """``[server.rules.generate]``: a reply made as the socket takes it (the fields of
    :class:`scenarios.server.generated.GeneratedReply`)."""

    model_config = STRICT
    kind: GenerateKind
    head: str | None = None
    line: str = "250-X"
    count: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    tail: str | None = None
    prefix: str = ""
    fill: str = "A"
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)] = 0
    crlf: bool = True
    decoded_size: Annotated[int, Field(ge=0, le=MAX_SIZE)] = 0

    @model_validator(mode="after")
    def _check_generate(self) -> GenerateSection:
        try:
            self.to_reply()
        except ValueError as exc:
            raise problems_error([_dataclass_problem(str(exc), "GeneratedReply.", {})]) from None
        return self

    def to_reply(self) -> GeneratedReply:
        return GeneratedReply(**self.model_dump())


class RuleSection(BaseModel):
    """One ``[[server.rules]]`` entry: a ``scenarios.server.rules.Rule`` with seconds."""

    model_config = STRICT
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
    trickle_jitter_s: Seconds = 0.0
    """Each trickle gap is ``trickle_delay_s`` plus a uniform 0..this (seeded)."""
    trickle_bytes: PositiveCount = 1
    """Bytes per write of a trickle."""
    drop_tls_mode: DropTlsMode | None = None
    generate: GenerateSection | None = None
    """A reply made as the socket takes it, instead of ``reply``."""
    stop_reading_s: Seconds | None = None
    """With action stop_reading: how long the server does not read; None: for good."""

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
            transition=self.transition, action=self.action, delay_us=seconds_to_us(self.delay_s),
            trickle_delay_us=seconds_to_us(self.trickle_delay_s),
            trickle_jitter_us=seconds_to_us(self.trickle_jitter_s),
            trickle_bytes=self.trickle_bytes, drop_tls_mode=self.drop_tls_mode,
            generate=self.generate.to_reply() if self.generate is not None else None,
            stop_reading_us=(None if self.stop_reading_s is None
                             else seconds_to_us(self.stop_reading_s)),
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
     "tls_max_version", "max_connections", "certificate", "tls_stall", "tls_stall_nth"})
"""[server] keys that are the runner's business, not ``ServerConfig``'s."""


_SERVER_CONFIGS: dict[int, tuple[weakref.ref[ServerSection], ServerConfig]] = {}
"""Each live section's ``ServerConfig``, by the section's identity (a copy made with
``model_copy(update=...)`` is another object, so it never finds its original's)."""


class ServerSection(BaseModel):
    """``[server]``: where and how the scripted server listens, and every
    ``ServerConfig`` field (same names; rules with seconds instead of microseconds)."""

    model_config = STRICT
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
    max_connections: PositiveCount | None = None
    """How many connections the server serves at once; one more is greeted with 421 and
    closed (RFC 5321 3.8). None: no limit."""
    certificate: CertificateSection | None = None
    """The certificate presented, of any kind (:mod:`scenarios.format.certificate`);
    None: a valid one with the ``tls_cert`` key."""
    tls_stall: TlsStallMode | None = None
    """Stall in the middle of a TLS handshake (:mod:`scenarios.server.tlsstall`)."""
    tls_stall_nth: PositiveCount = 1
    """Which of the server's handshakes stalls (counted from 1 across connections)."""
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
    """A recorded server's answers, before the rules (:mod:`scenarios.format.replay`)."""

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

    def certificate_spec(self) -> CertificateSpec:
        """What the server presents (``certificate``, else a valid one with ``tls_cert``)."""
        if self.certificate is None:
            return CertificateSpec(key=self.tls_cert)
        return self.certificate.to_spec(self.tls_cert)

    def to_server_config(self) -> ServerConfig:
        """The ``ServerConfig`` of the scripted server (every field but the runner's).
        Made once per section (the section is frozen, and so is the config): validation
        makes it to check it, and every run of the scenario takes that one."""
        key = id(self)
        made = _SERVER_CONFIGS.get(key)
        if made is not None and made[0]() is self:
            return made[1]
        config = self._make_server_config()
        _SERVER_CONFIGS[key] = (weakref.ref(self, lambda _gone: _SERVER_CONFIGS.pop(key, None)),
                                config)
        return config

    def _make_server_config(self) -> ServerConfig:
        values = {name: getattr(self, name) for name in type(self).model_fields
                  if name not in _SERVER_ONLY and name not in ("rules", "replay")}
        values["rules"] = replay_rules(self.replay) + tuple(rule.to_rule() for rule in self.rules)
        for name in ("capabilities", "capabilities_tls"):
            if values[name] is not None:
                values[name] = tuple(values[name])
        for name in ("credentials", "rcpt_reject", "vrfy"):
            values[name] = dict(values[name])
        return ServerConfig(**values)

