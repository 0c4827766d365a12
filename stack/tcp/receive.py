"""The receive path of a connection: segment arrival, ACK processing, the receive queue.

:func:`arrives` takes one segment for the connection (RFC 9293's SEGMENT ARRIVES, as
this device's stack does it): SYN-SENT handling, RST acceptance in window, the ACK field
(new data acknowledged frees send buffers and feeds the RTT; three duplicate ACKs
retransmit at once), then data and FIN. Each in-order data segment keeps the buffer it
arrived in until the application has read all of its bytes (:func:`read`); the
advertised window is ``rx_window`` minus the unread bytes. Out-of-order segments are
dropped (there is no reassembly queue) and answered with a duplicate ACK.

This module works on a :class:`~stack.tcp.connection.Connection` through its
:class:`~stack.tcp.connection.StackServices`.
"""

from __future__ import annotations

from stack.api import CloseReason, SocketEvent
from stack.pool import Buffer
from stack.segment import Segment
from stack.tcp.closing import enter_time_wait, finish, notify_closed, teardown
from stack.tcp.connection import Connection, RxChunk
from stack.tcp.rtt import rto_estimate, rtt_sample
from stack.tcp.send import maybe_window_update, output, retransmit_head, want_ack
from stack.tcp.seq import ACK, FIN, RST, SYN, seq_add, seq_diff
from stack.tcp.state import RECEIVING, TcpState

DEFAULT_PEER_MSS = 536  # RFC 9293: when the SYN carries no MSS option


def peer_syn(conn: Connection, seg: Segment) -> None:
    """Take the peer's MSS and window from its SYN."""
    peer_mss = seg.mss if seg.mss else DEFAULT_PEER_MSS
    conn.mss = min(conn.stack.config.mss, peer_mss)
    conn.snd_wnd = seg.window
    conn.wl1 = seg.seq
    conn.wl2 = seg.ack


def arrives(conn: Connection, seg: Segment, buf: Buffer | None) -> bool:
    """Process one segment for this connection; True when ``buf`` was kept."""
    st = conn.state
    if st is TcpState.SYN_SENT:
        _arrives_syn_sent(conn, seg)
        return False
    flags = int(seg.flags)
    if flags & RST:
        _rst_arrives(conn, seg)
        return False
    if flags & SYN:
        if st is TcpState.SYN_RECEIVED and seg.seq == conn.irs and not flags & ACK:
            retransmit_head(conn, "duplicate syn")
        else:
            want_ack(conn)  # old SYN-ACK or a stray SYN: (challenge) ACK
        return False
    # Like lwIP, the ACK field counts whatever the sequence number: after a
    # go-back-N the peer may resend old data whose ACK is the news we need.
    if not flags & ACK or not _process_ack(conn, seg):
        return False
    stack = conn.stack
    if conn.state is TcpState.FIN_WAIT_2:  # an idle timeout, not a deadline
        conn.linger.start(stack.config.fin_wait_2_us)
    n_data = len(seg.payload)
    seg_len = n_data + (1 if flags & FIN else 0)
    wnd = conn.rcv_wnd()
    off = seq_diff(seg.seq, conn.rcv_nxt)  # > 0: a gap before it; < 0: starts old
    if seg_len == 0:
        if not (off == 0 if wnd == 0 else 0 <= off < wnd):
            if off < 0:  # a window probe or keep-alive: answer it
                want_ack(conn)
            output(conn)
            return False
    elif off + seg_len <= 0:  # all of it was received before
        stack.stats.duplicates_dropped += 1
        want_ack(conn)
        if st is TcpState.TIME_WAIT:
            conn.linger.start(stack.config.time_wait_us)
        output(conn)
        return False
    elif off > 0:  # out of order: no reassembly queue
        stack.stats.out_of_order_dropped += 1
        stack.emit("ooo_drop", conn=conn.label, seq=seg.seq, expected=conn.rcv_nxt)
        want_ack(conn)
        output(conn)
        return False
    kept = False
    fin_ok = bool(flags & FIN)
    skip = -off
    new = n_data - skip
    if new > 0:
        if conn.state in RECEIVING:
            take = min(new, wnd)
            if take > 0:
                kept = buf is not None
                _append_rx(conn, buf, memoryview(seg.payload)[skip:skip + take])
            fin_ok = fin_ok and take == new
        else:
            fin_ok = False
        want_ack(conn)
    if fin_ok:
        _fin_arrives(conn)
    output(conn)
    return kept


def _arrives_syn_sent(conn: Connection, seg: Segment) -> None:
    flags = int(seg.flags)
    stack = conn.stack
    if flags & ACK and (conn.snd_max == conn.iss or seg.ack != conn.snd_max):
        if not flags & RST:
            stack.reply_rst(seg)
        return
    if flags & RST:
        if flags & ACK:
            stack.stats.rsts_accepted += 1
            stack.emit("rst", conn=conn.label, direction="in")
            teardown(conn, "refused", CloseReason.REFUSED, send_rst=False)
        return
    if not flags & SYN or not flags & ACK:
        return  # simultaneous open is not supported: the peer's SYN is ignored
    conn.irs = seg.seq
    conn.rcv_nxt = seq_add(seg.seq, 1)
    peer_syn(conn, seg)
    _ack_new(conn, seg.ack)
    conn.set_state(TcpState.ESTABLISHED)
    stack.post(conn, SocketEvent.CONNECTED)
    want_ack(conn)
    output(conn)


