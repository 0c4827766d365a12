"""Server certificates by kind: the valid one, and each kind a client must refuse.

A test names what the scripted server presents with a :class:`CertificateSpec` (a kind
and optional overrides) and what the client trusts with a list of :data:`TrustAnchor`;
:func:`server_certificate` makes the certificate (from :mod:`stack.tls.certs`, cached
there) and says which OpenSSL security level the SERVER needs to load it, and
:func:`trust_anchors` gives the client's anchors in PEM. The kinds (hostile-servers.md
row 11):

- ``valid``: issued by the trusted CA for the server's names;
- ``self_signed``: signs itself;
- ``unknown_ca``: issued by another CA (:func:`other_ca`) the client does not trust;
- ``expired``, ``not_yet_valid``: issued by the trusted CA, valid from 400 to 30 days
  before the reference time, or from 30 to 400 days after it;
- ``wrong_name``: issued by the trusted CA for ``other.example.org``;
- ``weak_key``: an RSA-1024 key; ``weak_signature``: signed with SHA-1.

Dates are RELATIVE to a reference time the caller gives: the device's RTC in the
simulation, the host clock for a real client. So one spec means "expired" on a device
whose RTC reads 2035 and for a program on the host alike. The reference is taken at
midnight UTC, so a day's certificates are made once. ``valid_from_days`` and
``valid_until_days`` override any kind's dates (relative too); without them the kinds
that are not about dates use the test PKI's fixed 2024-2034.

This module knows certificates; nothing about sockets, TLS sessions, scenarios or clocks
(the reference time is an argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias

from stack.tls.certs import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    KEY_TYPES,
    SIGNATURE_HASHES,
    CertAuthority,
    KeyType,
    LeafCert,
    SignatureHash,
    check_choice,
    make_ca,
    make_self_signed,
)

CertificateKind: TypeAlias = Literal["valid", "self_signed", "unknown_ca", "expired",
                                     "not_yet_valid", "wrong_name", "weak_key",
                                     "weak_signature"]
CERTIFICATE_KINDS: Final[tuple[CertificateKind, ...]] = (
    "valid", "self_signed", "unknown_ca", "expired", "not_yet_valid", "wrong_name",
    "weak_key", "weak_signature")
TrustAnchor: TypeAlias = Literal["test_ca", "other_ca", "server_certificate"]
"""``test_ca``: the CA that issues the valid certificate; ``other_ca``: the issuer of
``unknown_ca`` certificates; ``server_certificate``: the presented certificate itself
(pinned, as a client told to trust one self-signed server)."""
TRUST_ANCHORS: Final[tuple[TrustAnchor, ...]] = ("test_ca", "other_ca", "server_certificate")

OTHER_CA_NAME: Final = "smtp-hil other CA"
WRONG_NAMES: Final = ("other.example.org",)
_DATES: Final[dict[CertificateKind, tuple[int, int]]] = {
    "expired": (-400, -30),
    "not_yet_valid": (30, 400),
}
_KEYS: Final[dict[CertificateKind, KeyType]] = {"weak_key": "rsa1024"}
_SIGNATURES: Final[dict[CertificateKind, SignatureHash]] = {"weak_signature": "sha1"}


@dataclass(frozen=True)
class CertificateSpec:
    """What the server presents: a kind, and overrides of that kind's defaults.

    ``names``: the subjectAltNames (None: the caller's server names; ``wrong_name``'s
    default is :data:`WRONG_NAMES`). ``valid_from_days``/``valid_until_days``: the
    validity relative to the reference time, in days (both or neither). ``key`` and
    ``signature``: see :data:`~stack.tls.certs.KeyType`, :data:`~stack.tls.certs.SignatureHash`.
    Validated on construction (ValueError naming the field).
    """

    kind: CertificateKind = "valid"
    names: tuple[str, ...] | None = None
    valid_from_days: int | None = None
    valid_until_days: int | None = None
    key: KeyType | None = None
    signature: SignatureHash | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, CERTIFICATE_KINDS)
        if self.names is not None and (
                not isinstance(self.names, tuple) or not self.names
                or not all(isinstance(n, str) and n and not any(c.isspace() for c in n)
                           for n in self.names)):
            raise ValueError(f"names: expected a non-empty list of host names, got {self.names!r}")
        days = (self.valid_from_days, self.valid_until_days)
        for field_name, value in zip(("valid_from_days", "valid_until_days"), days,
                                     strict=True):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or abs(value) > 36500):
                raise ValueError(f"{field_name}: expected a number of days (within 100 "
                                 f"years), got {value!r}")
        if (days[0] is None) != (days[1] is None):
            raise ValueError("valid_from_days: give valid_from_days and valid_until_days "
                             "together")
        if days[0] is not None and days[1] is not None and days[0] >= days[1]:
            raise ValueError(f"valid_until_days: expected more than valid_from_days "
                             f"({days[0]}), got {days[1]}")
        if self.key is not None:
            check_choice("key", self.key, KEY_TYPES)
        if self.signature is not None:
            check_choice("signature", self.signature, SIGNATURE_HASHES)

    @property
    def key_type(self) -> KeyType:
        return self.key or _KEYS.get(self.kind, "rsa")

    @property
    def signature_hash(self) -> SignatureHash:
        return self.signature or _SIGNATURES.get(self.kind, "sha256")

    def days(self) -> tuple[int, int] | None:
        """The validity relative to the reference time, None for the fixed 2024-2034."""
        if self.valid_from_days is not None and self.valid_until_days is not None:
            return self.valid_from_days, self.valid_until_days
        return _DATES.get(self.kind)


@dataclass(frozen=True)
class ServerCertificate:
    """A certificate made for a :class:`CertificateSpec`, with what loading it needs."""

    leaf: LeafCert
    security_level: int | None
    """The OpenSSL security level the server needs to load the certificate (None: the
    default will do; 1 for an RSA-1024 key; 0 for a SHA-1 or MD5 signature)."""


def other_ca() -> CertAuthority:
    """The CA that issues ``unknown_ca`` certificates (made once per process)."""
    return make_ca(common_name=OTHER_CA_NAME)


def server_certificate(spec: CertificateSpec, *, ca: CertAuthority, names: Sequence[str],
                       reference: datetime) -> ServerCertificate:
    """The certificate ``spec`` asks for; ``ca`` is the CA the client trusts, ``names``
    the server's own names, ``reference`` the time relative dates count from."""
    chosen = spec.names or (WRONG_NAMES if spec.kind == "wrong_name" else tuple(names))
    start, end = _validity(spec, reference)
    key, signature = spec.key_type, spec.signature_hash
    if spec.kind == "self_signed":
        if signature != "sha256":
            raise ValueError("signature: a self_signed certificate is signed with sha256")
        leaf = make_self_signed(chosen, key_type=key, not_before=start, not_after=end)
    else:
        issuer = other_ca() if spec.kind == "unknown_ca" else ca
        leaf = issuer.issue(chosen, key_type=key, not_before=start, not_after=end,
                            signature=signature)
    level = 0 if signature != "sha256" else 1 if key == "rsa1024" else None
    return ServerCertificate(leaf=leaf, security_level=level)


def trust_anchors(trusts: Sequence[TrustAnchor], *, ca: CertAuthority,
                  presented: LeafCert) -> bytes:
    """The client's trust anchors in PEM, in the order given (at least one)."""
    if not trusts:
        raise ValueError("trusts: expected at least one trust anchor (to check nothing, "
                         "turn verification off instead)")
    pem = b""
    for anchor in trusts:
        check_choice("trusts", anchor, TRUST_ANCHORS)
        if anchor == "test_ca":
            pem += ca.cert_pem
        elif anchor == "other_ca":
            pem += other_ca().cert_pem
        else:
            pem += presented.cert_pem
    return pem


def _validity(spec: CertificateSpec, reference: datetime) -> tuple[datetime, datetime]:
    days = spec.days()
    if days is None:
        return DEFAULT_NOT_BEFORE, DEFAULT_NOT_AFTER
    if not isinstance(reference, datetime):
        raise ValueError(f"reference: expected a datetime, got {reference!r}")
    moment = reference.replace(tzinfo=UTC) if reference.tzinfo is None \
        else reference.astimezone(UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=days[0]), midnight + timedelta(days=days[1])
