"""TLS configuration: what one side offers and accepts, as an OpenSSL context.

:class:`TlsConfig` holds ciphers (TLS 1.2 and below: TLS 1.3 suites are not settable from
Python's ``ssl``), version bounds, trust anchors, the expected server name and the
server's certificate chain, each validated on construction with a ValueError naming the
field. :func:`make_context` shapes contexts for deterministic record lengths (no tickets,
compression or renegotiation); :func:`client_verifier` checks a server chain against the
device's RTC through :mod:`stack.tls.verify`, never the host clock.

This module knows ``ssl`` and certificates; the socket that uses a context is
:mod:`stack.tls.session`.
"""

from __future__ import annotations

import functools
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from stack.tls.certs import is_test_key
from stack.tls.keylog import log_to_file
from stack.tls.verify import check_arguments, verify_server_certificate

Verifier: TypeAlias = Callable[[list[bytes]], None]

PYTHON_DEFAULT_CIPHERS = ("ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:"
                          "!SHA1:!AESCCM")
"""Python's own default cipher string (3.10 and later), without its ``@SECLEVEL=2``: what
a context offers when :attr:`TlsConfig.ciphers` is None, also at another security level."""

_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


# ---- configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class TlsConfig:
    """TLS settings of one side; validated on construction (ValueError names the field).

    ``ciphers`` is an OpenSSL cipher string for TLS 1.2 and below (TLS 1.3 suites cannot
    be chosen from Python). ``ca_pem`` holds the client's trust anchors; ``server_name``
    is what the client sends as SNI and checks the certificate against; ``cert_chain``
    is the server's ``(cert_pem, key_pem)``. ``keylog_file``: see the field.
    """

    ciphers: str | None = None
    min_version: str | None = None
    max_version: str | None = None
    ca_pem: bytes | None = None
    verify: bool = True
    server_name: str | None = None
    cert_chain: tuple[bytes, bytes] | None = None
    keylog_file: str | None = None
    """Append the session secrets to this file (``SSLKEYLOGFILE``); outside the
    simulation only, where the user named the file."""
    security_level: int | None = None
    """OpenSSL's security level (0 to 5) for this side; None keeps the default (2 here).
    A scripted server presenting a deliberately weak certificate (an RSA-1024 key, a
    SHA-1 signature) needs 0, or OpenSSL refuses to load it (``EE_KEY_TOO_SMALL``,
    ``CA_MD_TOO_WEAK``)."""

    def __post_init__(self) -> None:
        if self.ciphers is not None:
            _check_ciphers(self.ciphers)
        low = _version("min_version", self.min_version)
        high = _version("max_version", self.max_version)
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"tls.min_version: {self.min_version} is above tls.max_version "
                f"{self.max_version}"
            )
        if not isinstance(self.verify, bool):
            raise ValueError(f"tls.verify: expected true or false, got {self.verify!r}")
        if self.ca_pem is not None:
            _check_ca_pem(self.ca_pem)
        if self.server_name is not None and (
            not isinstance(self.server_name, str) or not self.server_name.strip()
        ):
            raise ValueError(f"tls.server_name: expected a host name, got {self.server_name!r}")
        if self.cert_chain is not None:
            _check_cert_chain(self.cert_chain)
        if self.security_level is not None and (
                isinstance(self.security_level, bool) or self.security_level not in range(6)):
            raise ValueError(f"tls.security_level: expected 0 to 5, got {self.security_level!r}")


def _check_ciphers(ciphers: str) -> None:
    if not isinstance(ciphers, str) or not ciphers.strip():
        raise ValueError(f"tls.ciphers: expected an OpenSSL cipher string, got {ciphers!r}")
    if not _openssl_takes(ciphers):
        raise ValueError(f"tls.ciphers: OpenSSL accepts no cipher in {ciphers!r}")


