"""What the client core needs to know about its device, as plain data.

:class:`ClientSettings` is the client's view of the configuration (built from the TOML
config by :func:`smtp.config`-aware code, or directly in tests): security mode, names,
credentials, per-command timeouts in microseconds, feature switches and TLS parameters.
Its closed sets are ``Literal`` types, checked when the settings are made: a security mode
or a timer name outside them is refused, never replaced by a default.
:class:`Porting` is the device's porting layer (``psp_get_host_domain``,
``psp_template_hostname``, ``psp_rtc_get``): the only way the core learns the time.

This module knows no sockets, no clocks and no TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, get_args

from smtp.auth import Credentials
from smtp.config import DeviceConfig
from smtp.rtcdate import RtcFields
from smtp.timers import RFC5321_TIMEOUTS_S, TIMER_NAMES, TimerName

Security = Literal["none", "starttls", "tls", "required"]
SECURITY_MODES: Final[tuple[Security, ...]] = get_args(Security)

SECOND_US = 1_000_000


def default_timeouts_us() -> dict[TimerName, int]:
    return {name: s * SECOND_US for name, s in RFC5321_TIMEOUTS_S.items()}


@dataclass(frozen=True)
class TlsSettings:
    ciphers: str | None = None
    min_version: str | None = None
    max_version: str | None = None
    ca_pem: bytes | None = None
    verify: bool = True
    server_name: str | None = None
    keylog_file: str | None = None
    """Append TLS secrets here (``SSLKEYLOGFILE`` of ``smtp-hil send``); never in the
    simulation."""


@dataclass(frozen=True)
class ClientSettings:
    """Everything the client core is configured with."""

    server_host: str
    server_port: int = 25
    security: Security = "starttls"
    device_domain: str | None = None
    device_ip: str = "192.0.2.10"
    hostname: str = "device"
    credentials: Credentials = field(default_factory=Credentials)
    mechanism: str | None = None
    timeouts_us: dict[TimerName, int] = field(default_factory=default_timeouts_us)
    """Per timer; a timer not named here runs for its RFC 5321 default."""
    pipelining: bool = True
    chunking: bool = True
    chunk_size: int = 4096
    dsn: bool = True
    size: bool = True
    eight_bit_mime: bool = True
    smtputf8: bool = True
    tls: TlsSettings = field(default_factory=TlsSettings)

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security: expected one of {', '.join(SECURITY_MODES)}, "
                             f"got {self.security!r}")
        unknown = sorted(set(self.timeouts_us) - set(TIMER_NAMES))
        if unknown:
            raise ValueError(f"timeouts_us: unknown timer {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(TIMER_NAMES)})")

    def timeout_us(self, timer: TimerName) -> int:
        """How long ``timer`` runs; ValueError for a name that is not a timer."""
        configured = self.timeouts_us.get(timer)
        if configured is not None:
            return configured
        if timer not in RFC5321_TIMEOUTS_S:
            raise ValueError(f"unknown timer {timer!r} (known: {', '.join(TIMER_NAMES)})")
        return RFC5321_TIMEOUTS_S[timer] * SECOND_US


class Porting(Protocol):
    """The device's porting layer as the client sees it."""

    def rtc_get(self) -> RtcFields:
        """``psp_rtc_get()``: the broken-down RTC time."""
        ...

    def host_domain(self) -> str | None:
        """``psp_get_host_domain()``: the device's domain name, None if not configured."""
        ...

    def host_address(self) -> str:
        """``psp_get_host_addr()`` of old releases: the device's IPv4 address."""
        ...

    def template_hostname(self) -> str:
        """``psp_template_hostname``: the device's host name (for the Message-ID)."""
        ...


def settings_from_config(config: DeviceConfig, *, ca_pem: bytes | None = None) -> ClientSettings:
    """The client's settings from a validated device config (``ca_pem``: tls.ca_file read)."""
    timeouts = default_timeouts_us()
    timeouts.update(config.timeouts_us())
    features = config.features
    return ClientSettings(
        server_host=config.server.host,
        server_port=config.server.port,
        security=config.server.security,
        device_domain=config.device.domain,
        device_ip=config.device.ip,
        hostname=config.device.hostname,
        credentials=Credentials(username=config.auth.username, password=config.auth.password,
                                oauth_token=config.auth.oauth_token),
        mechanism=config.auth.mechanism,
        timeouts_us=timeouts,
        pipelining=features.pipelining,
        chunking=features.chunking,
        chunk_size=features.chunk_size,
        dsn=features.dsn,
        size=features.size,
        eight_bit_mime=features.eight_bit_mime,
        smtputf8=features.smtputf8,
        tls=TlsSettings(ciphers=config.tls.ciphers, min_version=config.tls.min_version,
                        max_version=config.tls.max_version, ca_pem=ca_pem,
                        verify=config.tls.verify,
                        server_name=config.server.tls_server_name),
    )
