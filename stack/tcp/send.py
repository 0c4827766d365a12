"""The send path of a connection: the send queue, output, retransmission and ACKs.

Every segment that carries payload, SYN or FIN holds the pool buffer it took when it
was queued until its last sequence number is acknowledged. Each ``send()`` becomes its
own segment(s), split at the MSS (no Nagle, no coalescing); retransmissions reuse the
queued segment, so they keep its ``ciphertext`` flag. :func:`output` sends what the
peer's window allows, in order; a zero (or too small) peer window starts the persist
timer. Go-back-N (:func:`retransmit_head`) resends from the oldest unacknowledged
segment. A pure ACK holds a buffer only while it is transmitted; without one it waits
(:func:`flush_ack` retries), as do SYN and FIN.

This module works on a :class:`~stack.tcp.connection.Connection` and asks its stack
only through :class:`~stack.tcp.connection.StackServices`.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from stack.api import SocketEvent
from stack.pool import Buffer
from stack.segment import Segment
from stack.tcp.connection import Connection, TxEntry
from stack.tcp.rtt import persist_delay
from stack.tcp.seq import ACK, FIN, PSH, SYN, seq_add, seq_diff
from stack.tcp.state import NOT_SENDING, RECEIVING, SYNCHRONIZED, TcpState

ACK_RETRY_US = 10_000  # first retry of an ACK that found no free buffer

GoBackWhy: TypeAlias = Literal["rto", "dupack", "duplicate syn"]
"""Why the send queue goes back to its head (the ``why`` of a ``go_back`` record)."""


def queue_syn(conn: Connection, buffer: Buffer | None) -> None:
    """Queue our SYN at ``iss`` (a passive open brings the buffer it already took)."""
    conn.txq.append(TxEntry(conn.iss, b"", SYN, buffer, False))


def queue_data(conn: Connection, data: bytes) -> int:
    """Queue ``data`` as MSS-sized segments, each with a buffer; how many bytes fit.

    A short count (no free buffer) is remembered: WRITABLE follows when buffers return.
    The first short count after WRITABLE (or ever) is a ``tx_blocked`` record; further
    ones before the next WRITABLE only count in ``short_sends``.
    """
    stack = conn.stack
    view = memoryview(data)
    total = len(view)
    accepted = 0
    last: TxEntry | None = None
    while accepted < total:
        buf = stack.alloc_tx()
        if buf is None:
            break
        chunk = bytes(view[accepted:accepted + conn.mss])
        last = TxEntry(conn.snd_end, chunk, 0, buf, conn.ciphertext)
        conn.txq.append(last)
        conn.snd_end = seq_add(conn.snd_end, len(chunk))
        conn.tx_bytes += len(chunk)
        accepted += len(chunk)
    if last is not None:
        last.flags |= PSH
    if accepted < total:
        stack.stats.short_sends += 1
        conn.blocked_send_call = stack.calls
        if not conn.want_writable:  # recorded when sending stops, not at every retry
            conn.want_writable = True
            stack.emit("tx_blocked", conn=conn.label, accepted=accepted, requested=total)
        stack.wait_buffers(conn)
    output(conn)
    return accepted


def queue_fin(conn: Connection) -> None:
    """Queue our FIN after everything queued so far."""
    conn.txq.append(TxEntry(conn.snd_end, b"", FIN, None, conn.ciphertext))
    conn.snd_end = seq_add(conn.snd_end, 1)


def output(conn: Connection) -> None:
    """Send queued segments the peer's window allows, in order."""
    st = conn.state
    if st in NOT_SENDING:
        return
    q = conn.txq
    stack = conn.stack
    while conn.next_idx < len(q):
        e = q[conn.next_idx]
        if e.payload:
            if st is TcpState.SYN_SENT or st is TcpState.SYN_RECEIVED:
                return
            if seq_diff(e.end, conn.snd_una) > conn.snd_wnd:
                if conn.snd_una == conn.snd_max:  # nothing in flight: probe
                    conn.persist.start_if_idle(persist_delay(conn))
                return
        if e.buffer is None:
            e.buffer = stack.alloc_tx()
            if e.buffer is None:
                stack.wait_buffers(conn)
                if not conn.blocked_on_alloc:
                    conn.blocked_on_alloc = True
                    stack.stats.segments_deferred += 1
                    what = "SYN" if e.flags & SYN else "FIN"
                    stack.emit("deferred", conn=conn.label, what=what)
                conn.rtx.start_if_idle(conn.rto)  # retries count towards a timeout
                return
        conn.blocked_on_alloc = False
        conn.persist.cancel()
        conn.persist_shift = 0
        transmit_entry(conn, e)
        conn.next_idx += 1


