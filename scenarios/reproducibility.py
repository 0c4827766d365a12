"""Which scenarios cannot give the same trace hash twice, and why, in one place.

Determinism is the product: the same scenario, profile and seed give the same trace
hash. A few settings put something outside the simulation's control into the trace,
and then every view that shows or compares a hash (``run --check-determinism``, the
result JSON, golden hash files) must say so plainly rather than show a difference
nobody can explain. Today one setting does: an ECDSA server certificate.

Why ECDSA cannot be made reproducible here: the server's TLS handshake signature
(CertificateVerify in TLS 1.3, ServerKeyExchange in TLS 1.2) is made by OpenSSL inside
the handshake, with a fresh random nonce each time, and its DER encoding (two integers,
each 32 or 33 bytes, sometimes shorter) is 70 to 72 bytes long at random. That length
reaches the TLS record lengths, the TCP sequence numbers and the link's timing, so the
whole trace after the handshake differs. OpenSSL 3.0, what Python's ``ssl`` runs on here,
has no deterministic ECDSA (RFC 6979 nonces arrived in OpenSSL 3.2, and Python's ``ssl``
could not ask for them anyway), and its random generator cannot be seeded from Python.
The certificate's own signature is not the problem (the test CA is RSA: 256 bytes,
always). RSA server certificates give fixed-length signatures, which is why they are the
default.

This module knows the scenario model only.
"""

from __future__ import annotations

from typing import Final

from scenarios.format import Scenario

ECDSA_NOT_REPRODUCIBLE: Final = (
    'tls_cert = "ecdsa": the server signs each TLS handshake with a fresh random ECDSA '
    "nonce (OpenSSL 3.0 has no deterministic ECDSA), and the DER-encoded signature is "
    "70 to 72 bytes long at random, so TLS record lengths, and everything after them, "
    "differ from run to run; use tls_cert = \"rsa\" (fixed-length signatures) when the "
    "trace hash matters")


def why_not_reproducible(scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot give the same trace hash twice, or None when it must."""
    server = scenario.server
    if server.listen and server.tls_cert == "ecdsa":
        return ECDSA_NOT_REPRODUCIBLE
    return None
