"""Server certificate checks against the device's clock, with the shared test PKI.

The leaf of :func:`stack.tls.certs.default_test_pki` is valid from 2024-01-01 to 2034-01-01
for smtp.example.test, localhost and 127.0.0.1; its CA is the trust anchor. Other CAs
come from :func:`stack.tls.certs.make_ca` (cached per parameters, so each key is made once).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stack.tls.certs import Pki, SignatureHash, default_test_pki, make_ca
from stack.tls.verify import (
    CertificateError,
    check_arguments,
    format_time,
    verify_server_certificate,
)

IN_2025 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CA_SUBJECT = "CN=smtp-hil test CA,O=smtp-hil"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return default_test_pki()


def _verify(pki: Pki, *, at: datetime = IN_2025, server_name: str = "smtp.example.test",
            anchors: bytes | None = None, chain: list[bytes] | None = None) -> None:
    verify_server_certificate(
        [pki.leaf.cert_der] if chain is None else chain,
        trust_anchors_pem=pki.ca.cert_pem if anchors is None else anchors,
        server_name=server_name, at=at)


def _reason(pki: Pki, *, at: datetime = IN_2025, server_name: str = "smtp.example.test",
            anchors: bytes | None = None, chain: list[bytes] | None = None) -> str:
    with pytest.raises(CertificateError) as info:
        _verify(pki, at=at, server_name=server_name, anchors=anchors, chain=chain)
    assert str(info.value) == info.value.reason
    return info.value.reason


def test_the_test_leaf_is_accepted_in_2025_for_each_of_its_names(pki: Pki) -> None:
    for name in ("smtp.example.test", "localhost", "127.0.0.1"):
        _verify(pki, server_name=name)


def test_a_naive_time_is_taken_as_utc(pki: Pki) -> None:
    _verify(pki, at=datetime(2025, 6, 1, 12, 0, 0))
    assert format_time(datetime(2025, 6, 1, 12, 0, 0)) == "2025-06-01 12:00:00 UTC"
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 1, 1, 1, 30, tzinfo=plus_two)) == "2023-12-31 23:30:00 UTC"


def test_a_device_clock_at_1970_finds_the_certificate_not_yet_valid(pki: Pki) -> None:
    reason = _reason(pki, at=datetime(1970, 1, 1, tzinfo=UTC))
    assert reason == ("certificate not yet valid: valid from 2024-01-01 00:00:00 UTC, "
                      "device clock reads 1970-01-01 00:00:00 UTC")


def test_a_device_clock_at_2040_finds_the_certificate_expired(pki: Pki) -> None:
    reason = _reason(pki, at=datetime(2040, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert reason == ("certificate expired: valid until 2034-01-01 00:00:00 UTC, "
                      "device clock reads 2040-03-04 05:06:07 UTC")


def test_the_validity_bounds_themselves_are_inside(pki: Pki) -> None:
    _verify(pki, at=datetime(2024, 1, 1, tzinfo=UTC))
    _verify(pki, at=datetime(2034, 1, 1, tzinfo=UTC))
    assert _reason(pki, at=datetime(2034, 1, 1, 0, 0, 1, tzinfo=UTC)).startswith(
        "certificate expired: valid until 2034-01-01 00:00:00 UTC")


def test_another_name_is_a_name_mismatch_listing_the_certificates_names(pki: Pki) -> None:
    reason = _reason(pki, server_name="smtp-mail.outlook.example")
    assert reason == ("name mismatch: certificate is for smtp.example.test, localhost, "
                      "127.0.0.1; expected smtp-mail.outlook.example")
    assert _reason(pki, server_name="192.0.2.99") == (
        "name mismatch: certificate is for smtp.example.test, localhost, 127.0.0.1; "
        "expected 192.0.2.99")


def test_a_certificate_from_another_ca_has_an_unknown_issuer(pki: Pki) -> None:
    other = make_ca(common_name="some other CA")
    assert _reason(pki, anchors=other.cert_pem) == (
        f"unknown issuer: '{CA_SUBJECT}' is not among the trust anchors")


def _self_signed_leaf(name: str) -> bytes:
    """A self-signed server certificate for ``name`` (an EC key: quick to make)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_self_signed_certificate_is_not_a_trust_anchor(pki: Pki) -> None:
    reason = _reason(pki, chain=[_self_signed_leaf("smtp.example.test")])
    assert reason == ("unknown issuer: self-signed certificate 'CN=smtp.example.test' "
                      "is not a trust anchor")


