"""One TCP connection: the state machine behind a :class:`TcpSocket`.

A socket keeps two queues of pool buffers, as the device does:

* the send queue: every segment that carries payload, SYN or FIN holds the buffer it
  took when it was queued until its last sequence number is acknowledged. Each
  ``send()`` becomes its own segment(s), split at the MSS (no Nagle, no coalescing);
  retransmissions reuse the queued segment, so they keep its ``ciphertext`` flag.
* the receive queue: each in-order data segment keeps the buffer it arrived in until
  the application has ``recv()``'d all of its bytes. The advertised window is
  ``rx_window`` minus the unread bytes. Out-of-order segments are dropped (there is no
  reassembly queue) and answered with a duplicate ACK.

Retransmission follows RFC 6298 (SRTT/RTTVAR, Karn, exponential backoff) with
go-back-N from the oldest unacknowledged segment; three duplicate ACKs retransmit at
once. A zero (or too small) peer window starts the persist timer, which probes with
a zero-length segment below ``snd_una`` (the peer answers with its window).

Application-visible behaviour (see :class:`TcpSocket`) follows :mod:`stack.api`.
This module knows segments, buffers, timers and the stack that owns it; it knows
nothing about links, boards or applications.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from stack.api import CloseReason, EventHandler, SocketEvent, SocketState
from stack.link import check_ipv4
from stack.pool import Buffer
from stack.segment import Flags, Segment
from stack.timers import OneShot

if TYPE_CHECKING:
    from stack.tcp import TcpStack

# Flag bits as plain ints: IntFlag arithmetic is slow on the per-segment path.
_FIN, _SYN, _RST, _PSH, _ACK = (int(f) for f in (Flags.FIN, Flags.SYN, Flags.RST, Flags.PSH,
                                                  Flags.ACK))
AcceptHandler: TypeAlias = Callable[["TcpSocket"], None]
MASK = 0xFFFF_FFFF
_HALF = 1 << 31
DEFAULT_PEER_MSS = 536  # RFC 9293: when the SYN carries no MSS option
ACK_RETRY_US = 10_000  # first retry of an ACK that found no free buffer


def seq_add(a: int, n: int) -> int:
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """``a - b`` in sequence space, as a signed number."""
    d = (a - b) & MASK
    return d - (1 << 32) if d >= _HALF else d


class TcpState(enum.Enum):
    """The RFC 9293 connection states (LISTEN lives in the stack, not in sockets)."""

    CLOSED = "CLOSED"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSING = "CLOSING"
    TIME_WAIT = "TIME_WAIT"
    CLOSE_WAIT = "CLOSE_WAIT"
    LAST_ACK = "LAST_ACK"


_APP_STATE = {
    TcpState.CLOSED: SocketState.CLOSED,
    TcpState.SYN_SENT: SocketState.CONNECTING,
    TcpState.SYN_RECEIVED: SocketState.CONNECTING,
    TcpState.ESTABLISHED: SocketState.ESTABLISHED,
    TcpState.CLOSE_WAIT: SocketState.ESTABLISHED,
    TcpState.FIN_WAIT_1: SocketState.CLOSING,
    TcpState.FIN_WAIT_2: SocketState.CLOSING,
    TcpState.CLOSING: SocketState.CLOSING,
    TcpState.LAST_ACK: SocketState.CLOSING,
    TcpState.TIME_WAIT: SocketState.CLOSED,
}
_RECEIVING = frozenset({TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2})
_SYNCHRONIZED = frozenset(set(TcpState) - {TcpState.CLOSED, TcpState.SYN_SENT,
                                             TcpState.SYN_RECEIVED})
_NOT_SENDING = frozenset({TcpState.CLOSED, TcpState.TIME_WAIT, TcpState.FIN_WAIT_2})


class _TxEntry:
    """One queued outgoing segment and the pool buffer it holds."""

    __slots__ = ("buffer", "ciphertext", "first_sent_us", "flags", "payload", "sent", "seq")

    def __init__(self, seq: int, payload: bytes, flags: int, buffer: Buffer | None,
                 ciphertext: bool) -> None:
        self.seq = seq
        self.payload = payload
        self.flags = flags
        self.buffer = buffer
        self.ciphertext = ciphertext
        self.sent = 0  # transmissions so far
        self.first_sent_us = 0  # when it first went out (when ``sent`` > 0)

    @property
    def end(self) -> int:
        n = len(self.payload)
        if self.flags & (_SYN | _FIN):
            n += 2 if self.flags & _SYN and self.flags & _FIN else 1
        return (self.seq + n) & MASK

    def release(self) -> None:
        if self.buffer is not None:
            self.buffer.free()
            self.buffer = None


class _RxChunk:
    """Unread bytes of one received segment and the pool buffer it arrived in."""

    __slots__ = ("buffer", "view")

    def __init__(self, buffer: Buffer | None, view: memoryview) -> None:
        self.buffer = buffer
        self.view = view


class TcpSocket:
    """A non-blocking TCP socket (implements :class:`stack.api.StreamSocket`).

    Events reach the handler given to :meth:`set_event_handler` synchronously from
    stack code (frame input, timers). A handler must not re-enter the stack deeply:
    it should note the event and wake a task; ``recv()``/``send()`` from a handler
    work, but the stack delivers the remaining events only after it returns.

    Behaviour the API leaves open:

    * ``send()`` before CONNECTED, after ``close()`` or once CLOSED accepts nothing
      (returns 0). A short send (no free buffer) is followed by WRITABLE when buffers
      come back.
    * The peer's FIN gives READABLE, then CLOSED with reason FIN; ``state`` stays
      ESTABLISHED while this side may still send (half-close), ``peer_closed`` is
      True, ``recv()`` returns the buffered data and then ``b""``.
    * ``close()`` sends FIN after the queued data; data the peer still sends remains
      readable. Once the socket is CLOSED, ``close()`` releases unread data.
    * ``abort()`` sends RST (when connected) and frees every buffer at once; it gives
      no event. A RST or timeout keeps already received data readable.
    * Accepted sockets: the listener's ``on_accept`` runs first, then CONNECTED.
    """

    def __init__(self, stack: TcpStack) -> None:
        self._stack = stack
        self._state = TcpState.CLOSED
        self._close_reason: CloseReason | None = None
        self._close_detail: str | None = None
        self._closed_notified = False
        self._handler: EventHandler | None = None
        self._peer_closed = False
        self._close_called = False
        self._used = False
        self._released = False  # aborted or forgotten: no more events
        self._ciphertext = False
        self._want_writable = False
        self._blocked_on_alloc = False
        self._ack_pending = False
        self._ack_retries = 0
        self._on_accept: AcceptHandler | None = None
        self.local_ip = stack.ip
        self.local_port = 0
        self.remote_ip = ""
        self.remote_port = 0
        self._label = "unbound"
        # send side
        self._iss = 0
        self._snd_una = 0
        self._snd_max = 0  # highest sequence number sent + 1
        self._snd_end = 0  # sequence number of the next byte queued
        self._snd_wnd = 0
        self._wl1 = 0
        self._wl2 = 0
        self._mss = stack.config.mss
        self._txq: deque[_TxEntry] = deque()
        self._next_idx = 0  # first entry of _txq not (re)sent since the last go-back
        self._tx_bytes = 0
        self._dupacks = 0
        self._recover = 0
        # receive side
        self._irs = 0
        self._rcv_nxt = 0
        self._adv_wnd = 0
        self._adv_right = 0
        self._rxq: deque[_RxChunk] = deque()
        self._discard_rx = False
        self._rx_bytes = 0
        # round trip and timers
        cfg = stack.config
        self._rto = cfg.initial_rto_us
        self._srtt: int | None = None
        self._rttvar = 0
        self._rtt_seq: int | None = None
        self._rtt_start = 0
        self._retries = 0
        self._probes = 0
        self._persist_shift = 0
        timers = stack.timers
        self._rtx = OneShot(timers, stack._guarded(self._on_rto))
        self._persist = OneShot(timers, stack._guarded(self._on_persist))
        self._linger = OneShot(timers, stack._guarded(self._on_linger))
        self._ack_retry = OneShot(timers, stack._guarded(self._on_ack_retry))

    # ---- StreamSocket ------------------------------------------------------------

    @property
    def state(self) -> SocketState:
        return _APP_STATE[self._state]

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def close_detail(self) -> str | None:
        return self._close_detail

    @property
    def peer_closed(self) -> bool:
        return self._peer_closed

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._handler = handler

    def connect(self, host: str, port: int) -> None:
        check_ipv4("host", host)
        _check_port("port", port)
        if self._used:
            raise RuntimeError(f"connect: socket already used ({self.tcp_state})")
        stack = self._stack
        with stack._entry():
            self._used = True
            self._bind(stack._ephemeral_port(), host, port)
            self._iss = stack.kernel.rng.getrandbits(32)
            self._snd_una = self._snd_max = self._iss
            self._snd_end = seq_add(self._iss, 1)
            self._txq.append(_TxEntry(self._iss, b"", _SYN, None, False))
            stack._register(self)
            stack.stats.connections_opened += 1
            stack._emit("connect", conn=self._label, iss=self._iss)
            self._set_state(TcpState.SYN_SENT)
            self._output()

    def send(self, data: bytes) -> int:
        if not data or self._close_called or self._state not in (
                TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            return 0
        stack = self._stack
        with stack._entry():
            view = memoryview(data)
            total = len(view)
            accepted = 0
            last: _TxEntry | None = None
            while accepted < total:
                buf = stack._alloc_tx()
                if buf is None:
                    break
                chunk = bytes(view[accepted:accepted + self._mss])
                last = _TxEntry(self._snd_end, chunk, 0, buf, self._ciphertext)
                self._txq.append(last)
                self._snd_end = seq_add(self._snd_end, len(chunk))
                self._tx_bytes += len(chunk)
                accepted += len(chunk)
            if last is not None:
                last.flags |= _PSH
            if accepted < total:
                self._want_writable = True
                stack._wait_buffers(self)
                stack.stats.short_sends += 1
                stack._emit("tx_blocked", conn=self._label, accepted=accepted,
                            requested=total)
            self._output()
            return accepted

    def recv(self, max_bytes: int = 65536) -> bytes:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
        if not self._rxq:
            return b""
        with self._stack._entry():
            parts: list[memoryview] = []
            need = max_bytes
            rxq = self._rxq
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
            self._rx_bytes -= taken
            if not rxq:
                self._stack._rx_holders.pop(self, None)
            self._maybe_window_update()
            return b"".join(parts)

    def close(self) -> None:
        """Close both ways: send FIN after queued data; unread data is released and data
        still arriving is acknowledged and discarded (the app will not read again)."""
        with self._stack._entry():
            self._discard_rx = True
            self._release_rx()
            self._shutdown_send()

    def shutdown_send(self) -> None:
        """Half-close: send FIN after queued data and keep receiving."""
        with self._stack._entry():
            self._shutdown_send()

    def _shutdown_send(self) -> None:
        if self.state is SocketState.CLOSED:
            self._release_rx()
            if self._close_reason is None:
                self._close_reason = CloseReason.LOCAL
            return
        if self._close_called:
            return
        self._close_called = True
        st = self._state
        if st in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED):
            self._teardown("closed while connecting", CloseReason.LOCAL, send_rst=False)
            return
        self._txq.append(_TxEntry(self._snd_end, b"", _FIN, None, self._ciphertext))
        self._snd_end = seq_add(self._snd_end, 1)
        self._set_state(TcpState.FIN_WAIT_1 if st is TcpState.ESTABLISHED
                        else TcpState.LAST_ACK)
        self._output()

    def abort(self) -> None:
        with self._stack._entry():
            st = self._state
            if st is TcpState.CLOSED or st is TcpState.TIME_WAIT:
                self._release_rx()
                if st is TcpState.TIME_WAIT:
                    self._finish("abort")
                self._released = True
                if self._close_reason is None:
                    self._close_reason = CloseReason.LOCAL
                return
            self._teardown("abort", CloseReason.LOCAL, send_rst=st is not TcpState.SYN_SENT)
            self._release_rx()
            self._released = True

    # ---- extras ------------------------------------------------------------------

    @property
    def local_address(self) -> tuple[str, int] | None:
        return (self.local_ip, self.local_port) if self.local_port else None

    @property
    def remote_address(self) -> tuple[str, int] | None:
        return (self.remote_ip, self.remote_port) if self.remote_port else None

    @property
    def tcp_state(self) -> str:
        return self._state.value

    @property
    def rx_buffered(self) -> int:
        """Received bytes the application has not read yet."""
        return self._rx_bytes

    @property
    def tx_queued(self) -> int:
        """Payload bytes sent but not acknowledged, or not sent yet."""
        return self._tx_bytes

    @property
    def rto_us(self) -> int:
        return self._rto

    def set_ciphertext(self, on: bool) -> None:
        """From now on outgoing segments carry ``Segment.ciphertext=on`` (TLS records)."""
        self._ciphertext = bool(on)

    def __repr__(self) -> str:
        return f"<TcpSocket {self._label} {self._state.value}>"

    # ---- stack side: opening, input ----------------------------------------------

    def _bind(self, local_port: int, remote_ip: str, remote_port: int) -> None:
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self._label = f"{self.local_ip}:{local_port}-{remote_ip}:{remote_port}"

    def _open_passive(self, seg: Segment, on_accept: AcceptHandler) -> bool:
        """Answer a SYN that reached a listener; False when no buffer is free."""
        stack = self._stack
        buf = stack._alloc_tx()
        if buf is None:
            return False
        self._used = True
        self._on_accept = on_accept
        self._bind(seg.dst_port, seg.src_ip, seg.src_port)
        self._iss = stack.kernel.rng.getrandbits(32)
        self._snd_una = self._snd_max = self._iss
        self._snd_end = seq_add(self._iss, 1)
        self._irs = seg.seq
        self._rcv_nxt = seq_add(seg.seq, 1)
        self._peer_syn(seg)
        self._txq.append(_TxEntry(self._iss, b"", _SYN, buf, False))
        stack._register(self)
        stack._emit("accept", conn=self._label, iss=self._iss)
        self._set_state(TcpState.SYN_RECEIVED)
        self._output()
        return True

    def _peer_syn(self, seg: Segment) -> None:
        peer_mss = seg.mss if seg.mss else DEFAULT_PEER_MSS
        self._mss = min(self._stack.config.mss, peer_mss)
        self._snd_wnd = seg.window
        self._wl1 = seg.seq
        self._wl2 = seg.ack

    def _arrives(self, seg: Segment, buf: Buffer | None) -> bool:
        """Process one segment for this connection; True when ``buf`` was kept."""
        st = self._state
        if st is TcpState.SYN_SENT:
            self._arrives_syn_sent(seg)
            return False
        flags = int(seg.flags)
        if flags & _RST:
            self._rst_arrives(seg)
            return False
        if flags & _SYN:
            if st is TcpState.SYN_RECEIVED and seg.seq == self._irs and not flags & _ACK:
                self._retransmit_head("duplicate syn")
            else:
                self._want_ack()  # old SYN-ACK or a stray SYN: (challenge) ACK
            return False
        # Like lwIP, the ACK field counts whatever the sequence number: after a
        # go-back-N the peer may resend old data whose ACK is the news we need.
        if not flags & _ACK or not self._process_ack(seg):
            return False
        if self._state is TcpState.FIN_WAIT_2:  # an idle timeout, not a deadline
            self._linger.start(self._stack.config.fin_wait_2_us)
        n_data = len(seg.payload)
        seg_len = n_data + (1 if flags & _FIN else 0)
        wnd = self._rcv_wnd()
        off = seq_diff(seg.seq, self._rcv_nxt)  # > 0: a gap before it; < 0: starts old
        if seg_len == 0:
            if not (off == 0 if wnd == 0 else 0 <= off < wnd):
                if off < 0:  # a window probe or keep-alive: answer it
                    self._want_ack()
                self._output()
                return False
        elif off + seg_len <= 0:  # all of it was received before
            self._stack.stats.duplicates_dropped += 1
            self._want_ack()
            if st is TcpState.TIME_WAIT:
                self._linger.start(self._stack.config.time_wait_us)
            self._output()
            return False
        elif off > 0:  # out of order: no reassembly queue
            self._stack.stats.out_of_order_dropped += 1
            self._stack._emit("ooo_drop", conn=self._label, seq=seg.seq, expected=self._rcv_nxt)
            self._want_ack()
            self._output()
            return False
        kept = False
        fin_ok = bool(flags & _FIN)
        skip = -off
        new = n_data - skip
        if new > 0:
            if self._state in _RECEIVING:
                take = min(new, wnd)
                if take > 0:
                    kept = buf is not None
                    self._append_rx(buf, memoryview(seg.payload)[skip:skip + take])
                fin_ok = fin_ok and take == new
            else:
                fin_ok = False
            self._want_ack()
        if fin_ok:
            self._fin_arrives()
        self._output()
        return kept

    def _arrives_syn_sent(self, seg: Segment) -> None:
        flags = int(seg.flags)
        if flags & _ACK and (self._snd_max == self._iss or seg.ack != self._snd_max):
            if not flags & _RST:
                self._stack._reply_rst(seg)
            return
        if flags & _RST:
            if flags & _ACK:
                self._stack.stats.rsts_accepted += 1
                self._stack._emit("rst", conn=self._label, direction="in")
                self._teardown("refused", CloseReason.REFUSED, send_rst=False)
            return
        if not flags & _SYN or not flags & _ACK:
            return  # simultaneous open is not supported: the peer's SYN is ignored
        self._irs = seg.seq
        self._rcv_nxt = seq_add(seg.seq, 1)
        self._peer_syn(seg)
        self._ack_new(seg.ack)
        self._set_state(TcpState.ESTABLISHED)
        self._stack._post(self, SocketEvent.CONNECTED)
        self._want_ack()
        self._output()

    def _rst_arrives(self, seg: Segment) -> None:
        off = seq_diff(seg.seq, self._rcv_nxt)
        if not 0 <= off < max(self._rcv_wnd(), 1):
            return
        stack = self._stack
        stack.stats.rsts_accepted += 1
        stack._emit("rst", conn=self._label, direction="in")
        if self._state is TcpState.SYN_RECEIVED or self._state is TcpState.TIME_WAIT:
            self._finish("rst")
        else:
            self._teardown("rst", CloseReason.RST, send_rst=False)

    def _process_ack(self, seg: Segment) -> bool:
        """The ACK field; False when processing of the segment must stop."""
        ack = seg.ack
        self._probes = 0
        if self._state is TcpState.SYN_RECEIVED:
            if 0 < seq_diff(ack, self._snd_una) <= seq_diff(self._snd_max, self._snd_una):
                self._set_state(TcpState.ESTABLISHED)
                self._stack._accepted(self)
            else:
                self._stack._reply_rst(seg)
                return False
        if seq_diff(ack, self._snd_max) > 0:  # acknowledges what was never sent
            self._want_ack()
            return False
        d = seq_diff(ack, self._snd_una)
        if d > 0:
            self._ack_new(ack)
        elif (d == 0 and not seg.payload and not int(seg.flags) & (_SYN | _FIN)
              and seg.window == self._snd_wnd and self._snd_una != self._snd_max):
            self._dupack()
        if d >= 0 and (seq_diff(seg.seq, self._wl1) > 0
                       or (seg.seq == self._wl1 and seq_diff(ack, self._wl2) >= 0)):
            self._snd_wnd = seg.window
            self._wl1 = seg.seq
            self._wl2 = ack
        return self._state is not TcpState.CLOSED

    def _ack_new(self, ack: int) -> None:
        stack = self._stack
        cfg = stack.config
        if self._rtt_seq is not None and seq_diff(ack, self._rtt_seq) >= 0:
            self._rtt_sample(stack.kernel.now_us - self._rtt_start)
            self._rtt_seq = None
        q = self._txq
        popped = 0
        fin_acked = False
        while q:
            e = q[0]
            if seq_diff(e.end, ack) <= 0:
                q.popleft()
                popped += 1
                self._tx_bytes -= len(e.payload)
                fin_acked = fin_acked or bool(e.flags & _FIN)
                e.release()
            else:
                k = seq_diff(ack, e.seq)
                if k > 0 and not e.flags & _SYN:  # part of its payload arrived
                    e.payload = e.payload[k:]
                    e.seq = ack
                    self._tx_bytes -= k
                break
        self._next_idx = max(0, self._next_idx - popped)
        self._snd_una = ack
        if self._retries:  # as lwIP: new data acknowledged ends the backoff
            self._rto = self._rto_estimate() if self._srtt is not None else (
                self._stack.config.initial_rto_us)
        self._retries = 0
        self._dupacks = 0
        if self._snd_una == self._snd_max:
            self._rtx.cancel()
        else:
            self._rtx.start(self._rto)
        if fin_acked:
            st = self._state
            if st is TcpState.FIN_WAIT_1:
                self._set_state(TcpState.FIN_WAIT_2)
                self._linger.start(cfg.fin_wait_2_us)
            elif st is TcpState.CLOSING:
                self._enter_time_wait()
            elif st is TcpState.LAST_ACK:
                self._finish("closed")

    def _rtt_sample(self, r: int) -> None:
        if self._srtt is None:
            self._srtt = r
            self._rttvar = r // 2
        else:
            self._rttvar = (3 * self._rttvar + abs(self._srtt - r)) // 4
            self._srtt = (7 * self._srtt + r) // 8
        self._rto = self._rto_estimate()

    def _rto_estimate(self) -> int:
        cfg = self._stack.config
        rto = (self._srtt or 0) + max(1, 4 * self._rttvar)
        return min(max(rto, cfg.min_rto_us), cfg.max_rto_us)

    def _dupack(self) -> None:
        self._dupacks += 1
        if self._dupacks == 3 and seq_diff(self._snd_una, self._recover) >= 0:
            self._recover = self._snd_max
            self._stack.stats.fast_retransmissions += 1
            self._rtt_seq = None
            self._retransmit_head("dupack")

    def _fin_arrives(self) -> None:
        self._rcv_nxt = seq_add(self._rcv_nxt, 1)
        self._peer_closed = True
        self._want_ack()
        st = self._state
        if st is TcpState.ESTABLISHED:
            self._set_state(TcpState.CLOSE_WAIT)
        elif st is TcpState.FIN_WAIT_1:
            self._set_state(TcpState.CLOSING)
        elif st is TcpState.FIN_WAIT_2:
            self._enter_time_wait()
        self._stack._post(self, SocketEvent.READABLE)
        self._notify_closed(CloseReason.FIN)

    def _append_rx(self, buf: Buffer | None, view: memoryview) -> None:
        n = len(view)
        stack = self._stack
        if self._discard_rx:
            # Closed by the application: acknowledge and discard.
            self._rcv_nxt = seq_add(self._rcv_nxt, n)
            stack.stats.bytes_received += n
            if buf is not None:
                buf.free()
            return
        self._rxq.append(_RxChunk(buf, view))
        self._rx_bytes += n
        self._rcv_nxt = seq_add(self._rcv_nxt, n)
        stack.stats.bytes_received += n
        stack._rx_holders[self] = None
        stack._post(self, SocketEvent.READABLE)

    # ---- output ------------------------------------------------------------------

    def _rcv_wnd(self) -> int:
        return max(0, self._stack.config.rx_window - self._rx_bytes)

    def _output(self) -> None:
        """Send queued segments the peer's window allows, in order."""
        st = self._state
        if st in _NOT_SENDING:
            return
        q = self._txq
        while self._next_idx < len(q):
            e = q[self._next_idx]
            if e.payload:
                if st is TcpState.SYN_SENT or st is TcpState.SYN_RECEIVED:
                    return
                if seq_diff(e.end, self._snd_una) > self._snd_wnd:
                    if self._snd_una == self._snd_max:  # nothing in flight: probe
                        self._persist.start_if_idle(self._persist_delay())
                    return
            if e.buffer is None:
                e.buffer = self._stack._alloc_tx()
                if e.buffer is None:
                    self._stack._wait_buffers(self)
                    if not self._blocked_on_alloc:
                        self._blocked_on_alloc = True
                        self._stack.stats.segments_deferred += 1
                        what = "SYN" if e.flags & _SYN else "FIN"
                        self._stack._emit("deferred", conn=self._label, what=what)
                    self._rtx.start_if_idle(self._rto)  # retries count towards a timeout
                    return
            self._blocked_on_alloc = False
            self._persist.cancel()
            self._persist_shift = 0
            self._transmit_entry(e)
            self._next_idx += 1

    def _transmit_entry(self, e: _TxEntry) -> None:
        stack = self._stack
        flags = e.flags if self._state is TcpState.SYN_SENT else e.flags | _ACK
        seg = self._segment(e.seq, flags, e.payload, e.ciphertext,
                            stack.config.mss if e.flags & _SYN else None)
        if e.sent:
            stack.stats.retransmissions += 1
            stack._emit("retransmit", conn=self._label, seq=e.seq, len=len(e.payload),
                        flags=seg.flag_names(), attempt=e.sent)
            if e.end == self._rtt_seq:
                self._rtt_seq = None  # Karn: no sample from a retransmitted segment
        else:
            e.first_sent_us = stack.kernel.now_us
            stack.stats.bytes_sent += len(e.payload)
            if self._rtt_seq is None:
                self._rtt_seq = e.end
                self._rtt_start = stack.kernel.now_us
        e.sent += 1
        end = e.end
        if seq_diff(end, self._snd_max) > 0:
            self._snd_max = end
        self._rtx.start_if_idle(self._rto)
        stack._send(seg)
        self._sent(seg)

    def _retransmit_head(self, why: str) -> None:
        """Go back N: resend the oldest unacknowledged segment, the rest follows acks."""
        if not self._txq:
            return
        e = self._txq[0]
        if e.buffer is None:
            self._next_idx = 0
            self._output()
            return
        self._next_idx = 0
        if why != "rto":
            self._stack._emit("go_back", conn=self._label, why=why, seq=e.seq)
        self._transmit_entry(e)
        self._next_idx = 1

    def _segment(self, seq: int, flags: int, payload: bytes = b"",
                 ciphertext: bool | None = None, mss: int | None = None) -> Segment:
        return Segment(
            self.local_ip, self.local_port, self.remote_ip, self.remote_port,
            seq, self._rcv_nxt if flags & _ACK else 0, Flags(flags), self._rcv_wnd(),
            payload, mss, self._ciphertext if ciphertext is None else ciphertext,
        )

    def _sent(self, seg: Segment) -> None:
        if int(seg.flags) & _ACK:
            self._ack_pending = False
            self._adv_wnd = seg.window
            self._adv_right = seq_add(self._rcv_nxt, seg.window)

    def _want_ack(self) -> None:
        if self._state in _SYNCHRONIZED:
            self._ack_pending = True
            self._stack._acks[self] = None

    def _flush_ack(self) -> None:
        """Send a pure ACK now if one is still owed (a buffer only for the instant)."""
        if not self._ack_pending or self._state not in _SYNCHRONIZED:
            return
        stack = self._stack
        seg = self._segment(self._snd_max, _ACK)  # never "old" at the peer
        if not stack._send_control(seg):
            stack.stats.acks_deferred += 1
            stack._wait_buffers(self)
            self._ack_retry.start_if_idle(ACK_RETRY_US << min(self._ack_retries, 16))
            return
        self._ack_retries = 0
        self._ack_retry.cancel()
        self._sent(seg)

    def _maybe_window_update(self) -> None:
        if self._state not in _RECEIVING:
            return
        wnd = self._rcv_wnd()
        grown = seq_diff(seq_add(self._rcv_nxt, wnd), self._adv_right)
        if grown >= self._stack.config.mss or (self._adv_wnd == 0 and wnd > 0):
            self._want_ack()

    def _buffers_available(self) -> None:
        """The stack saw free buffers: retry whatever waited for one."""
        stack = self._stack
        if self._ack_pending:
            self._flush_ack()
        if self._blocked_on_alloc:
            if stack._can_alloc_tx():
                self._output()
            else:
                stack._wait_buffers(self)
        if self._want_writable:
            if stack._can_alloc_tx():
                self._want_writable = False
                stack._post(self, SocketEvent.WRITABLE)
            else:
                stack._wait_buffers(self)

    # ---- timers ------------------------------------------------------------------

    def _on_rto(self) -> None:
        if not self._txq or self._state in _NOT_SENDING:
            return
        stack = self._stack
        cfg = stack.config
        self._retries += 1
        stack.stats.rto_expirations += 1
        if self._retries > cfg.max_retries:
            stack.stats.timeouts += 1
            stack._emit("timeout", conn=self._label, state=self._state.value,
                        retries=self._retries - 1)
            head = self._txq[0]
            if head.sent:
                waited = (stack.kernel.now_us - head.first_sent_us) / 1_000_000
                self._close_detail = (f"after {head.sent - 1} retransmissions "
                                      f"(no ACK for {waited:.1f} s)")
            else:
                self._close_detail = (f"after {cfg.max_retries} retries (no free IP buffer "
                                      "to send a segment)")
            self._teardown("timeout", CloseReason.TIMEOUT, send_rst=False)
            return
        self._rto = min(self._rto * 2, cfg.max_rto_us)
        stack._emit("rto", conn=self._label, rto_us=self._rto, retries=self._retries)
        self._recover = self._snd_max
        self._dupacks = 0
        self._rtt_seq = None
        self._retransmit_head("rto")
        self._rtx.start(self._rto)

    def _on_persist(self) -> None:
        if not self._txq or self._snd_una != self._snd_max or self._state in _NOT_SENDING:
            return
        e = self._txq[0]
        if seq_diff(e.end, self._snd_una) <= self._snd_wnd:
            self._output()
            return
        stack = self._stack
        cfg = stack.config
        self._probes += 1
        if self._probes > cfg.max_retries:
            stack.stats.timeouts += 1
            stack._emit("timeout", conn=self._label, state=self._state.value,
                        retries=self._probes - 1)
            self._close_detail = (f"after {self._probes - 1} window probes (the peer's "
                                  "receive window stayed closed)")
            self._teardown("timeout", CloseReason.TIMEOUT, send_rst=False)
            return
        stack.stats.window_probes += 1
        stack._emit("probe", conn=self._label, window=self._snd_wnd, probes=self._probes)
        probe = self._segment(seq_add(self._snd_una, -1), _ACK)
        if stack._send_control(probe):
            self._sent(probe)
        self._persist_shift = min(self._persist_shift + 1, 16)
        self._persist.start(self._persist_delay())

    def _persist_delay(self) -> int:
        return min(self._rto << self._persist_shift, self._stack.config.max_rto_us)

    def _on_linger(self) -> None:
        if self._state is TcpState.TIME_WAIT:
            self._finish("time_wait over")
        elif self._state is TcpState.FIN_WAIT_2:
            self._stack._emit("timeout", conn=self._label, state=self._state.value, retries=0)
            idle = self._stack.config.fin_wait_2_us / 1_000_000
            self._close_detail = f"waiting for the peer's FIN (idle for {idle:.1f} s)"
            self._teardown("fin_wait_2 timeout", CloseReason.TIMEOUT, send_rst=False)

    def _on_ack_retry(self) -> None:
        if not self._ack_pending:
            return
        self._ack_retries += 1
        if self._ack_retries > self._stack.config.max_retries:
            self._ack_pending = False  # give up: the peer will retransmit
            self._ack_retries = 0
            return
        self._flush_ack()

    # ---- endings -----------------------------------------------------------------

    def _set_state(self, new: TcpState) -> None:
        old = self._state
        self._state = new
        self._stack._emit("state", conn=self._label, **{"from": old.value, "to": new.value})

    def _enter_time_wait(self) -> None:
        self._set_state(TcpState.TIME_WAIT)
        self._rtx.cancel()
        self._persist.cancel()
        self._linger.start(self._stack.config.time_wait_us)

    def _notify_closed(self, reason: CloseReason) -> None:
        if self._closed_notified:
            return
        self._closed_notified = True
        self._close_reason = reason
        self._stack._post(self, SocketEvent.CLOSED)

    def _cancel_timers(self) -> None:
        self._rtx.cancel()
        self._persist.cancel()
        self._linger.cancel()
        self._ack_retry.cancel()
        self._ack_pending = False

    def _release_tx(self) -> None:
        for e in self._txq:
            e.release()
        self._txq.clear()
        self._next_idx = 0
        self._tx_bytes = 0

    def _release_rx(self) -> None:
        for chunk in self._rxq:
            if chunk.buffer is not None:
                chunk.buffer.free()
        self._rxq.clear()
        self._rx_bytes = 0
        self._stack._rx_holders.pop(self, None)

    def _finish(self, why: str) -> None:
        """The connection is over: forget it (the reason was settled by the caller)."""
        self._cancel_timers()
        self._release_tx()
        self._stack._unregister(self)
        if self._state is not TcpState.CLOSED:
            self._set_state(TcpState.CLOSED)
        if self._close_reason is None:
            self._close_reason = CloseReason.LOCAL
        self._stack._emit("closed", conn=self._label, why=why, reason=self._close_reason.value)

    def _teardown(self, why: str, reason: CloseReason, *, send_rst: bool) -> None:
        """The connection ends before its orderly close: free the send queue, tell the
        owner (no event for this side's own abort or close)."""
        if send_rst:
            rst = self._segment(self._snd_max, _RST | _ACK)
            self._stack._queue_rst(rst, self._label)
        if reason is CloseReason.LOCAL:
            self._closed_notified = True
            if self._close_reason is None:
                self._close_reason = reason
        else:
            self._notify_closed(reason)
        self._finish(why)

    def _forget(self) -> None:
        """Board reset: drop every reference without freeing (the pool is reclaimed)."""
        self._cancel_timers()
        self._txq.clear()
        self._rxq.clear()
        self._rx_bytes = 0
        self._tx_bytes = 0
        self._next_idx = 0
        self._want_writable = False
        self._blocked_on_alloc = False
        self._released = True
        if self._state is not TcpState.CLOSED:
            self._set_state(TcpState.CLOSED)
        if not self._closed_notified:
            self._closed_notified = True
            self._close_reason = CloseReason.RESET

    def _deliver(self, event: SocketEvent) -> None:
        if not self._released and self._handler is not None:
            self._handler(event)


def _check_port(field: str, port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{field}: expected a port number 1..65535, got {port!r}")
    return port
