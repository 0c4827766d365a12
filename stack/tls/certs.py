"""Throwaway test PKI: one CA and leaf certificates, generated with ``cryptography``.

What this module knows: X.509 building, and the details that keep TLS record LENGTHS
identical from run to run: fixed names, fixed validity dates (UTCTime, fixed length),
fixed-width serial numbers derived from the parameters, and every certificate signed by
an RSA-2048 CA (an RSA signature is always 256 bytes; an ECDSA one is not). RSA moduli
and P-256 points have fixed DER lengths too, so two PKIs made from the same parameters
give certificates of the same length.

Key generation itself uses OS randomness. That is outside the simulation's observable:
keys only change ciphertext CONTENT, which the trace leaves out (it hashes ciphertext by
length). Note that an ECDSA leaf makes the server's handshake signature vary in length
(DER-encoded ECDSA signatures are 70-72 bytes); use RSA leaves when lengths matter.

Generating RSA keys is slow, so :func:`make_ca`, :meth:`CertAuthority.issue` and
:func:`default_test_pki` cache per process on their parameters; :func:`generate_ca`
makes fresh keys, and :func:`default_test_pki` takes its keys from the per-user cache of
throwaway test keys (:mod:`stack.tls.keycache`) across processes. :func:`is_test_key`
tells the key PEMs this module handed out (so loading them can skip OpenSSL's slow RSA
consistency check). This module knows nothing about sockets, TLS or the simulation.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stack.tls.keycache import cached_ec_key, cached_rsa_key

KeyType: TypeAlias = Literal["rsa", "ecdsa"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)
DEFAULT_CA_NAME = "smtp-hil test CA"
DEFAULT_SERVER_NAMES = ("smtp.example.test", "localhost", "127.0.0.1")
RSA_BITS = 2048
CA_SERIAL = 0x1000_0000_0000_0001
_ORGANIZATION = "smtp-hil"


@dataclass(frozen=True)
class CertFiles:
    """Where a certificate and its key were written (for ``ssl.load_cert_chain``)."""

    cert: Path
    key: Path


@dataclass(eq=False)
class _PemPair:
    """A certificate and its private key, as objects and as PEM bytes."""

    certificate: x509.Certificate
    private_key: PrivateKey
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _files: CertFiles | None = field(default=None, repr=False)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @functools.cached_property
    def key_pem(self) -> bytes:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _TEST_KEY_PEMS.add(pem)
        return pem

    def write(self, directory: str | Path, *, stem: str = "cert") -> CertFiles:
        """Write ``<stem>.pem`` and ``<stem>.key`` into ``directory`` (which must exist)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ValueError(f"directory: expected an existing directory, got {str(directory)!r}")
        files = CertFiles(cert=directory / f"{stem}.pem", key=directory / f"{stem}.key")
        files.cert.write_bytes(self.cert_pem)
        files.key.write_bytes(self.key_pem)
        files.key.chmod(0o600)
        return files

    def files(self) -> CertFiles:
        """The PEM files in a temporary directory owned by this object (written once)."""
        if self._files is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="smtp-hil-pki-")
            self._files = self.write(self._tempdir.name)
        return self._files


@dataclass(eq=False)
class LeafCert(_PemPair):
    """A server certificate issued by a :class:`CertAuthority`."""

    names: tuple[str, ...] = ()
    key_type: KeyType = "rsa"


@dataclass(eq=False)
class CertAuthority(_PemPair):
    """A self-signed RSA CA that issues leaf certificates."""

    common_name: str = DEFAULT_CA_NAME
    key_cache: bool = False
    """Leaf keys come from (and go to) the per-user cache of :mod:`stack.tls.keycache`."""
    _issued: dict[tuple[object, ...], LeafCert] = field(default_factory=dict, repr=False)

    def issue(
        self,
        dns_names: list[str] | tuple[str, ...],
        *,
        key_type: KeyType = "rsa",
        not_before: datetime = DEFAULT_NOT_BEFORE,
        not_after: datetime = DEFAULT_NOT_AFTER,
    ) -> LeafCert:
        """A leaf for ``dns_names`` (IP literals become IP SANs); cached per parameters.

        The first name is the subject CN. The leaf is always signed with this CA's RSA key
        and SHA-256, with a serial derived from the parameters (fixed width).
        """
        names = _check_names(dns_names)
        if key_type not in ("rsa", "ecdsa"):
            raise ValueError(f"key_type: expected 'rsa' or 'ecdsa', got {key_type!r}")
        start, end = _check_validity(not_before, not_after)
        cache_key: tuple[object, ...] = (names, key_type, start, end)
        leaf = self._issued.get(cache_key)
        if leaf is None:
            leaf = self._issue_fresh(names, key_type, start, end)
            self._issued[cache_key] = leaf
        return leaf

    def _issue_fresh(
        self, names: tuple[str, ...], key_type: KeyType, start: datetime, end: datetime
    ) -> LeafCert:
        key = _new_key(key_type, f"leaf {names} {key_type} {start} {end}"
                       if self.key_cache else None)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            ]
        )
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(_serial_for(names, key_type, start, end))
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=key_type == "rsa",
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
        )
        certificate = builder.sign(self.private_key, hashes.SHA256())
        return LeafCert(certificate=certificate, private_key=key, names=names, key_type=key_type)


