"""The board configuration file of ``smtp-hil audit --board``: what the board under audit
is configured with, since its console cannot be told per case.

A real board's SMTP settings live in its firmware or its flash: the console's ``smtp
send`` names a mail, not the server, the security mode, the credentials or the trust
anchors. So the audit is told what the board holds, and serves each case where the
board connects::

    [server]                  # the SMTP server the board is configured to use
    listen = "127.0.0.1:2525" # the audit's server listens here (host:port of this machine)
    security = "starttls"     # none | starttls | required | tls
    server_name = "smtp.example.test"  # the name the board checks (default: listen's host)

    [auth]                    # optional: the board logs in with these
    username = "pump7"
    password = "s3cret-pump7"

    [tls]
    trusts = "audit_ca"       # audit_ca: the audit's CA, installed on the board; or other
    ca_dir = "audit-ca"       # where the audit keeps that CA (relative to this file)

    [timeouts]
    command_s = 300           # the board's own per-command timeout
    case_s = 60               # the longest a case may take (real seconds)

    [console]
    baudrate = 115200

Every key is checked (an unknown one is refused, a wrong type named with its file and
key: :class:`BoardConfigError`, exit 2). The audit's CA (:func:`audit_ca`) is made once
in ``ca_dir`` and kept, since the board must hold its certificate across runs.

This module knows the file's keys and the CA's files; it runs nothing.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emulator.userinput import UserInputError
from scenarios.outside.dutsecrets import private_file
from smtp.inputwording import describe, expected
from smtp.userfiles import (
    FileKind,
    UserFileError,
    load_toml,
    read_user_file,
    shown_path,
)
from stack.tls.certs import CertAuthority, generate_ca

BOARD_CONFIG_FILE: Final = FileKind("board configuration file", 1 << 20)
AUDIT_CA_NAME: Final = "smtp-hil audit CA"
CA_CERT_NAME: Final = "ca.pem"
CA_KEY_NAME: Final = "ca.key"
_STRICT: Final = ConfigDict(extra="forbid", strict=True, frozen=True)


class BoardConfigError(UserInputError):
    """A board configuration file is unusable: one line per problem, naming the file
    and the key."""


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise expected("host:port such as 127.0.0.1:2525 (a port from 1 to 65535)")
    return value


class ServerSection(BaseModel):
    """[server]: the server the board's configuration points at."""

    model_config = _STRICT
    listen: Annotated[str, Field(description="host:port such as 127.0.0.1:2525")]
    security: Literal["none", "starttls", "required", "tls"]
    server_name: Annotated[str | None, Field(min_length=1)] = None

    _check_listen = field_validator("listen")(_host_port)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].removeprefix("[").removesuffix("]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AuthSection(BaseModel):
    """[auth]: the board's credentials (it logs in when they are given)."""

    model_config = _STRICT
    username: Annotated[str, Field(min_length=1)]
    password: Annotated[str, Field(min_length=1)]


class TlsSection(BaseModel):
    """[tls]: the trust anchors the board holds."""

    model_config = _STRICT
    trusts: Literal["audit_ca", "other"] = "audit_ca"
    """``audit_ca``: the audit's CA (its ``ca.pem`` installed on the board); ``other``:
    anchors the audit cannot issue from (every TLS case is then not applicable)."""
    ca_dir: Annotated[str, Field(min_length=1)] = "audit-ca"


class TimeoutsSection(BaseModel):
    """[timeouts]: the board's own timer and the audit's patience, in seconds."""

    model_config = _STRICT
    command_s: Annotated[float, Field(gt=0, le=31536000)] = 300.0
    case_s: Annotated[float, Field(gt=0, le=31536000)] = 60.0

    @field_validator("command_s", "case_s", mode="before")
    @classmethod
    def _integers_too(cls, value: object) -> object:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ConsoleSection(BaseModel):
    """[console]: how to talk to the board's console."""

    model_config = _STRICT
    baudrate: Annotated[int, Field(gt=0, le=100_000_000)] = 115200


class BoardConfig(BaseModel):
    """A board configuration file (see the module docstring)."""

    model_config = _STRICT
    server: ServerSection
    auth: AuthSection | None = None
    tls: TlsSection = Field(default_factory=TlsSection)
    timeouts: TimeoutsSection = Field(default_factory=TimeoutsSection)
    console: ConsoleSection = Field(default_factory=ConsoleSection)

    def tls_names(self) -> list[str]:
        """The names a valid certificate of the audit's server carries."""
        names = [self.server.host]
        if self.server.server_name is not None:
            names.append(self.server.server_name)
        return [n for n in names if n not in ("0.0.0.0", "::")]


def load_board_config(path: Path) -> tuple[BoardConfig, Path]:
    """The validated file, and the folder its relative paths count from."""
    source = shown_path(path)
    try:
        data = load_toml(path, BOARD_CONFIG_FILE)
    except UserFileError as exc:
        raise BoardConfigError([str(exc)]) from None
    try:
        config = BoardConfig.model_validate(data)
    except ValidationError as exc:
        raise BoardConfigError([f"{source}: {line}" for err in exc.errors()
                                for line in describe(err, BoardConfig)]) from None
    try:
        ipaddress.ip_address(config.server.host)
    except ValueError:
        raise BoardConfigError(f"{source}: server.listen: expected an IP address of this "
                               f"machine to listen on, got {config.server.host!r}") from None
    return config, path.parent


def audit_ca(folder: Path) -> tuple[CertAuthority, Path, bool]:
    """The audit's CA kept in ``folder`` (made there when absent), its certificate's
    path, and whether it was just made. A folder holding something else is refused."""
    cert_path, key_path = folder / CA_CERT_NAME, folder / CA_KEY_NAME
    if not cert_path.exists() and not key_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        ca = generate_ca(common_name=AUDIT_CA_NAME)
        private_file(key_path, ca.key_pem)
        cert_path.write_bytes(ca.cert_pem)
        return ca, cert_path, True
    where = f"tls.ca_dir ({shown_path(folder)})"
    try:
        cert = x509.load_pem_x509_certificate(read_user_file(cert_path, CA_FILE_KIND))
        key = serialization.load_pem_private_key(read_user_file(key_path, CA_FILE_KIND), None)
    except (UserFileError, ValueError, TypeError) as exc:
        raise BoardConfigError(f"{where}: expected the audit CA's {CA_CERT_NAME} and "
                               f"{CA_KEY_NAME} (PEM, unencrypted): {exc}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if not isinstance(key, rsa.RSAPrivateKey) or \
            key.public_key().public_bytes(pem, public) != cert.public_key().public_bytes(pem,
                                                                                          public):
        raise BoardConfigError(f"{where}: {CA_KEY_NAME} is not the RSA key of {CA_CERT_NAME}")
    if os.stat(key_path).st_mode & 0o077:
        raise BoardConfigError(f"{where}: {CA_KEY_NAME} is readable by others (chmod 600 it)")
    return CertAuthority(certificate=cert, private_key=key, common_name=AUDIT_CA_NAME), \
        cert_path, False


CA_FILE_KIND: Final = FileKind("audit CA file", 1 << 20)