@functools.lru_cache(maxsize=64)
def _openssl_takes(ciphers: str) -> bool:
    """Whether OpenSSL accepts the cipher string (asked once per string: it costs a
    throw-away context)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(ciphers)
    except ssl.SSLError:
        return False
    return True


def _version(field_name: str, name: str | None) -> ssl.TLSVersion | None:
    if name is None:
        return None
    if name not in _VERSIONS:
        expected = ", ".join(repr(v) for v in _VERSIONS)
        raise ValueError(f"tls.{field_name}: expected one of {expected}, got {name!r}")
    return _VERSIONS[name]


def _check_ca_pem(ca_pem: bytes) -> None:
    if not isinstance(ca_pem, bytes) or not _certificates_load(ca_pem):
        raise ValueError("tls.ca_pem: expected PEM certificates (trust anchors)")


@functools.lru_cache(maxsize=32)
def _certificates_load(pem: bytes) -> bool:
    """Whether ``pem`` holds PEM certificates (parsed once per process and text)."""
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        return False
    return True


def _check_cert_chain(chain: tuple[bytes, bytes]) -> None:
    if not isinstance(chain, tuple) or len(chain) != 2:
        raise ValueError("tls.cert_chain: expected a (cert_pem, key_pem) pair")
    cert_pem, key_pem = chain
    if not isinstance(cert_pem, bytes) or not _certificates_load(cert_pem):
        raise ValueError("tls.cert_chain: the certificate is not PEM")
    if not isinstance(key_pem, bytes) or not _key_loads(key_pem):
        raise ValueError("tls.cert_chain: the key is not an unencrypted PEM key")


@functools.lru_cache(maxsize=32)
def _key_loads(key_pem: bytes) -> bool:
    """Whether ``key_pem`` is an unencrypted PEM key (parsing an RSA key is slow: cached).

    A key of the test PKI (:func:`stack.tls.certs.is_test_key`) skips OpenSSL's RSA
    consistency check (33 ms per key): this process made it; a user's key gets it."""
    try:
        load_pem_private_key(key_pem, password=None,
                             unsafe_skip_rsa_key_validation=is_test_key(key_pem))
    except (ValueError, TypeError):
        return False
    return True


# ---- contexts ----------------------------------------------------------------------


_chain_files: dict[tuple[bytes, bytes], tuple[tempfile.TemporaryDirectory[str], Path, Path]] = {}


def _files_for(chain: tuple[bytes, bytes]) -> tuple[Path, Path]:
    """PEM files for ``load_cert_chain`` (which needs paths), written once per process."""
    entry = _chain_files.get(chain)
    if entry is None:
        tmp = tempfile.TemporaryDirectory(prefix="smtp-hil-tls-")
        cert, key = Path(tmp.name) / "cert.pem", Path(tmp.name) / "key.pem"
        cert.write_bytes(chain[0])
        key.write_bytes(chain[1])
        key.chmod(0o600)
        entry = (tmp, cert, key)
        _chain_files[chain] = entry
    return entry[1], entry[2]


def make_context(config: TlsConfig, *, server_side: bool) -> ssl.SSLContext:
    """An OpenSSL context for one side, shaped for deterministic record lengths.

    The client context verifies nothing inside OpenSSL (``CERT_NONE``, no hostname
    check): the device checks the certificate against its RTC after the handshake.
    """
    if server_side:
        if config.cert_chain is None:
            raise ValueError("tls.cert_chain: a server needs (cert_pem, key_pem)")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _set_ciphers(context, config)  # the security level first: it judges the chain
        cert_path, key_path = _files_for(config.cert_chain)
        context.load_cert_chain(cert_path, key_path)
        context.num_tickets = 0
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _set_ciphers(context, config)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION
    low = _version("min_version", config.min_version)
    high = _version("max_version", config.max_version)
    if low is not None:
        context.minimum_version = low
    if high is not None:
        context.maximum_version = high
    if config.keylog_file is not None:
        log_to_file(context, config.keylog_file)
    return context


@functools.lru_cache(maxsize=64)
def shared_context(config: TlsConfig, *, server_side: bool) -> ssl.SSLContext:
    """:func:`make_context` once per process for each ``config`` and side.

    Contexts hold no per-session state that changes what a session sends (no tickets, no
    session offered by a client), so every session of a process may share one; building
    a server context loads its certificate chain (about 1 ms). A session whose secrets
    are captured through its context (:class:`stack.tls.keylog.SecretsCapture`) needs a
    context of its own: :func:`make_context`."""
    return make_context(config, server_side=server_side)


def _set_ciphers(context: ssl.SSLContext, config: TlsConfig) -> None:
    """The configured ciphers (Python's default when None), at the configured level."""
    if config.security_level is None:
        if config.ciphers is not None:
            context.set_ciphers(config.ciphers)
        return
    ciphers = PYTHON_DEFAULT_CIPHERS if config.ciphers is None else config.ciphers
    context.set_ciphers(f"@SECLEVEL={config.security_level}:{ciphers}")


def client_verifier(config: TlsConfig, clock: Callable[[], datetime]) -> Verifier | None:
    """The ``verify`` callable for a client: the chain against ``config`` at ``clock()``.

    ``clock`` is the device's RTC. None when ``config.verify`` is false.
    """
    if not config.verify:
        return None
    if config.ca_pem is None:
        raise ValueError("tls.ca_pem: trust anchors are required when tls.verify is true")
    if config.server_name is None:
        raise ValueError("tls.server_name: required when tls.verify is true")
    anchors, name = config.ca_pem, config.server_name
    try:
        check_arguments(trust_anchors_pem=anchors, server_name=name)
    except ValueError as exc:
        raise ValueError(f"tls.{exc}") from None

    def verify(der_chain: list[bytes]) -> None:
        verify_server_certificate(der_chain, trust_anchors_pem=anchors, server_name=name,
                                  at=clock())

    return verify
