"""What a connection does when one of its four timers fires.

* retransmission (RFC 6298): double the RTO, go back to the oldest unacknowledged
  segment; after ``max_retries`` give up with TIMEOUT;
* persist: probe a closed peer window with a zero-length segment below ``snd_una``
  (the peer answers with its window), backing off; ``max_retries`` unanswered probes
  end the connection;
* linger: the end of TIME_WAIT, or FIN_WAIT_2 idle for ``fin_wait_2_us``;
* ACK retry: an owed ACK that found no free buffer is tried again, ``max_retries``
  times (then the peer's retransmission will ask again).

:data:`ACTIONS` hands these to each new :class:`~stack.tcp.connection.Connection`.
This module works on connections through their
:class:`~stack.tcp.connection.StackServices`.
"""

from __future__ import annotations

from typing import Final

from stack.api import CloseReason
from stack.tcp.closing import finish, teardown
from stack.tcp.connection import Connection, TimerActions
from stack.tcp.rtt import persist_delay
from stack.tcp.send import flush_ack, output, retransmit_head, sent
from stack.tcp.seq import ACK, seq_add, seq_diff
from stack.tcp.state import NOT_SENDING, TcpState


def on_rto(conn: Connection) -> None:
    if not conn.txq or conn.state in NOT_SENDING:
        return
    stack = conn.stack
    cfg = stack.config
    conn.retries += 1
    stack.stats.rto_expirations += 1
    if conn.retries > cfg.max_retries:
        stack.stats.timeouts += 1
        stack.emit("timeout", conn=conn.label, state=conn.state.value,
                   retries=conn.retries - 1)
        head = conn.txq[0]
        if head.sent:
            waited = (stack.kernel.now_us - head.first_sent_us) / 1_000_000
            conn.close_detail = (f"after {head.sent - 1} retransmissions "
                                 f"(no ACK for {waited:.1f} s)")
        else:
            conn.close_detail = (f"after {cfg.max_retries} retries (no free IP buffer "
                                 "to send a segment)")
        teardown(conn, "timeout", CloseReason.TIMEOUT, send_rst=False)
        return
    conn.rto = min(conn.rto * 2, cfg.max_rto_us)
    stack.emit("rto", conn=conn.label, rto_us=conn.rto, retries=conn.retries)
    conn.recover = conn.snd_max
    conn.dupacks = 0
    conn.rtt_seq = None
    retransmit_head(conn, "rto")
    conn.rtx.start(conn.rto)


def on_persist(conn: Connection) -> None:
    if not conn.txq or conn.snd_una != conn.snd_max or conn.state in NOT_SENDING:
        return
    e = conn.txq[0]
    if seq_diff(e.end, conn.snd_una) <= conn.snd_wnd:
        output(conn)
        return
    stack = conn.stack
    cfg = stack.config
    conn.probes += 1
    if conn.probes > cfg.max_retries:
        stack.stats.timeouts += 1
        stack.emit("timeout", conn=conn.label, state=conn.state.value,
                   retries=conn.probes - 1)
        conn.close_detail = (f"after {conn.probes - 1} window probes (the peer's "
                             "receive window stayed closed)")
        teardown(conn, "timeout", CloseReason.TIMEOUT, send_rst=False)
        return
    stack.stats.window_probes += 1
    stack.emit("probe", conn=conn.label, window=conn.snd_wnd, probes=conn.probes)
    probe = conn.segment(seq_add(conn.snd_una, -1), ACK)
    if stack.transmit_control(probe):
        sent(conn, probe)
    conn.persist_shift = min(conn.persist_shift + 1, 16)
    conn.persist.start(persist_delay(conn))


def on_linger(conn: Connection) -> None:
    if conn.state is TcpState.TIME_WAIT:
        finish(conn, "time_wait over")
    elif conn.state is TcpState.FIN_WAIT_2:
        conn.stack.emit("timeout", conn=conn.label, state=conn.state.value, retries=0)
        idle = conn.stack.config.fin_wait_2_us / 1_000_000
        conn.close_detail = f"waiting for the peer's FIN (idle for {idle:.1f} s)"
        teardown(conn, "fin_wait_2 timeout", CloseReason.TIMEOUT, send_rst=False)


def on_ack_retry(conn: Connection) -> None:
    if not conn.ack_pending:
        return
    conn.ack_retries += 1
    if conn.ack_retries > conn.stack.config.max_retries:
        conn.ack_pending = False  # give up: the peer will retransmit
        conn.ack_retries = 0
        return
    flush_ack(conn)


ACTIONS: Final = TimerActions(retransmit=on_rto, persist=on_persist, linger=on_linger,
                              ack_retry=on_ack_retry)
"""The timer actions every connection is built with."""
