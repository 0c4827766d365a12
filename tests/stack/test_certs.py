"""Tests for stack.tls.certs (the throwaway PKI) and stack.tls.verify (checks against the RTC)."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from stack.tls.certs import (
    CA_SERIAL,
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    DEFAULT_SERVER_NAMES,
    SignatureHash,
    default_test_pki,
    generate_ca,
    make_ca,
    make_self_signed,
)
from stack.tls.verify import CertificateError, format_time, verify_server_certificate

NOW = datetime(2025, 6, 1, tzinfo=UTC)


# ---- certs ---------------------------------------------------------------------------


def test_default_pki_is_cached_and_names_the_test_server() -> None:
    pki = default_test_pki()
    assert default_test_pki() is pki
    san = pki.leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["smtp.example.test", "localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1")
    ]
    assert pki.leaf.names == DEFAULT_SERVER_NAMES
    assert isinstance(pki.leaf.private_key, rsa.RSAPrivateKey)


def test_fixed_dates_serials_and_signature() -> None:
    pki = default_test_pki()
    for cert in (pki.ca.certificate, pki.leaf.certificate):
        assert cert.not_valid_before_utc == DEFAULT_NOT_BEFORE
        assert cert.not_valid_after_utc == DEFAULT_NOT_AFTER
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
        assert len(cert.signature) == 256
    assert pki.ca.certificate.serial_number == CA_SERIAL
    assert pki.leaf.certificate.serial_number >> 60 == 0x1  # 64-bit, fixed DER length


def test_two_fresh_pkis_have_certificates_of_equal_length() -> None:
    first, second = generate_ca(), generate_ca()
    assert first.cert_der != second.cert_der  # new keys ...
    assert len(first.cert_der) == len(second.cert_der)  # ... same length
    leaf_a = first.issue(["smtp.example.test"])
    leaf_b = second.issue(["smtp.example.test"])
    assert len(leaf_a.cert_der) == len(leaf_b.cert_der)
    assert leaf_a.certificate.serial_number == leaf_b.certificate.serial_number


def test_ecdsa_leaf_is_still_signed_by_the_rsa_ca() -> None:
    ca = default_test_pki().ca
    leaf = ca.issue(["smtp.example.test"], key_type="ecdsa")
    assert isinstance(leaf.private_key, ec.EllipticCurvePrivateKey)
    assert leaf.private_key.curve.name == "secp256r1"
    assert leaf.certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    eku = leaf.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku.value
    verify_server_certificate([leaf.cert_der], trust_anchors_pem=ca.cert_pem,
                              server_name="smtp.example.test", at=NOW)


def test_issue_is_cached_per_parameters() -> None:
    ca = make_ca()
    assert ca.issue(["a.example.test"]) is ca.issue(("a.example.test",))
    other = ca.issue(["a.example.test"], not_after=datetime(2030, 1, 1, tzinfo=UTC))
    assert other is not ca.issue(["a.example.test"])
    assert other.certificate.serial_number != ca.issue(["a.example.test"]).certificate.serial_number


def test_make_ca_is_cached_per_parameters() -> None:
    assert make_ca() is make_ca()
    assert make_ca(common_name="Another CA") is not make_ca()


def test_written_files_load_into_an_ssl_context(tmp_path: Path) -> None:
    leaf = default_test_pki().leaf
    files = leaf.write(tmp_path, stem="server")
    assert files.cert.read_bytes() == leaf.cert_pem
    assert files.key.read_bytes() == leaf.key_pem
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    owned = leaf.files()
    assert leaf.files() == owned
    context.load_cert_chain(owned.cert, owned.key)


# ---- certificates a client must refuse -------------------------------------------------


def test_a_weak_key_leaf_has_1024_bits_and_the_usual_signature() -> None:
    leaf = default_test_pki().ca.issue(["smtp.example.test"], key_type="rsa1024")
    assert isinstance(leaf.private_key, rsa.RSAPrivateKey)
    assert leaf.private_key.key_size == 1024
    assert leaf.certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert leaf.key_type == "rsa1024"


@pytest.mark.parametrize(("signature", "oid", "algorithm"), [
    ("sha1", SignatureAlgorithmOID.RSA_WITH_SHA1, hashes.SHA1()),
    ("md5", SignatureAlgorithmOID.RSA_WITH_MD5, hashes.MD5()),
])
def test_a_broken_hash_leaf_is_really_signed_with_it_and_keeps_every_length(
        signature: SignatureHash, oid: x509.ObjectIdentifier,
        algorithm: hashes.HashAlgorithm) -> None:
    ca = default_test_pki().ca
    leaf = ca.issue(list(DEFAULT_SERVER_NAMES), signature=signature)
    cert = leaf.certificate
    assert cert.signature_algorithm_oid == oid
    assert type(cert.signature_hash_algorithm) is type(algorithm)
    assert leaf.signature == signature
    # The CA's key really signed the TBS part with that hash (raises if not).
    ca_key = ca.certificate.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    assert len(leaf.cert_der) == len(default_test_pki().leaf.cert_der)
    assert cert.serial_number != default_test_pki().leaf.certificate.serial_number


def test_a_self_signed_leaf_signs_itself_and_is_cached() -> None:
    leaf = make_self_signed(["smtp.example.test", "127.0.0.1"])
    cert = leaf.certificate
    assert cert.issuer == cert.subject
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    assert make_self_signed(("smtp.example.test", "127.0.0.1")) is leaf
    assert make_self_signed(["smtp.example.test"], key_type="ecdsa") is not leaf


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_ca().issue([]), "dns_names"),
        (lambda: make_ca().issue("smtp.example.test"), "dns_names"),  # type: ignore[arg-type]
        (lambda: make_ca().issue(["bad name"]), "dns_names"),
        (lambda: make_ca().issue(["x.test"], key_type="dsa"), "key_type"),  # type: ignore[arg-type]
        (lambda: make_ca().issue(["x.test"], signature="sha512"), "signature"),  # type: ignore[arg-type]
        (lambda: make_self_signed([]), "dns_names"),
        (lambda: make_self_signed(["x.test"], key_type="dsa"), "key_type"),  # type: ignore[arg-type]
        (
            lambda: make_ca().issue(["x.test"], not_before=datetime(2030, 1, 1),
                                    not_after=datetime(2020, 1, 1)),
            "not_after",
        ),
        (lambda: make_ca(common_name=" "), "common_name"),
        (lambda: make_ca().write("/nonexistent/dir"), "directory"),
    ],
)
def test_bad_input_names_the_field(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# ---- verification against the device clock ------------------------------------------


def verify(der: bytes | None = None, *, anchors: bytes | None = None,
           name: str = "smtp.example.test", at: datetime = NOW) -> None:
    pki = default_test_pki()
    verify_server_certificate(
        [der if der is not None else pki.leaf.cert_der],
        trust_anchors_pem=anchors if anchors is not None else pki.ca.cert_pem,
        server_name=name,
        at=at,
    )


@pytest.mark.parametrize("name", ["smtp.example.test", "localhost", "127.0.0.1"])
def test_valid_chain_passes(name: str) -> None:
    verify(name=name)


def test_not_yet_valid_names_both_dates() -> None:
    with pytest.raises(CertificateError) as caught:
        verify(at=datetime(1970, 1, 1, tzinfo=UTC))
    assert caught.value.reason == (
        "certificate not yet valid: valid from 2024-01-01 00:00:00 UTC, "
        "device clock reads 1970-01-01 00:00:00 UTC"
    )


def test_expired() -> None:
    with pytest.raises(CertificateError, match=r"^certificate expired: valid until 2034-01-01"):
        verify(at=datetime(2034, 1, 1, 0, 0, 1, tzinfo=UTC))


def test_naive_time_is_utc() -> None:
    verify(at=datetime(2025, 1, 1))
    assert format_time(datetime(2025, 1, 1, 2, 3, 4)) == "2025-01-01 02:03:04 UTC"


@pytest.mark.parametrize("name", ["mail.other.test", "10.0.0.1"])
def test_name_mismatch_lists_the_names(name: str) -> None:
    with pytest.raises(CertificateError) as caught:
        verify(name=name)
    assert caught.value.reason == (
        f"name mismatch: certificate is for smtp.example.test, localhost, 127.0.0.1; "
        f"expected {name}"
    )


def test_unknown_issuer() -> None:
    stranger = make_ca(common_name="Stranger CA")
    with pytest.raises(CertificateError, match=r"^unknown issuer: 'CN=smtp-hil test CA"):
        verify(anchors=stranger.cert_pem)


def test_same_name_but_different_key_is_an_unknown_issuer() -> None:
    impostor = generate_ca()  # same subject name as the real CA, another key
    with pytest.raises(CertificateError, match=r"^unknown issuer"):
        verify(anchors=impostor.cert_pem)


def test_self_signed_server_certificate() -> None:
    lone = make_ca(common_name="smtp.example.test")
    with pytest.raises(CertificateError):
        verify(lone.cert_der)


def test_expired_issuer_is_named() -> None:
    old = make_ca(common_name="Old CA", not_before=datetime(2010, 1, 1, tzinfo=UTC),
                  not_after=datetime(2020, 1, 1, tzinfo=UTC))
    leaf = old.issue(["smtp.example.test"], not_before=datetime(2015, 1, 1, tzinfo=UTC),
                     not_after=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(CertificateError, match=r"^issuer certificate 'CN=Old CA.*expired"):
        verify(leaf.cert_der, anchors=old.cert_pem)


def test_malformed_and_missing_certificates() -> None:
    with pytest.raises(CertificateError, match="malformed server certificate"):
        verify(b"\x30\x03junk")
    with pytest.raises(CertificateError, match="no certificate"):
        verify_server_certificate([], trust_anchors_pem=default_test_pki().ca.cert_pem,
                                  server_name="smtp.example.test", at=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trust_anchors_pem": b"nope"}, "trust_anchors_pem"),
        ({"server_name": ""}, "server_name"),
        ({"server_name": "bad name!"}, "server_name"),
        ({"at": "2025-01-01"}, "at"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "trust_anchors_pem": default_test_pki().ca.cert_pem,
        "server_name": "smtp.example.test",
        "at": NOW,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        verify_server_certificate([default_test_pki().leaf.cert_der], **args)  # type: ignore[arg-type]