@dataclass(frozen=True)
class Pki:
    """A CA and one leaf issued by it."""

    ca: CertAuthority
    leaf: LeafCert


def generate_ca(
    *,
    common_name: str = DEFAULT_CA_NAME,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    key_cache: bool = False,
) -> CertAuthority:
    """A fresh CA with a new RSA-2048 key (use :func:`make_ca` normally). With
    ``key_cache`` its key and its leaves' keys come from the per-user cache of throwaway
    test keys (:mod:`stack.tls.keycache`) when an earlier process made them."""
    if not isinstance(common_name, str) or not common_name.strip():
        raise ValueError(f"common_name: expected a non-empty string, got {common_name!r}")
    start, end = _check_validity(not_before, not_after)
    key = _new_rsa_key(f"ca {common_name} {start} {end}" if key_cache else None)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(CA_SERIAL)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return CertAuthority(certificate=certificate, private_key=key, common_name=common_name,
                         key_cache=key_cache)


@functools.lru_cache(maxsize=32)
def make_ca(
    *,
    common_name: str = DEFAULT_CA_NAME,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
) -> CertAuthority:
    """The CA for these parameters, generated once per process."""
    return generate_ca(common_name=common_name, not_before=not_before, not_after=not_after)


@functools.lru_cache(maxsize=1)
def default_test_pki() -> Pki:
    """The shared test CA and an RSA leaf for smtp.example.test, localhost and 127.0.0.1.

    Made once per process; its keys (and those of the leaves it issues later) are the
    per-user cached throwaway test keys of :mod:`stack.tls.keycache` when an earlier
    process made them. These certificates are for the simulation's servers."""
    ca = generate_ca(key_cache=True)
    return Pki(ca=ca, leaf=ca.issue(list(DEFAULT_SERVER_NAMES)))


_TEST_KEY_PEMS: set[bytes] = set()


def is_test_key(key_pem: bytes) -> bool:
    """True for the PEM of a key this module generated (or loaded from its own cache) in
    this process: a key whose RSA consistency there is no need to check again."""
    return key_pem in _TEST_KEY_PEMS


# ---- helpers -----------------------------------------------------------------------


def _new_rsa_key(cache_as: str | None) -> rsa.RSAPrivateKey:
    def make() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if cache_as is None:
        return make()
    return cached_rsa_key(f"rsa-{RSA_BITS} {cache_as}", make)


def _new_key(key_type: KeyType, cache_as: str | None) -> PrivateKey:
    """A new key, or with ``cache_as`` (what it is for) the per-user cached one."""
    if key_type == "rsa":
        return _new_rsa_key(cache_as)

    def make() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())
    if cache_as is None:
        return make()
    return cached_ec_key(f"ec-p256 {cache_as}", make)


def _check_names(dns_names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(dns_names, str) or not isinstance(dns_names, list | tuple) or not dns_names:
        raise ValueError(f"dns_names: expected a non-empty list of names, got {dns_names!r}")
    for name in dns_names:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"dns_names: expected host names or IP literals, got {name!r}")
    return tuple(dns_names)


def _as_utc(value: datetime, field_name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{field_name}: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _check_validity(not_before: datetime, not_after: datetime) -> tuple[datetime, datetime]:
    start = _as_utc(not_before, "not_before").replace(microsecond=0)
    end = _as_utc(not_after, "not_after").replace(microsecond=0)
    if end <= start:
        raise ValueError(f"not_after: expected a time after not_before ({start}), got {end}")
    return start, end


def _ip_or_none(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _san_entries(names: tuple[str, ...]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        ip = _ip_or_none(name)
        entries.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(name))
    return entries


def _serial_for(names: tuple[str, ...], key_type: str, start: datetime, end: datetime) -> int:
    """A 64-bit serial (top nibble 0x1, so its DER length is fixed) from the parameters."""
    text = "|".join([*names, key_type, start.isoformat(), end.isoformat()])
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return 0x1000_0000_0000_0000 | (digest & 0x0FFF_FFFF_FFFF_FFFF)
