"""Server certificate verification against the DEVICE's clock (its RTC), not the host's.

OpenSSL on the client side is told not to verify anything (it would compare dates with
the host clock). After the handshake the TLS layer hands the peer's DER certificates to
:func:`verify_server_certificate` with the time the device's RTC reads, and this module
decides, with ``cryptography.x509.verification`` (the WebPKI rules), giving a reason a
firmware engineer reads at a glance: "certificate not yet valid: valid from 2024-01-01
00:00:00 UTC, device clock reads 1970-01-01 00:00:00 UTC", "certificate expired ...",
"weak key: ...", "weak signature: ...", "name mismatch ...", "unknown issuer ...". The
certificate's bytes are the server's: one that does not parse, however cryptography fails
on it, is "malformed server certificate: ...", never another exception.

Strength (the WebPKI verifier checks signature algorithms, but not key sizes): every
certificate the server sent must have an RSA key of at least 2048 bits, an EC key on
P-256, P-384 or P-521, or an Ed25519/Ed448 key (DSA and anything else are refused), and
must not be signed with MD5 or SHA-1 (a certificate that is itself a trust anchor, a
pinned one, has no signature to trust and is not judged by it).

This module knows X.509 and nothing about sockets, TLS records, kernels or clocks: the
time is an argument. A naive ``at`` is taken as UTC.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import (
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)

_MALFORMED = (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension,
              x509.UnsupportedGeneralNameType, UnsupportedAlgorithm)
"""What cryptography raises on certificate bytes it cannot parse (some of it lazily)."""

MIN_RSA_BITS = 2048
ALLOWED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
"""The elliptic curves a server key may use (the CA/Browser Forum's list)."""
_BROKEN_HASHES: dict[type[hashes.HashAlgorithm], str] = {hashes.MD5: "MD5", hashes.SHA1: "SHA-1"}


class CertificateError(Exception):
    """The server's certificate was rejected; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def format_time(moment: datetime) -> str:
    """``2024-01-01 00:00:00 UTC``: how every date appears in a reason."""
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def verify_server_certificate(
    der_chain: list[bytes],
    *,
    trust_anchors_pem: bytes,
    server_name: str,
    at: datetime,
) -> None:
    """Raise :class:`CertificateError` unless ``der_chain`` is valid for ``server_name``.

    ``der_chain[0]`` is the server's certificate, the rest intermediates (Python 3.11's
    ``SSLObject`` gives only the leaf, so usually there are none). ``at`` is the device's
    RTC time. Bad arguments (not a trust anchor in ``trust_anchors_pem``, an empty or
    malformed ``server_name``) raise ValueError naming the argument.
    """
    now = _as_utc(at)
    anchors, verifier = _build(trust_anchors_pem, server_name, now)
    if not der_chain:
        raise CertificateError("server sent no certificate")
    # The server chose these bytes, and cryptography parses parts of a certificate only
    # when they are read: whatever it raises on the way is a malformed certificate.
    try:
        chain = [x509.load_der_x509_certificate(der) for der in der_chain]
        leaf, intermediates = chain[0], chain[1:]
        _check_dates(leaf, now, what="certificate")
        for cert in chain:
            _check_strength(cert, anchors, what="the server's certificate" if cert is leaf
                            else f"intermediate '{cert.subject.rfc4514_string()}'")
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            raise CertificateError(_explain(str(exc), leaf, anchors, server_name, now)) \
                from None
    except _MALFORMED as exc:
        raise CertificateError(f"malformed server certificate: {exc}") from None


def check_arguments(*, trust_anchors_pem: bytes, server_name: str) -> None:
    """Raise ValueError now for arguments :func:`verify_server_certificate` would refuse."""
    _build(trust_anchors_pem, server_name, datetime(2000, 1, 1, tzinfo=UTC))


# ---- helpers -----------------------------------------------------------------------


def _build(
    trust_anchors_pem: bytes, server_name: str, now: datetime
) -> tuple[list[x509.Certificate], ServerVerifier]:
    anchors = _load_anchors(trust_anchors_pem)
    subject = _subject_for(server_name)
    try:
        verifier = PolicyBuilder().store(Store(anchors)).time(now).build_server_verifier(subject)
    except ValueError as exc:
        raise ValueError(f"server_name: {server_name!r} is not usable: {exc}") from None
    return anchors, verifier



def _as_utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"at: expected a datetime, got {moment!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _load_anchors(trust_anchors_pem: bytes) -> list[x509.Certificate]:
    if not isinstance(trust_anchors_pem, bytes):
        raise ValueError(
            f"trust_anchors_pem: expected PEM bytes, got {type(trust_anchors_pem).__name__}"
        )
    return list(_parsed_anchors(trust_anchors_pem))


@functools.lru_cache(maxsize=32)
def _parsed_anchors(trust_anchors_pem: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of one PEM text, parsed once per process (a device checks every
    session against the same anchors)."""
    try:
        return tuple(x509.load_pem_x509_certificates(trust_anchors_pem))
    except ValueError:
        raise ValueError(
            "trust_anchors_pem: expected one or more PEM certificates "
            "('-----BEGIN CERTIFICATE-----')"
        ) from None


