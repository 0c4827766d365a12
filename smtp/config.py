"""The device configuration (the client's "configuration header"), as a TOML file.

A ``DeviceConfig`` is validated by pydantic (unknown keys refused, strict types, ranges);
its findings and TOML syntax errors become ``ConfigError`` lines that name the file, the
dotted key and what was expected, e.g. ``device.toml: server.port: expected an integer,
got 'abc'``, worded by :mod:`smtp.inputwording` as every user's file is.

The file carries ``config_version``; this client expects ``CONFIG_VERSION``. The version
check came with 2.5 ("Version check was added to configuration header"): releases before
it accepted a file whatever its version. ``load_config(..., check_version=False)`` does
the same (the key may then be missing or different, but must still be an integer when
present). Which one applies is the caller's decision, from the release profile
(``Profile.skips_config_version_check``); this module knows no profiles.

It knows TOML and the configuration's schema, nothing else: no sockets, no clock, no
protocol. It asks OpenSSL (an unused ``ssl.SSLContext``) whether ``tls.ciphers`` selects
any cipher, so a bad cipher string is refused when the file is loaded, not when a
connection is made. Timeouts are seconds in the file and integer microseconds in the kernel
(``DeviceConfig.timeouts_us()``). Every number has a ceiling as well as a floor
(:mod:`smtp.bounds`: a timeout of 1e308 s is refused, not overflowed), and the file is read
by :mod:`smtp.userfiles` (a regular file of at most 1 MiB, TOML nested at most 32 deep).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from ipaddress import AddressValueError, IPv4Address
from os import PathLike
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from emulator.units import SECOND
from emulator.userinput import UserInputError
from smtp.bounds import BufferSize, ChunkSize, Count, PoolBuffers, Port, PositiveSeconds
from smtp.inputwording import describe, expected, says
from smtp.timers import TIMER_NAMES, TimerName
from smtp.userfiles import CONFIG_FILE, UserFileError, parse_toml, read_user_text, shown_path

CONFIG_VERSION: Final = 3

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN: Final = rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$"
DOMAIN_PATTERN: Final = rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[!-Z^-~]+\])$"


@functools.lru_cache(maxsize=256)
def _ipv4(value: str) -> str:
    """``value`` as ``ipaddress`` writes the IPv4 address it is (kept per value: every
    scenario run validates its device's address twice, about 10 us each; a refused
    value raises again every time, as errors are not kept)."""
    try:
        return str(IPv4Address(value))
    except AddressValueError:
        raise expected("an IPv4 address such as 192.0.2.10") from None


IPv4String = Annotated[str, AfterValidator(_ipv4)]
TlsVersion = Literal["TLSv1.2", "TLSv1.3"]


class DeviceSection(BaseModel):
    """[device]: how the board names itself."""

    model_config = _STRICT
    domain: Annotated[str | None, Field(
        pattern=DOMAIN_PATTERN,
        description="a domain name or address literal such as device.example.com "
                    "or [192.0.2.10]")] = None
    """The EHLO argument (``psp_get_host_domain``); None = the address literal of ``ip``."""
    ip: IPv4String = "192.0.2.10"
    hostname: Annotated[str, Field(
        pattern=HOSTNAME_PATTERN, description="a host name such as device")] = "device"
    """``psp_template_hostname``: the host name in the Message-ID."""


class ServerSection(BaseModel):
    """[server]: where the mail goes and how the connection is secured."""

    model_config = _STRICT
    host: Annotated[str, Field(min_length=1)]
    port: Port = 25
    security: Literal["none", "starttls", "tls", "required"] = "starttls"
    """``required`` = STARTTLS, and refuse to go on in plaintext without it."""
    tls_server_name: str | None = None


class AuthSection(BaseModel):
    """[auth]: credentials; ``mechanism`` None = the strongest one the server offers."""

    model_config = _STRICT
    username: str | None = None
    password: str | None = None
    oauth_token: str | None = None
    mechanism: Literal["PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS", "XOAUTH2"] | None = None


class TimeoutsSection(BaseModel):
    """[timeouts] in seconds; defaults from RFC 5321 4.5.3.2 (connect/TLS/quit: ours)."""

    model_config = _STRICT
    connect: PositiveSeconds = 30.0
    greeting: PositiveSeconds = 300.0
    ehlo: PositiveSeconds = 300.0
    starttls: PositiveSeconds = 120.0
    tls_handshake: PositiveSeconds = 60.0
    auth: PositiveSeconds = 300.0
    mail: PositiveSeconds = 300.0
    rcpt: PositiveSeconds = 300.0
    data_init: PositiveSeconds = 120.0
    data_block: PositiveSeconds = 180.0
    data_term: PositiveSeconds = 600.0
    rset: PositiveSeconds = 120.0
    quit: PositiveSeconds = 60.0
    vrfy: PositiveSeconds = 300.0
    etrn: PositiveSeconds = 300.0

    def us(self, name: str) -> int:
        """The timeout ``name`` in integer microseconds."""
        if name not in _TIMEOUT_NAMES:
            raise ValueError(f"timeouts: unknown timeout {name!r}")
        seconds: float = getattr(self, name)
        return round(seconds * SECOND)


_TIMEOUT_NAMES: Final = frozenset(TimeoutsSection.model_fields)
"""The timeouts a [timeouts] table knows (pydantic's ``model_fields`` is a property
whose every read costs about a microsecond: twice per timeout per run)."""


class FeaturesSection(BaseModel):
    """[features]: which ESMTP extensions the client uses when the server offers them."""

    model_config = _STRICT
    pipelining: bool = True
    chunking: bool = True
    chunk_size: ChunkSize = 4096
    dsn: bool = True
    size: bool = True
    eight_bit_mime: bool = True
    smtputf8: bool = True


class TlsSection(BaseModel):
    """[tls]: None = the TLS library's default."""

    model_config = _STRICT
    ciphers: Annotated[str | None, Field(min_length=1)] = None
    """An OpenSSL cipher string."""
    min_version: TlsVersion | None = None
    max_version: TlsVersion | None = None
    ca_file: Annotated[str | None, Field(min_length=1)] = None
    verify: bool = True

    @field_validator("ciphers", mode="after")
    @classmethod
    def _openssl_accepts(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(value)
        except ssl.SSLError:
            raise says(f"OpenSSL accepts no cipher in {value!r}") from None
        return value

    @model_validator(mode="after")
    def _versions_in_order(self) -> TlsSection:
        if self.min_version and self.max_version and self.min_version > self.max_version:
            raise expected(f"min_version ({self.min_version}) not above "
                           f"max_version ({self.max_version})")
        return self


class StackSection(BaseModel):
    """[stack]: the IP stack's buffer pool."""

    model_config = _STRICT
    pool_buffers: PoolBuffers = 16
    buffer_size: BufferSize = 1536


class DeviceConfig(BaseModel):
    """The whole configuration file. Only ``[server] host`` (and, when the version is
    checked, ``config_version``) has no default."""

    model_config = _STRICT
    config_version: Annotated[Count | None, Field(validate_default=True)] = None
    device: DeviceSection = Field(default_factory=DeviceSection)
    server: ServerSection
    auth: AuthSection = Field(default_factory=AuthSection)
    timeouts: TimeoutsSection = Field(default_factory=TimeoutsSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    tls: TlsSection = Field(default_factory=TlsSection)
    stack: StackSection = Field(default_factory=StackSection)

    @field_validator("config_version", mode="after")
    @classmethod
    def _check_version(cls, value: int | None, info: ValidationInfo) -> int | None:
        context = info.context if isinstance(info.context, Mapping) else {}
        if not context.get("check_version", True):
            return value
        if value is None:
            raise says(f"missing (this client expects version {CONFIG_VERSION})")
        if value != CONFIG_VERSION:
            raise says(f"file has version {value}, this client expects version "
                       f"{CONFIG_VERSION}")
        return value

    def timeouts_us(self) -> dict[TimerName, int]:
        """Every timeout in integer microseconds, by name."""
        return {name: self.timeouts.us(name) for name in TIMER_NAMES
                if name in _TIMEOUT_NAMES}


class ConfigError(UserInputError):
    """A configuration file is unusable. One line per problem, each naming the file and
    the dotted key: ``device.toml: server.port: expected an integer, got 'abc'``."""


# ----------------------------------------------------------------------------------------
# Loading


def load_config(path: str | PathLike[str], *, check_version: bool = True) -> DeviceConfig:
    """Read (``smtp.userfiles``: a regular file of at most 1 MiB) and validate the TOML
    file at ``path``; ``ConfigError`` names what is wrong."""
    try:
        text = read_user_text(path, CONFIG_FILE)
    except UserFileError as exc:
        raise ConfigError([str(exc)]) from None
    return parse_config(text, source=shown_path(path), check_version=check_version)


def parse_config(text: str, *, source: str, check_version: bool = True) -> DeviceConfig:
    """Validate TOML ``text``; ``source`` is the file name used in error messages."""
    try:
        data = parse_toml(text, source=source)
    except UserFileError as exc:
        raise ConfigError([str(exc)]) from None
    try:
        return DeviceConfig.model_validate(data, context={"check_version": check_version})
    except ValidationError as exc:
        raise ConfigError([f"{source}: {line}" for err in exc.errors()
                           for line in describe(err, DeviceConfig)]) from None

