"""The settings of one TCP stack (checked once, then frozen) and its counters.

:func:`tcp_config` is the one place the stack's integer settings are checked, with
the wording of :func:`emulator.checks.check_int`; :class:`TcpStats` counts what the
stack did over a run. This module knows the pool's buffer size and count, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from emulator.checks import check_int
from stack.segment import ETHERNET_HEADER, IPV4_HEADER, TCP_HEADER

FRAME_OVERHEAD: Final = ETHERNET_HEADER + IPV4_HEADER + TCP_HEADER
TX_PURPOSE: Final = "tx"
"""The purpose of every buffer the stack takes to send a segment (``PoolStats``)."""


@dataclass(frozen=True, slots=True)
class TcpConfig:
    """The validated settings of one stack."""

    mss: int
    rx_window: int
    initial_rto_us: int
    min_rto_us: int
    max_rto_us: int
    max_retries: int
    time_wait_us: int
    fin_wait_2_us: int
    first_ephemeral_port: int
    tx_reserve: int


def tcp_config(*, buffer_size: int, buffer_count: int | None, mss: int, rx_window: int,
               initial_rto_us: int, min_rto_us: int, max_rto_us: int, max_retries: int,
               time_wait_us: int, fin_wait_2_us: int, first_ephemeral_port: int,
               tx_reserve: int) -> TcpConfig:
    """The settings, each checked (``ValueError`` naming the first wrong one); a frame
    of ``mss`` bytes must fit a pool buffer of ``buffer_size`` bytes, and ``tx_reserve``
    must leave one of ``buffer_count`` buffers (None: unbounded) for sending."""
    check_int("mss", mss, 88, 65495)
    if mss + FRAME_OVERHEAD > buffer_size:
        raise ValueError(
            f"mss: {mss} makes {mss + FRAME_OVERHEAD}-byte frames, larger than the "
            f"{buffer_size}-byte pool buffers (expected at most {buffer_size - FRAME_OVERHEAD})"
        )
    check_int("rx_window", rx_window, mss, 65535)
    check_int("min_rto_us", min_rto_us, 1)
    check_int("max_rto_us", max_rto_us, min_rto_us)
    check_int("initial_rto_us", initial_rto_us, min_rto_us, max_rto_us)
    check_int("max_retries", max_retries, 1, 64)
    check_int("time_wait_us", time_wait_us, 0)
    check_int("fin_wait_2_us", fin_wait_2_us, 0)
    check_int("first_ephemeral_port", first_ephemeral_port, 1, 65535)
    high_reserve = None if buffer_count is None else buffer_count - 1
    check_int("tx_reserve", tx_reserve, 0, high_reserve)
    return TcpConfig(
        mss=mss, rx_window=rx_window, initial_rto_us=initial_rto_us,
        min_rto_us=min_rto_us, max_rto_us=max_rto_us, max_retries=max_retries,
        time_wait_us=time_wait_us, fin_wait_2_us=fin_wait_2_us,
        first_ephemeral_port=first_ephemeral_port, tx_reserve=tx_reserve,
    )


@dataclass(slots=True)
class TcpStats:
    """Counters of one stack over a run."""

    segments_sent: int = 0
    segments_received: int = 0
    bytes_sent: int = 0  # payload, first transmissions only
    bytes_received: int = 0  # payload accepted in order
    retransmissions: int = 0
    fast_retransmissions: int = 0
    rto_expirations: int = 0
    timeouts: int = 0
    window_probes: int = 0
    rsts_sent: int = 0
    rsts_received: int = 0
    rsts_accepted: int = 0
    rsts_not_sent: int = 0  # no buffer was free
    out_of_order_dropped: int = 0
    duplicates_dropped: int = 0
    acks_deferred: int = 0
    segments_deferred: int = 0  # SYN/FIN waiting for a buffer
    short_sends: int = 0
    syns_dropped: int = 0  # no buffer for the SYN-ACK
    no_socket: int = 0
    connections_opened: int = 0
    connections_accepted: int = 0
