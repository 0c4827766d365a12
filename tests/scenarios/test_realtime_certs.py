"""The scripted server on real sockets presents each kind of bad certificate
(scenarios/server/realtime.py ``throwaway_tls``), and a real client (Python's ``ssl``,
OpenSSL's own checks against the host clock) refuses each for what it is.

This is what a client program run through the DUT mechanism meets: dates relative to the
host clock, weak keys and signatures loaded at the security level they need.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime

import pytest
from cryptography import x509

from scenarios.server.asyncdriver import throwaway_tls
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.rules import ServerConfig
from stack.tls.badcerts import CertificateKind, CertificateSpec, TrustAnchor

OPENSSL_SAYS: dict[CertificateKind, str] = {
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
    "expired": "certificate has expired",
    "not_yet_valid": "certificate is not yet valid",
    "wrong_name": "Hostname mismatch",
    "weak_key": "EE certificate key too weak",
    "weak_signature": "CA signature digest algorithm too weak",
}


def _handshake(spec: CertificateSpec, trusts: tuple[TrustAnchor, ...] = ("test_ca",)) -> str:
    """Connect with Python's TLS client given the anchors for ``trusts``: "ok" or the
    verification error."""
    async def scenario() -> str:
        params, anchors = throwaway_tls(certificate=spec, trusts=trusts)
        server = AsyncServer(ServerConfig(implicit_tls=True), tls=params)
        _, port = await server.start("127.0.0.1", 0)
        context = ssl.create_default_context(cadata=anchors.decode("ascii"))

        def connect() -> str:
            with socket.create_connection(("127.0.0.1", port), timeout=5.0) as raw:
                try:
                    with context.wrap_socket(raw, server_hostname="localhost"):
                        return "ok"
                except ssl.SSLError as exc:
                    return str(exc)

        outcome = await asyncio.to_thread(connect)
        await server.wait_all_closed(5.0)
        await server.close()
        return outcome

    return asyncio.run(asyncio.wait_for(scenario(), 20.0))


@pytest.mark.parametrize("kind", list(OPENSSL_SAYS))
def test_each_bad_kind_is_served_and_a_real_client_refuses_it(kind: CertificateKind) -> None:
    assert OPENSSL_SAYS[kind] in _handshake(CertificateSpec(kind))


def test_a_valid_certificate_and_pinned_or_other_anchors_are_accepted() -> None:
    assert _handshake(CertificateSpec()) == "ok"
    assert _handshake(CertificateSpec("unknown_ca"), ("other_ca",)) == "ok"
    assert _handshake(CertificateSpec("self_signed"), ("server_certificate",)) == "ok"


def test_dates_count_from_the_given_clock() -> None:
    now = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    params, _ = throwaway_tls(certificate=CertificateSpec("not_yet_valid"), now=now)
    assert b"BEGIN CERTIFICATE" in params.cert_pem
    leaf = x509.load_pem_x509_certificate(params.cert_pem)
    assert leaf.not_valid_before_utc == datetime(2031, 4, 3, tzinfo=UTC)
    assert params.security_level is None