def _rst_arrives(conn: Connection, seg: Segment) -> None:
    off = seq_diff(seg.seq, conn.rcv_nxt)
    if not 0 <= off < max(conn.rcv_wnd(), 1):
        return
    stack = conn.stack
    stack.stats.rsts_accepted += 1
    stack.emit("rst", conn=conn.label, direction="in")
    if conn.state is TcpState.SYN_RECEIVED or conn.state is TcpState.TIME_WAIT:
        finish(conn, "rst")
    else:
        teardown(conn, "rst", CloseReason.RST, send_rst=False)


def _process_ack(conn: Connection, seg: Segment) -> bool:
    """The ACK field; False when processing of the segment must stop."""
    ack = seg.ack
    conn.probes = 0
    if conn.state is TcpState.SYN_RECEIVED:
        if 0 < seq_diff(ack, conn.snd_una) <= seq_diff(conn.snd_max, conn.snd_una):
            conn.set_state(TcpState.ESTABLISHED)
            conn.stack.accepted(conn)
        else:
            conn.stack.reply_rst(seg)
            return False
    if seq_diff(ack, conn.snd_max) > 0:  # acknowledges what was never sent
        want_ack(conn)
        return False
    d = seq_diff(ack, conn.snd_una)
    if d > 0:
        _ack_new(conn, ack)
    elif (d == 0 and not seg.payload and not int(seg.flags) & (SYN | FIN)
          and seg.window == conn.snd_wnd and conn.snd_una != conn.snd_max):
        _dupack(conn)
    if d >= 0 and (seq_diff(seg.seq, conn.wl1) > 0
                   or (seg.seq == conn.wl1 and seq_diff(ack, conn.wl2) >= 0)):
        conn.snd_wnd = seg.window
        conn.wl1 = seg.seq
        conn.wl2 = ack
    return conn.state is not TcpState.CLOSED


def _ack_new(conn: Connection, ack: int) -> None:
    stack = conn.stack
    cfg = stack.config
    if conn.rtt_seq is not None and seq_diff(ack, conn.rtt_seq) >= 0:
        rtt_sample(conn, stack.kernel.now_us - conn.rtt_start)
        conn.rtt_seq = None
    q = conn.txq
    popped = 0
    fin_acked = False
    while q:
        e = q[0]
        if seq_diff(e.end, ack) <= 0:
            q.popleft()
            popped += 1
            conn.tx_bytes -= len(e.payload)
            fin_acked = fin_acked or bool(e.flags & FIN)
            e.release()
        else:
            k = seq_diff(ack, e.seq)
            if k > 0 and not e.flags & SYN:  # part of its payload arrived
                e.payload = e.payload[k:]
                e.seq = ack
                conn.tx_bytes -= k
            break
    conn.next_idx = max(0, conn.next_idx - popped)
    conn.snd_una = ack
    if conn.retries:  # as lwIP: new data acknowledged ends the backoff
        conn.rto = rto_estimate(conn) if conn.srtt is not None else cfg.initial_rto_us
    conn.retries = 0
    conn.dupacks = 0
    if conn.snd_una == conn.snd_max:
        conn.rtx.cancel()
    else:
        conn.rtx.start(conn.rto)
    if fin_acked:
        st = conn.state
        if st is TcpState.FIN_WAIT_1:
            conn.set_state(TcpState.FIN_WAIT_2)
            conn.linger.start(cfg.fin_wait_2_us)
        elif st is TcpState.CLOSING:
            enter_time_wait(conn)
        elif st is TcpState.LAST_ACK:
            finish(conn, "closed")


def _dupack(conn: Connection) -> None:
    conn.dupacks += 1
    if conn.dupacks == 3 and seq_diff(conn.snd_una, conn.recover) >= 0:
        conn.recover = conn.snd_max
        conn.stack.stats.fast_retransmissions += 1
        conn.rtt_seq = None
        retransmit_head(conn, "dupack")


def _fin_arrives(conn: Connection) -> None:
    conn.rcv_nxt = seq_add(conn.rcv_nxt, 1)
    conn.peer_closed = True
    want_ack(conn)
    st = conn.state
    if st is TcpState.ESTABLISHED:
        conn.set_state(TcpState.CLOSE_WAIT)
    elif st is TcpState.FIN_WAIT_1:
        conn.set_state(TcpState.CLOSING)
    elif st is TcpState.FIN_WAIT_2:
        enter_time_wait(conn)
    conn.stack.post(conn, SocketEvent.READABLE)
    notify_closed(conn, CloseReason.FIN)


def _append_rx(conn: Connection, buf: Buffer | None, view: memoryview) -> None:
    n = len(view)
    stack = conn.stack
    if conn.discard_rx:
        # Closed by the application: acknowledge and discard.
        conn.rcv_nxt = seq_add(conn.rcv_nxt, n)
        stack.stats.bytes_received += n
        if buf is not None:
            buf.free()
        return
    conn.rxq.append(RxChunk(buf, view))
    conn.rx_bytes += n
    conn.rcv_nxt = seq_add(conn.rcv_nxt, n)
    stack.stats.bytes_received += n
    stack.holding_rx(conn)
    stack.post(conn, SocketEvent.READABLE)


def read(conn: Connection, max_bytes: int) -> bytes:
    """Take up to ``max_bytes`` from the receive queue, freeing each buffer read out."""
    parts: list[memoryview] = []
    need = max_bytes
    rxq = conn.rxq
    while rxq and need > 0:
        chunk = rxq[0]
        view = chunk.view
        if len(view) <= need:
            parts.append(view)
            need -= len(view)
            rxq.popleft()
            if chunk.buffer is not None:
                chunk.buffer.free()
        else:
            parts.append(view[:need])
            chunk.view = view[need:]
            need = 0
    taken = max_bytes - need
    conn.rx_bytes -= taken
    if not rxq:
        conn.stack.released_rx(conn)
    maybe_window_update(conn)
    return b"".join(parts)
