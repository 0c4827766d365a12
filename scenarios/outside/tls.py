"""A scenario's server TLS on real sockets: its certificate (of whatever kind the
scenario names, from a throwaway CA, dates counted from the host clock), its ciphers,
versions and handshake stall, and the trust anchors the client is given
(``device.trusts``; ``test_ca`` is the throwaway CA).

This module knows the scenario's ``[server]`` TLS keys and ``device.trusts``; it makes
certificates (:func:`scenarios.server.realtime.throwaway_tls`) and runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.format import Scenario
from scenarios.server.realtime import DEFAULT_TLS_NAMES, throwaway_tls
from scenarios.server.simdriver import ServerTls
from stack.tls.certs import CertAuthority


def scenario_tls(scenario: Scenario, *, names: Sequence[str] = DEFAULT_TLS_NAMES,
                 ca: CertAuthority | None = None) -> tuple[ServerTls, bytes]:
    """The server's TLS parameters for ``scenario``, and the client's trust anchors in
    PEM; ``names`` are the names a valid certificate carries; ``ca`` the CA that issues
    it (default: the per-process throwaway CA)."""
    section = scenario.server
    return throwaway_tls(names=names, ciphers=section.tls_ciphers,
                         min_version=section.tls_min_version,
                         max_version=section.tls_max_version,
                         certificate=section.certificate_spec(), trusts=scenario.device.trusts,
                         stall=section.tls_stall, stall_nth=section.tls_stall_nth, ca=ca)
