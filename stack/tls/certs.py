"""Throwaway test PKI: one CA and leaf certificates, generated with ``cryptography``.

What this module knows: X.509 building, and the details that keep TLS record LENGTHS
identical from run to run: fixed names, fixed validity dates (UTCTime, fixed length),
fixed-width serial numbers derived from the parameters, and every certificate signed by
an RSA-2048 CA (an RSA signature is always 256 bytes; an ECDSA one is not). RSA moduli
and P-256 points have fixed DER lengths too, so two PKIs made from the same parameters
give certificates of the same length.

It also makes the certificates a client must refuse, for tests of that client: leaves
with a weak key (``key_type="rsa1024"``), leaves signed with a broken hash
(``signature="sha1"`` or ``"md5"``: ``cryptography`` refuses to sign with them, so the
leaf is built with SHA-256 and re-signed, see :func:`_resign`), and self-signed leaves
(:func:`make_self_signed`). Nothing here judges a certificate: that is
:mod:`stack.tls.verify`'s business.

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
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stack.tls.keycache import cached_ec_key, cached_rsa_key

KeyType: TypeAlias = Literal["rsa", "ecdsa", "rsa1024"]
"""``rsa``: RSA-2048; ``ecdsa``: P-256; ``rsa1024``: a WEAK RSA-1024 key (for tests of
clients that must refuse it; OpenSSL loads it only at security level 0)."""
KEY_TYPES: tuple[KeyType, ...] = ("rsa", "ecdsa", "rsa1024")
SignatureHash: TypeAlias = Literal["sha256", "sha1", "md5"]
"""The hash the issuer signs a leaf with; ``sha1`` and ``md5`` are broken (for tests)."""
SIGNATURE_HASHES: tuple[SignatureHash, ...] = ("sha256", "sha1", "md5")
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)
DEFAULT_CA_NAME = "smtp-hil test CA"
DEFAULT_SERVER_NAMES = ("smtp.example.test", "localhost", "127.0.0.1")
RSA_BITS = 2048
WEAK_RSA_BITS = 1024
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
    signature: SignatureHash = "sha256"


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
        signature: SignatureHash = "sha256",
    ) -> LeafCert:
        """A leaf for ``dns_names`` (IP literals become IP SANs); cached per parameters.

        The first name is the subject CN. The leaf is signed with this CA's RSA key and
        ``signature`` (SHA-256 unless a test wants a broken hash), with a serial derived
        from the parameters (fixed width).
        """
        names = _check_names(dns_names)
        check_choice("key_type", key_type, KEY_TYPES)
        check_choice("signature", signature, SIGNATURE_HASHES)
        start, end = _check_validity(not_before, not_after)
        cache_key: tuple[object, ...] = (names, key_type, start, end, signature)
        leaf = self._issued.get(cache_key)
        if leaf is None:
            key = _new_key(key_type, f"leaf {names} {key_type} {start} {end}"
                           if self.key_cache else None)
            ca_ski = self.certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier).value
            builder = _leaf_builder(names, key, key_type, start, end,
                                    serial=_serial_for(names, key_type, start, end, signature),
                                    issuer=self.certificate.subject, issuer_ski=ca_ski)
            certificate = _sign(builder, self.private_key, signature)
            leaf = LeafCert(certificate=certificate, private_key=key, names=names,
                            key_type=key_type, signature=signature)
            self._issued[cache_key] = leaf
        return leaf


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


_self_signed: dict[tuple[object, ...], LeafCert] = {}


def make_self_signed(
    dns_names: list[str] | tuple[str, ...],
    *,
    key_type: KeyType = "rsa",
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
) -> LeafCert:
    """A server certificate that signs itself (issuer = subject, not a CA), signed with
    SHA-256; cached per parameters. No client should trust it unless told to."""
    names = _check_names(dns_names)
    check_choice("key_type", key_type, KEY_TYPES)
    start, end = _check_validity(not_before, not_after)
    cache_key: tuple[object, ...] = (names, key_type, start, end)
    leaf = _self_signed.get(cache_key)
    if leaf is None:
        key = _new_key(key_type, None)
        subject = _leaf_subject(names)
        builder = _leaf_builder(
            names, key, key_type, start, end,
            serial=_serial_for(names, f"self-signed {key_type}", start, end, "sha256"),
            issuer=subject, issuer_ski=x509.SubjectKeyIdentifier.from_public_key(
                key.public_key()))
        certificate = builder.sign(key, hashes.SHA256())
        leaf = LeafCert(certificate=certificate, private_key=key, names=names,
                        key_type=key_type)
        _self_signed[cache_key] = leaf
    return leaf


# ---- helpers -----------------------------------------------------------------------


def _new_rsa_key(cache_as: str | None, bits: int = RSA_BITS) -> rsa.RSAPrivateKey:
    def make() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if cache_as is None:
        return make()
    return cached_rsa_key(f"rsa-{bits} {cache_as}", make)


def _new_key(key_type: KeyType, cache_as: str | None) -> PrivateKey:
    """A new key, or with ``cache_as`` (what it is for) the per-user cached one."""
    if key_type == "rsa":
        return _new_rsa_key(cache_as)
    if key_type == "rsa1024":
        return _new_rsa_key(cache_as, WEAK_RSA_BITS)

    def make() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())
    if cache_as is None:
        return make()
    return cached_ec_key(f"ec-p256 {cache_as}", make)


def check_choice(field_name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{field_name}: expected one of {expected}, got {value!r}")


def _leaf_subject(names: tuple[str, ...]) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
        ]
    )


def _leaf_builder(
    names: tuple[str, ...], key: PrivateKey, key_type: KeyType, start: datetime,
    end: datetime, *, serial: int, issuer: x509.Name, issuer_ski: x509.SubjectKeyIdentifier,
) -> x509.CertificateBuilder:
    """A server certificate for ``names`` (TLS server auth), not signed yet."""
    return (
        x509.CertificateBuilder()
        .subject_name(_leaf_subject(names))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_type != "ecdsa",
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
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
    )


# DER of the signature algorithm OIDs (all nine bytes long: swapping keeps every length).
_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_BROKEN_WITH_RSA: dict[SignatureHash, tuple[bytes, hashes.HashAlgorithm]] = {
    "sha1": (bytes.fromhex("06092a864886f70d010105"), hashes.SHA1()),
    "md5": (bytes.fromhex("06092a864886f70d010104"), hashes.MD5()),
}


def _sign(builder: x509.CertificateBuilder, ca_key: PrivateKey,
          signature: SignatureHash) -> x509.Certificate:
    certificate = builder.sign(ca_key, hashes.SHA256())
    if signature == "sha256":
        return certificate
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise ValueError(f"signature: {signature!r} needs an RSA issuer")
    return _resign(certificate, ca_key, signature)


def _resign(certificate: x509.Certificate, ca_key: rsa.RSAPrivateKey,
            signature: SignatureHash) -> x509.Certificate:
    """``certificate`` (signed with SHA-256 by ``ca_key``) signed again with a broken hash.

    ``cryptography`` will not sign with SHA-1 or MD5, but it will sign bytes: the
    algorithm identifier (in the TBS part and outside it) is replaced by the broken one
    of the same length, the TBS part is signed with PKCS#1 v1.5 and that hash, and the
    new 256-byte signature takes the old one's place. Every length stays the same.
    """
    oid, algorithm = _BROKEN_WITH_RSA[signature]
    der = certificate.public_bytes(serialization.Encoding.DER)
    if der.count(_SHA256_WITH_RSA) != 2:
        raise ValueError("certificate: expected a sha256WithRSAEncryption signature")
    swapped = x509.load_der_x509_certificate(der.replace(_SHA256_WITH_RSA, oid))
    new_signature = ca_key.sign(swapped.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    old_signature = certificate.signature
    if len(new_signature) != len(old_signature) or der.count(old_signature) != 1:
        raise ValueError("certificate: the signature cannot be replaced in place")
    resigned = der.replace(_SHA256_WITH_RSA, oid).replace(old_signature, new_signature)
    return x509.load_der_x509_certificate(resigned)


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


def _serial_for(names: tuple[str, ...], key_type: str, start: datetime, end: datetime,
                signature: SignatureHash) -> int:
    """A 64-bit serial (top nibble 0x1, so its DER length is fixed) from the parameters."""
    parts = [*names, key_type, start.isoformat(), end.isoformat()]
    if signature != "sha256":  # (SHA-256 leaves keep the serials they always had)
        parts.append(signature)
    text = "|".join(parts)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return 0x1000_0000_0000_0000 | (digest & 0x0FFF_FFFF_FFFF_FFFF)