def transmit_entry(conn: Connection, e: TxEntry) -> None:
    """Send one queued segment (first transmission or retransmission)."""
    stack = conn.stack
    flags = e.flags if conn.state is TcpState.SYN_SENT else e.flags | ACK
    seg = conn.segment(e.seq, flags, e.payload, e.ciphertext,
                       stack.config.mss if e.flags & SYN else None)
    if e.sent:
        stack.stats.retransmissions += 1
        stack.emit("retransmit", conn=conn.label, seq=e.seq, len=len(e.payload),
                   flags=seg.flag_names(), attempt=e.sent)
        if e.end == conn.rtt_seq:
            conn.rtt_seq = None  # Karn: no sample from a retransmitted segment
    else:
        e.first_sent_us = stack.kernel.now_us
        stack.stats.bytes_sent += len(e.payload)
        if conn.rtt_seq is None:
            conn.rtt_seq = e.end
            conn.rtt_start = stack.kernel.now_us
    e.sent += 1
    end = e.end
    if seq_diff(end, conn.snd_max) > 0:
        conn.snd_max = end
    conn.rtx.start_if_idle(conn.rto)
    stack.transmit(seg)
    sent(conn, seg)


def retransmit_head(conn: Connection, why: GoBackWhy) -> None:
    """Go back N: resend the oldest unacknowledged segment, the rest follows acks."""
    if not conn.txq:
        return
    e = conn.txq[0]
    if e.buffer is None:
        conn.next_idx = 0
        output(conn)
        return
    conn.next_idx = 0
    if why != "rto":
        conn.stack.emit("go_back", conn=conn.label, why=why, seq=e.seq)
    transmit_entry(conn, e)
    conn.next_idx = 1


def sent(conn: Connection, seg: Segment) -> None:
    """``seg`` went out: an ACK in it pays what was owed and advertises a window."""
    if int(seg.flags) & ACK:
        conn.ack_pending = False
        conn.adv_wnd = seg.window
        conn.adv_right = seq_add(conn.rcv_nxt, seg.window)


def want_ack(conn: Connection) -> None:
    """The peer is owed an ACK (sent by the stack once the work at hand is done)."""
    if conn.state in SYNCHRONIZED:
        conn.ack_pending = True
        conn.stack.owe_ack(conn)


def flush_ack(conn: Connection) -> None:
    """Send a pure ACK now if one is still owed (a buffer only for the instant)."""
    if not conn.ack_pending or conn.state not in SYNCHRONIZED:
        return
    stack = conn.stack
    seg = conn.segment(conn.snd_max, ACK)  # never "old" at the peer
    if not stack.transmit_control(seg):
        stack.stats.acks_deferred += 1
        stack.wait_buffers(conn)
        conn.ack_retry.start_if_idle(ACK_RETRY_US << min(conn.ack_retries, 16))
        return
    conn.ack_retries = 0
    conn.ack_retry.cancel()
    sent(conn, seg)


def maybe_window_update(conn: Connection) -> None:
    """After a read: owe an ACK when the window grew by an MSS or opened from zero."""
    if conn.state not in RECEIVING:
        return
    wnd = conn.rcv_wnd()
    grown = seq_diff(seq_add(conn.rcv_nxt, wnd), conn.adv_right)
    if grown >= conn.stack.config.mss or (conn.adv_wnd == 0 and wnd > 0):
        want_ack(conn)


def buffers_available(conn: Connection) -> None:
    """The stack saw free buffers: retry whatever waited for one."""
    stack = conn.stack
    if conn.ack_pending:
        flush_ack(conn)
    if conn.blocked_on_alloc:
        if stack.tx_buffer_available():
            output(conn)
        else:
            stack.wait_buffers(conn)
    if conn.want_writable:
        if stack.tx_buffer_available():
            conn.want_writable = False
            stack.post(conn, SocketEvent.WRITABLE)
        else:
            stack.wait_buffers(conn)