# ---- strength: weak keys and broken signature hashes (hostile-servers.md row 11) ----------


def _leaf_with_key(pki: Pki, key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """A leaf for smtp.example.test with ``key``, signed by the test CA with SHA-256."""
    ca = pki.ca.certificate
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.example.test")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("smtp.example.test")]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(pki.ca.private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_1024_bit_rsa_key_is_a_weak_key(pki: Pki) -> None:
    """The WebPKI verifier accepts it (it checks signature algorithms, not key sizes):
    before the strength check the device delivered over a 1024-bit server key."""
    weak = pki.ca.issue(["smtp.example.test"], key_type="rsa1024")
    assert _reason(pki, chain=[weak.cert_der]) == (
        "weak key: the server's certificate has an RSA key of 1024 bits (at least 2048)")


@pytest.mark.parametrize("curve", [ec.SECP192R1(), ec.SECP256K1()], ids=lambda c: c.name)
def test_an_ec_key_off_the_allowed_curves_is_a_weak_key(pki: Pki,
                                                         curve: ec.EllipticCurve) -> None:
    leaf = _leaf_with_key(pki, ec.generate_private_key(curve))
    assert _reason(pki, chain=[leaf]) == (
        f"weak key: the server's certificate has an EC key on curve {curve.name} "
        "(allowed: P-256, P-384, P-521)")


def test_a_dsa_key_is_a_weak_key(pki: Pki) -> None:
    leaf = _leaf_with_key(pki, dsa.generate_private_key(key_size=2048))
    assert _reason(pki, chain=[leaf]) == (
        "weak key: the server's certificate has a DSA key (DSA is not allowed)")


@pytest.mark.parametrize("key", [ec.generate_private_key(ec.SECP384R1()),
                                 ed25519.Ed25519PrivateKey.generate()],
                         ids=["P-384", "Ed25519"])
def test_strong_keys_of_other_kinds_pass(pki: Pki,
                                         key: CertificateIssuerPrivateKeyTypes) -> None:
    _verify(pki, chain=[_leaf_with_key(pki, key)])


@pytest.mark.parametrize(("signature", "named"), [("sha1", "SHA-1"), ("md5", "MD5")])
def test_a_broken_signature_hash_is_a_weak_signature_not_an_unknown_issuer(
        pki: Pki, signature: SignatureHash, named: str) -> None:
    """The verifier refuses these too, but its "candidates exhausted" once read as an
    unknown issuer, naming the very CA the device trusts."""
    leaf = pki.ca.issue(["smtp.example.test"], signature=signature)
    assert _reason(pki, chain=[leaf.cert_der]) == (
        f"weak signature: the server's certificate is signed with {named}, a broken hash "
        "(at least SHA-256)")


def test_a_pinned_certificate_is_not_judged_by_its_own_signature(pki: Pki) -> None:
    """Trusted as itself (its PEM is a trust anchor), a certificate's signature vouches
    for nothing; its key still must be strong."""
    sha1 = pki.ca.issue(["smtp.example.test"], signature="sha1")
    _verify(pki, chain=[sha1.cert_der], anchors=sha1.cert_pem)
    weak = pki.ca.issue(["smtp.example.test"], key_type="rsa1024")
    assert _reason(pki, chain=[weak.cert_der], anchors=weak.cert_pem).startswith("weak key:")


def test_a_weak_intermediate_is_named(pki: Pki) -> None:
    weak = pki.ca.issue(["intermediate.example.test"], key_type="rsa1024")
    reason = _reason(pki, chain=[pki.leaf.cert_der, weak.cert_der])
    assert reason == ("weak key: intermediate 'CN=intermediate.example.test,O=smtp-hil' has "
                      "an RSA key of 1024 bits (at least 2048)")


def test_an_expired_issuer_is_named_with_its_dates() -> None:
    ca = make_ca(common_name="short-lived CA", not_after=datetime(2026, 1, 1, tzinfo=UTC))
    leaf = ca.issue(["smtp.example.test"], not_after=datetime(2034, 1, 1, tzinfo=UTC))
    with pytest.raises(CertificateError) as info:
        verify_server_certificate([leaf.cert_der], trust_anchors_pem=ca.cert_pem,
                                  server_name="smtp.example.test",
                                  at=datetime(2030, 1, 1, tzinfo=UTC))
    assert info.value.reason == (
        "issuer certificate 'CN=short-lived CA,O=smtp-hil' expired: valid until "
        "2026-01-01 00:00:00 UTC, device clock reads 2030-01-01 00:00:00 UTC")


def test_no_certificate_or_a_malformed_one_is_rejected(pki: Pki) -> None:
    assert _reason(pki, chain=[]) == "server sent no certificate"
    assert _reason(pki, chain=[b"\x30\x03\x02\x01\x00"]).startswith(
        "malformed server certificate: ")


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_whatever_the_servers_certificate_bytes_the_verdict_is_a_certificate_error(
        pki: Pki) -> None:
    # The server chooses these bytes. Found by mutating the test leaf: an issuer or
    # subject that does not parse, an X.509 version of 76, an odd general name raised
    # ValueError, InvalidVersion or TypeError out of the check, through the TLS layer
    # and into the client task (cryptography parses those parts lazily).
    rng = random.Random(1)
    escaped: dict[str, int] = {}
    for index in range(1500):
        der = bytearray(pki.leaf.cert_der)
        for _ in range(rng.randint(1, 4)):
            der[rng.randrange(len(der))] = rng.randrange(256)
        try:
            _verify(pki, chain=[bytes(der)])
        except CertificateError:
            continue
        except Exception as exc:
            escaped.setdefault(type(exc).__name__, index)
    assert escaped == {}


# ---- bad arguments ---------------------------------------------------------------------


def test_check_arguments_accepts_good_ones(pki: Pki) -> None:
    check_arguments(trust_anchors_pem=pki.ca.cert_pem, server_name="smtp.example.test")
    check_arguments(trust_anchors_pem=pki.ca.cert_pem, server_name="127.0.0.1")


@pytest.mark.parametrize(("anchors", "message"), [
    ("-----BEGIN CERTIFICATE-----", "trust_anchors_pem: expected PEM bytes, got str"),
    (b"not a certificate", "trust_anchors_pem: expected one or more PEM certificates "
                           "('-----BEGIN CERTIFICATE-----')"),
])
def test_check_arguments_refuses_bad_trust_anchors(anchors: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_arguments(trust_anchors_pem=anchors, server_name="smtp.example.test")  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["", None, 25])
def test_check_arguments_refuses_a_missing_server_name(pki: Pki, name: object) -> None:
    with pytest.raises(ValueError) as info:
        check_arguments(trust_anchors_pem=pki.ca.cert_pem, server_name=name)  # type: ignore[arg-type]
    assert str(info.value) == f"server_name: expected a host name or IP literal, got {name!r}"


def test_verify_refuses_bad_arguments_before_looking_at_the_chain(pki: Pki) -> None:
    with pytest.raises(ValueError, match=r"^server_name: "):
        verify_server_certificate([], trust_anchors_pem=pki.ca.cert_pem, server_name="",
                                  at=IN_2025)
    with pytest.raises(ValueError, match=r"^at: expected a datetime, got '2025-06-01'"):
        verify_server_certificate([pki.leaf.cert_der], trust_anchors_pem=pki.ca.cert_pem,
                                  server_name="smtp.example.test", at="2025-06-01")  # type: ignore[arg-type]
