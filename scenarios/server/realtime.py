"""Real time and real certificates for the scripted server on real sockets: how a
scenario's delays map onto the wall clock (:class:`Pacing`), the server's clock
(:func:`host_clock`) and a throwaway CA's certificate for it, of any kind a client must
refuse, with the client's trust anchors (:func:`throwaway_tls`).

This module reads the wall clock and makes keys; it knows nothing about sockets or
engines. :mod:`scenarios.server.asyncdriver` re-exports its names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from scenarios.server.simdriver import ServerTls
from scenarios.server.tlsstall import TlsStallMode
from stack.tls.badcerts import CertificateSpec, TrustAnchor, server_certificate, trust_anchors
from stack.tls.certs import CertAuthority, make_ca

THROWAWAY_CA_NAME: Final = "smtp-hil throwaway CA"
DEFAULT_TLS_NAMES: Final = ("localhost", "127.0.0.1", "smtp.example.test")


def host_clock() -> datetime:
    """The host's clock, as an aware UTC datetime (the server's clock on real sockets)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pacing:
    """How a scenario's delays map onto real time: ``us * time_scale``, then capped at
    ``max_delay_s`` (None: no cap). ``time_scale`` 0 makes every delay immediate."""

    time_scale: float = 1.0
    max_delay_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.time_scale, int | float) or not 0 <= self.time_scale < 1e6:
            raise ValueError(f"time_scale: expected a number >= 0, got {self.time_scale!r}")
        if self.max_delay_s is not None and (
                not isinstance(self.max_delay_s, int | float) or self.max_delay_s < 0):
            raise ValueError(f"max_delay_s: expected a number >= 0, got {self.max_delay_s!r}")

    def seconds(self, us: int) -> float:
        wait = us / 1e6 * self.time_scale
        return wait if self.max_delay_s is None else min(wait, self.max_delay_s)


def throwaway_tls(*, key_type: str = "rsa", names: Sequence[str] = DEFAULT_TLS_NAMES,
                  ciphers: str | None = None, min_version: str | None = None,
                  max_version: str | None = None, certificate: CertificateSpec | None = None,
                  trusts: Sequence[TrustAnchor] = ("test_ca",), now: datetime | None = None,
                  stall: TlsStallMode | None = None, stall_nth: int = 1,
                  ca: CertAuthority | None = None) -> tuple[ServerTls, bytes]:
    """Server TLS parameters with a certificate from a throwaway CA (made once per
    process), and the trust anchors in PEM for the client.

    ``certificate`` picks the kind (:mod:`stack.tls.badcerts`: expired, self-signed,
    weak key, ...; default: a valid leaf with ``key_type``), its relative dates counted
    from ``now`` (default: the host clock); the server's OpenSSL security level is
    lowered as far as a weak kind needs. ``trusts`` says what the client is given:
    ``test_ca`` is the throwaway CA. ``stall``/``stall_nth``: see
    :class:`~scenarios.server.simdriver.ServerTls`. ``ca``: the CA that issues (and that
    ``test_ca`` names) instead of the per-process throwaway one (an audit's kept CA,
    which a board holds)."""
    if key_type not in ("rsa", "ecdsa"):
        raise ValueError(f"key_type: expected 'rsa' or 'ecdsa', got {key_type!r}")
    spec = certificate if certificate is not None else CertificateSpec(
        key="rsa" if key_type == "rsa" else "ecdsa")
    if ca is None:
        ca = make_ca(common_name=THROWAWAY_CA_NAME)
    made = server_certificate(spec, ca=ca, names=list(dict.fromkeys(names)),
                              reference=now if now is not None else host_clock())
    tls = ServerTls(cert_pem=made.leaf.cert_pem, key_pem=made.leaf.key_pem, ciphers=ciphers,
                    min_version=min_version, max_version=max_version,
                    security_level=made.security_level, stall=stall, stall_nth=stall_nth)
    return tls, trust_anchors(trusts, ca=ca, presented=made.leaf)
