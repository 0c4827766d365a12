"""The server certificate a capture shows, as the ``[server.certificate]`` kind it is.

A client that refuses the server's certificate ends the handshake, so the session cannot
be replayed from its decrypted records; what the replayed server must do is present a
certificate the client refuses the same way. The certificate is in the capture: in the
clear in TLS 1.2, and in TLS 1.3 decrypted with the handshake secrets of the key log.
:func:`certificate_finding` reads it (``cryptography``) and names its kind against the
test PKI (``stack.tls.badcerts``) and the capture's time (the device's RTC when the
capture comes from a run): signed by itself, by a CA other than the test CA, expired or
not yet valid then, not for the name the client asked for (its SNI), an RSA key under
2048 bits, a SHA-1 signature; else ``valid`` (no section needed). The dates go with the
kind as days from that day's midnight, as the format counts them.

This module knows X.509 and the certificate kinds; nothing about captures or TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from stack.tls.badcerts import CertificateKind
from stack.tls.certs import DEFAULT_CA_NAME


@dataclass(frozen=True)
class CertificateFinding:
    """The kind of the recorded certificate, the keys that make one like it, and why."""

    kind: CertificateKind
    keys: dict[str, object] = field(default_factory=dict)
    why: str = ""


def _common_name(name: x509.Name) -> str | None:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = found[0].value if found else None
    return value if isinstance(value, str) else None


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = [str(n) for n in extension.value.get_values_for_type(x509.DNSName)]
    return names + [str(a) for a in extension.value.get_values_for_type(x509.IPAddress)]


def _matches(name: str, patterns: list[str]) -> bool:
    name = name.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in patterns):
        if pattern == name or (pattern.startswith("*.") and "." in name
                               and name.split(".", 1)[1] == pattern[2:]):
            return True
    return False


def certificate_finding(der: bytes, at: datetime,
                        server_name: str | None) -> CertificateFinding | None:
    """The kind of certificate ``der`` at time ``at`` for a client that asked for
    ``server_name`` (see the module docstring); None when it cannot be read."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    midnight = datetime(at.year, at.month, at.day, tzinfo=UTC)
    begins = certificate.not_valid_before_utc
    ends = certificate.not_valid_after_utc
    days: dict[str, object] = {"valid_from_days": (begins - midnight).days,
            "valid_until_days": (ends - midnight).days}
    issuer = _common_name(certificate.issuer)
    names = _names(certificate)
    key = certificate.public_key()
    signature = certificate.signature_hash_algorithm
    if certificate.issuer == certificate.subject:
        return CertificateFinding("self_signed", why="it is signed by itself")
    if issuer != DEFAULT_CA_NAME:
        return CertificateFinding("unknown_ca", why=f"it is issued by {issuer!r}, not by the "
                                                    f"CA the device trusts")
    if ends < at:
        return CertificateFinding("expired", days, why=f"it expired on {ends:%Y-%m-%d}, "
                                                       f"before the capture")
    if begins > at:
        return CertificateFinding("not_yet_valid", days,
                                  why=f"it is valid only from {begins:%Y-%m-%d}, after the "
                                      f"capture")
    if server_name is not None and names and not _matches(server_name, names):
        return CertificateFinding("wrong_name", {"names": names},
                                  why=f"it is for {', '.join(names)}, the client asked for "
                                      f"{server_name}")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return CertificateFinding("weak_key", why=f"its key is RSA-{key.key_size}")
    if isinstance(signature, hashes.SHA1):
        return CertificateFinding("weak_signature", why="it is signed with SHA-1")
    return CertificateFinding("valid", why="the test CA's, for the name asked, in date")