def _subject_for(server_name: str) -> DNSName | IPAddress:
    if not isinstance(server_name, str) or not server_name:
        raise ValueError(f"server_name: expected a host name or IP literal, got {server_name!r}")
    try:
        return IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        pass
    try:
        return DNSName(server_name)
    except ValueError:
        raise ValueError(
            f"server_name: expected a host name or IP literal, got {server_name!r}"
        ) from None


def _check_dates(cert: x509.Certificate, now: datetime, *, what: str) -> None:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    clock = f"device clock reads {format_time(now)}"
    if now < start:
        raise CertificateError(f"{what} not yet valid: valid from {format_time(start)}, {clock}")
    if now > end:
        raise CertificateError(f"{what} expired: valid until {format_time(end)}, {clock}")


def _check_strength(cert: x509.Certificate, anchors: list[x509.Certificate], *,
                    what: str) -> None:
    """Refuse a weak key, and a broken signature hash unless ``cert`` is a trust anchor."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateError(f"weak key: {what} has an RSA key of {key.key_size} bits "
                                   f"(at least {MIN_RSA_BITS})")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_CURVES:
            allowed = ", ".join(ALLOWED_CURVES.values())
            raise CertificateError(f"weak key: {what} has an EC key on curve {key.curve.name} "
                                   f"(allowed: {allowed})")
    elif isinstance(key, dsa.DSAPublicKey):
        raise CertificateError(f"weak key: {what} has a DSA key (DSA is not allowed)")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise CertificateError(f"weak key: {what} has a {type(key).__name__} key, which is "
                               "not allowed")
    if cert in anchors:
        return
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    broken = _BROKEN_HASHES.get(type(algorithm)) if algorithm is not None else None
    if broken is not None:
        raise CertificateError(f"weak signature: {what} is signed with {broken}, a broken "
                               "hash (at least SHA-256)")


def _names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(san.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def _explain(
    message: str,
    leaf: x509.Certificate,
    anchors: list[x509.Certificate],
    server_name: str,
    now: datetime,
) -> str:
    """Turn the verifier's message into a reason in plain words."""
    issuer = leaf.issuer.rfc4514_string()
    if "subjectAltName" in message and "no matching" in message:
        names = ", ".join(_names_of(leaf)) or "no names"
        return f"name mismatch: certificate is for {names}; expected {server_name}"
    if "no subjectAltName" in message:
        return f"name mismatch: certificate has no subjectAltName; expected {server_name}"
    if "not valid at validation time" in message:
        for anchor in anchors:
            if anchor.subject == leaf.issuer:
                _check_dates(anchor, now, what=f"issuer certificate '{issuer}'")
    if "candidates exhausted" in message or "signature" in message or "issuer" in message:
        if leaf.issuer == leaf.subject:
            return f"unknown issuer: self-signed certificate '{issuer}' is not a trust anchor"
        return f"unknown issuer: '{issuer}' is not among the trust anchors"
    detail = message.split(" (encountered processing", 1)[0]
    return f"certificate rejected: {detail}"
