"""Server certificates by kind (stack/tls/badcerts.py), presented over real TLS.

Each kind is made, loaded by a server context (at the security level the kind needs)
and presented to a client that checks it against its clock and trust anchors, as the
device does: every kind but ``valid`` fails the client's check with a reason naming what
is wrong, and the server had no trouble serving it.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from stack.api import SocketEvent
from stack.tls.badcerts import (
    CERTIFICATE_KINDS,
    OTHER_CA_NAME,
    CertificateKind,
    CertificateSpec,
    ServerCertificate,
    TrustAnchor,
    other_ca,
    server_certificate,
    trust_anchors,
)
from stack.tls.certs import DEFAULT_SERVER_NAMES, CertAuthority, default_test_pki
from stack.tls.config import TlsConfig, make_context
from tests.stack.test_tls import RTC_2025, session

CA = default_test_pki().ca
NAMES = DEFAULT_SERVER_NAMES


def _make(spec: CertificateSpec, reference: datetime = RTC_2025) -> ServerCertificate:
    return server_certificate(spec, ca=CA, names=NAMES, reference=reference)


def _presented(made: ServerCertificate, trusts: tuple[TrustAnchor, ...] = ("test_ca",),
               *, rtc: datetime = RTC_2025, **server: object) -> str | None:
    """Present ``made`` to a client trusting ``trusts``; its failure reason, or None if
    the handshake succeeded."""
    anchors = trust_anchors(trusts, ca=CA, presented=made.leaf)
    client = TlsConfig(ca_pem=anchors, server_name="smtp.example.test",
                       **server.pop("client", {}))  # type: ignore[arg-type]
    server_cfg = TlsConfig(cert_chain=(made.leaf.cert_pem, made.leaf.key_pem),
                           security_level=made.security_level, **server)  # type: ignore[arg-type]
    s = session(client, server_cfg, rtc=rtc)
    if s.client.saw(SocketEvent.CONNECTED):
        return None
    failure = s.client.tls.failure
    assert failure is not None and failure.kind == "certificate", failure
    return failure.reason


REASONS: dict[CertificateKind, str] = {
    "self_signed": "unknown issuer: self-signed certificate",
    "unknown_ca": f"unknown issuer: 'CN={OTHER_CA_NAME},O=smtp-hil' is not among",
    "expired": "certificate expired: valid until 2025-05-02 00:00:00 UTC, device clock "
               "reads 2025-06-01 12:00:00 UTC",
    "not_yet_valid": "certificate not yet valid: valid from 2025-07-01 00:00:00 UTC, "
                     "device clock reads 2025-06-01 12:00:00 UTC",
    "wrong_name": "name mismatch: certificate is for other.example.org; expected "
                  "smtp.example.test",
    "weak_key": "weak key: the server's certificate has an RSA key of 1024 bits",
    "weak_signature": "weak signature: the server's certificate is signed with SHA-1",
}


@pytest.mark.parametrize("kind", [k for k in CERTIFICATE_KINDS if k != "valid"])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_every_bad_kind_is_served_and_refused_for_what_it_is(kind: CertificateKind,
                                                             version: str) -> None:
    reason = _presented(_make(CertificateSpec(kind)), max_version=version)
    assert reason is not None and reason.startswith(REASONS[kind]), reason


def test_the_valid_kind_is_accepted() -> None:
    assert _presented(_make(CertificateSpec())) is None
    assert _make(CertificateSpec()).security_level is None


def test_dates_count_from_the_reference_so_the_same_spec_is_expired_at_any_clock() -> None:
    for rtc in (datetime(2035, 6, 3, 10, 0, tzinfo=UTC), datetime(1999, 1, 1, tzinfo=UTC)):
        made = _make(CertificateSpec("expired"), reference=rtc)
        reason = _presented(made, rtc=rtc)
        assert reason is not None and reason.startswith("certificate expired"), reason
        assert made.leaf.certificate.not_valid_after_utc < rtc


def test_the_same_day_gives_the_same_certificate() -> None:
    morning = _make(CertificateSpec("expired"), datetime(2025, 6, 1, 8, 0, tzinfo=UTC))
    evening = _make(CertificateSpec("expired"), datetime(2025, 6, 1, 22, 0, tzinfo=UTC))
    assert morning.leaf is evening.leaf


def test_weak_kinds_need_a_lower_security_level_to_be_served() -> None:
    weak_key = _make(CertificateSpec("weak_key"))
    weak_sig = _make(CertificateSpec("weak_signature"))
    assert (weak_key.security_level, weak_sig.security_level) == (1, 0)
    for made, error in ((weak_key, "EE_KEY_TOO_SMALL"), (weak_sig, "CA_MD_TOO_WEAK")):
        chain = (made.leaf.cert_pem, made.leaf.key_pem)
        with pytest.raises(ssl.SSLError, match=error):
            make_context(TlsConfig(cert_chain=chain), server_side=True)
        make_context(TlsConfig(cert_chain=chain, security_level=made.security_level),
                     server_side=True)


def test_a_security_level_keeps_the_configured_or_default_ciphers() -> None:
    leaf = default_test_pki().leaf
    chain = (leaf.cert_pem, leaf.key_pem)

    def names(**fields: object) -> list[str]:
        config = TlsConfig(cert_chain=chain, **fields)  # type: ignore[arg-type]
        return [c["name"] for c in make_context(config, server_side=True).get_ciphers()]

    assert names(security_level=0) == names()
    legacy = "ECDHE+AESGCM:AES128-SHA"
    assert names(ciphers=legacy, security_level=0) == names(ciphers=legacy)


@pytest.mark.parametrize("level", [-1, 6, True, "0"])
def test_a_bad_security_level_names_the_field(level: object) -> None:
    with pytest.raises(ValueError, match=r"tls\.security_level"):
        TlsConfig(security_level=level)  # type: ignore[arg-type]


def test_overrides_make_the_kind_a_preset() -> None:
    made = _make(CertificateSpec("valid", key="rsa1024", signature="md5",
                                 names=("mx.example.test",)))
    cert = made.leaf.certificate
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_MD5
    assert made.leaf.names == ("mx.example.test",)
    assert made.security_level == 0
    window = _make(CertificateSpec("valid", valid_from_days=-1, valid_until_days=1))
    assert window.leaf.certificate.not_valid_before_utc == datetime(2025, 5, 31, tzinfo=UTC)


def test_trusting_the_other_ca_or_the_presented_certificate_accepts_it() -> None:
    assert _presented(_make(CertificateSpec("unknown_ca")), ("other_ca",)) is None
    assert _presented(_make(CertificateSpec("self_signed")), ("server_certificate",)) is None
    assert _presented(_make(CertificateSpec("self_signed")), ("test_ca", "other_ca")) \
        is not None
    assert isinstance(other_ca(), CertAuthority) and other_ca() is other_ca()


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "revoked"}, "kind"),
    ({"names": ()}, "names"),
    ({"names": ("bad name",)}, "names"),
    ({"valid_from_days": -3}, "valid_from_days"),
    ({"valid_from_days": 3, "valid_until_days": 3}, "valid_until_days"),
    ({"valid_from_days": 1.5, "valid_until_days": 3}, "valid_from_days"),
    ({"key": "dsa"}, "key"),
    ({"signature": "sha512"}, "signature"),
])
def test_a_bad_spec_names_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CertificateSpec(**fields)  # type: ignore[arg-type]


def test_bad_trust_lists_and_impossible_combinations_name_the_field() -> None:
    made = _make(CertificateSpec())
    with pytest.raises(ValueError, match="trusts: expected at least one"):
        trust_anchors([], ca=CA, presented=made.leaf)
    with pytest.raises(ValueError, match="trusts: expected one of"):
        trust_anchors(["system"], ca=CA, presented=made.leaf)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="signature"):
        _make(CertificateSpec("self_signed", signature="sha1"))
