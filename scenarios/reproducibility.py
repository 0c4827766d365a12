"""Which scenarios cannot give the same trace hash twice, and why, in one place.

Determinism is the product: the same scenario, profile and seed give the same trace
hash. A few settings put something outside the simulation's control into the trace,
and then every view that shows or compares a hash (``run --check-determinism``, the
result JSON, golden hash files) must say so plainly rather than show a difference
nobody can explain. Two settings do: an ECDSA server certificate, and a server that
answers STARTTLS with 220 but stays in plaintext.

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

Why a 220 without TLS cannot be made reproducible: the client takes the 220 and sends
its ClientHello, and the server, still in plaintext, reads those bytes as command lines
(hostile-servers.md row 5: it "answers the ClientHello as a bad command"). The
ClientHello holds random bytes (its random, session id and key share); where LF bytes
fall in them decides how many command lines the server sees and answers, so the trace
differs from run to run. The outcome does not: the client's handshake fails on the
first plaintext reply.

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


PLAINTEXT_CLIENT_HELLO_NOT_REPRODUCIBLE: Final = (
    "a STARTTLS rule answers 220 without starting TLS (transition = false): the server "
    "reads the client's ClientHello as plaintext commands, and its random bytes (where "
    "their LF bytes fall) decide how many command lines the server sees and answers, so "
    "the trace differs from run to run (the outcome does not)")


def why_not_reproducible(scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot give the same trace hash twice, or None when it must."""
    server = scenario.server
    if server.listen and server.tls_cert == "ecdsa":
        return ECDSA_NOT_REPRODUCIBLE
    if server.listen and any(rule.verb.upper() == "STARTTLS" and rule.transition is False
                             and (rule.reply or "").startswith("220")
                             for rule in server.rules):
        return PLAINTEXT_CLIENT_HELLO_NOT_REPRODUCIBLE
    return None
