"""Round-trip time and the timeouts derived from it (RFC 6298).

SRTT and RTTVAR from one sample per flight (Karn's rule is kept by the send path: no
sample is timed over a retransmitted segment), the RTO clamped to the stack's bounds,
and the persist timer's backoff on top of the RTO. This module reads and writes the
round-trip fields of a :class:`~stack.tcp.connection.Connection` and nothing else.
"""

from __future__ import annotations

from stack.tcp.connection import Connection


def rtt_sample(conn: Connection, r: int) -> None:
    """Fold one measured round trip of ``r`` microseconds into SRTT, RTTVAR and RTO."""
    if conn.srtt is None:
        conn.srtt = r
        conn.rttvar = r // 2
    else:
        conn.rttvar = (3 * conn.rttvar + abs(conn.srtt - r)) // 4
        conn.srtt = (7 * conn.srtt + r) // 8
    conn.rto = rto_estimate(conn)


def rto_estimate(conn: Connection) -> int:
    """SRTT + 4 RTTVAR (at least 1 us of variance), within the stack's RTO bounds."""
    cfg = conn.stack.config
    rto = (conn.srtt or 0) + max(1, 4 * conn.rttvar)
    return min(max(rto, cfg.min_rto_us), cfg.max_rto_us)


def persist_delay(conn: Connection) -> int:
    """The next window probe's delay: the RTO, doubled per unanswered probe, capped."""
    return min(conn.rto << conn.persist_shift, conn.stack.config.max_rto_us)
