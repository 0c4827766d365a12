"""The embedded TCP stack: demultiplexing, listeners, buffers, events and resets.

A :class:`TcpStack` is one host's TCP over IPv4, shaped like the device's stack (design
principle 4, "the embedded model is faithful where the bugs live"):

* ``input(segment, buffer)``: one received frame and the pool buffer the NIC put it
  in. The stack owns the buffer from then on: it frees it at once when the frame
  brings no new data (pure ACK, duplicate, out of order, no socket: RST reply), or
  keeps it in the socket's receive queue until the application has read all of it.
* Every outgoing segment with payload, SYN or FIN holds a ``tx`` buffer until that
  sequence space is acknowledged. ``send()``, ``connect()`` and ``close()`` leave
  ``tx_reserve`` buffers free for incoming frames (else a sender could fill the pool
  and then drop the ACKs that would empty it). A pure ACK or RST takes any free
  buffer only for the instant of transmission; without one it is deferred (ACK) or
  not sent (RST).
* Timers come from the :class:`~stack.timers.TimerService` it is given; events reach
  socket handlers synchronously, after the stack has finished the work at hand.

Trace records have source ``tcp.<name>``: connect, accept, listen, unlisten, state
(from/to), retransmit, go_back (fast retransmit), rto, probe (persist), timeout, rst
(direction in/out), ooo_drop, deferred (SYN/FIN waiting for a buffer), tx_blocked
(short send), syn_dropped, closed (why, reason), reset. Segments themselves are traced
by the link.

This module knows TCP, the pool and the timer service. It knows nothing about links,
boards, super-loops or applications. The per-connection state machine is in
:mod:`stack.tcp_socket`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from emulator.checks import check_int
from emulator.kernel import Kernel
from emulator.trace import FieldValue
from stack.api import SocketEvent
from stack.link import check_ipv4
from stack.pool import Buffer, BufferPool
from stack.segment import ETHERNET_HEADER, IPV4_HEADER, TCP_HEADER, Flags, Segment
from stack.tcp_socket import AcceptHandler, TcpSocket, TcpState, seq_add, seq_diff
from stack.timers import TimerService

__all__ = ["AcceptHandler", "TcpConfig", "TcpSocket", "TcpStack", "TcpState", "TcpStats"]

Transmit = Callable[[Segment], None]
_Key = tuple[int, str, int]  # local port, remote ip, remote port


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


FRAME_OVERHEAD = ETHERNET_HEADER + IPV4_HEADER + TCP_HEADER
TX_PURPOSE = "tx"
"""The purpose of every buffer the stack takes to send a segment (``PoolStats``)."""


class TcpStack:
    """One host's TCP: sockets, listeners and the buffers they hold.

    ``mss`` is advertised and caps our segments (``mss + 54`` must fit a pool buffer);
    ``rx_window`` is the receive buffer per connection (the advertised window is what
    is left of it); RTO bounds and ``max_retries`` (retransmissions, or unanswered
    window probes, before TIMEOUT) follow RFC 6298; ``time_wait_us`` is 2*MSL;
    ``fin_wait_2_us`` is how long FIN_WAIT_2 may stay idle before giving up;
    ``tx_reserve`` is how many free buffers sending leaves for incoming frames.
    """

    def __init__(self, kernel: Kernel, *, name: str, ip: str, pool: BufferPool,
                 timers: TimerService, mss: int = 1460, rx_window: int = 4 * 1460,
                 initial_rto_us: int = 1_000_000, min_rto_us: int = 200_000,
                 max_rto_us: int = 60_000_000, max_retries: int = 8,
                 time_wait_us: int = 2_000_000, fin_wait_2_us: int = 60_000_000,
                 first_ephemeral_port: int = 49152, tx_reserve: int = 1) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        check_ipv4("ip", ip)
        if not isinstance(pool, BufferPool):
            raise ValueError(f"pool: expected a BufferPool, got {type(pool).__name__}")
        if not callable(getattr(timers, "start_timer", None)):
            raise ValueError(f"timers: expected a TimerService, got {type(timers).__name__}")
        check_int("mss", mss, 88, 65495)
        if mss + FRAME_OVERHEAD > pool.size:
            raise ValueError(
                f"mss: {mss} makes {mss + FRAME_OVERHEAD}-byte frames, larger than the "
                f"{pool.size}-byte pool buffers (expected at most {pool.size - FRAME_OVERHEAD})"
            )
        check_int("rx_window", rx_window, mss, 65535)
        check_int("min_rto_us", min_rto_us, 1)
        check_int("max_rto_us", max_rto_us, min_rto_us)
        check_int("initial_rto_us", initial_rto_us, min_rto_us, max_rto_us)
        check_int("max_retries", max_retries, 1, 64)
        check_int("time_wait_us", time_wait_us, 0)
        check_int("fin_wait_2_us", fin_wait_2_us, 0)
        check_int("first_ephemeral_port", first_ephemeral_port, 1, 65535)
        high_reserve = None if pool.count is None else pool.count - 1
        check_int("tx_reserve", tx_reserve, 0, high_reserve)
        self.kernel = kernel
        self.name = name
        self.ip = ip
        self.pool = pool
        self.timers = timers
        self.source = f"tcp.{name}"
        self.config = TcpConfig(
            mss=mss, rx_window=rx_window, initial_rto_us=initial_rto_us,
            min_rto_us=min_rto_us, max_rto_us=max_rto_us, max_retries=max_retries,
            time_wait_us=time_wait_us, fin_wait_2_us=fin_wait_2_us,
            first_ephemeral_port=first_ephemeral_port, tx_reserve=tx_reserve,
        )
        self.stats = TcpStats()
        self._transmit: Transmit | None = None
        self._conns: dict[_Key, TcpSocket] = {}
        self._port_use: dict[int, int] = {}
        self._listeners: dict[int, AcceptHandler] = {}
        self._next_port = first_ephemeral_port
        # work finished before returning to the caller (see _settle)
        self._depth = 0
        self._events: deque[Callable[[], None]] = deque()
        self._controls: deque[tuple[Segment, str]] = deque()
        self._acks: dict[TcpSocket, None] = {}
        self._waiters: dict[TcpSocket, None] = {}
        self._rx_holders: dict[TcpSocket, None] = {}

    # ---- wiring ------------------------------------------------------------------

    def attach(self, transmit: Transmit) -> None:
        """Where outgoing segments go (a link port, the board's NIC)."""
        self._transmit = transmit

    def input(self, segment: Segment, buffer: Buffer | None) -> None:
        """One received frame; the stack owns ``buffer`` from here (see module doc)."""
        with self._entry():
            self.stats.segments_received += 1
            if segment.flags & Flags.RST:
                self.stats.rsts_received += 1
            kept = segment.dst_ip == self.ip and self._demux(segment, buffer)
            if not kept and buffer is not None:
                buffer.free()

    # ---- sockets and listeners ---------------------------------------------------

    def socket(self) -> TcpSocket:
        return TcpSocket(self)

    def listen(self, port: int, on_accept: AcceptHandler) -> None:
        """Accept connections on ``port``; ``on_accept(socket)`` runs once each is
        established (then the socket gets CONNECTED)."""
        check_int("port", port, 1, 65535)
        if not callable(on_accept):
            raise ValueError("on_accept: expected a callable taking the new socket")
        if port in self._listeners:
            raise ValueError(f"port: {port} already has a listener on {self.name}")
        self._listeners[port] = on_accept
        self._emit("listen", port=port)

    def unlisten(self, port: int) -> None:
        """Stop accepting on ``port`` (established connections are not affected)."""
        check_int("port", port, 1, 65535)
        if self._listeners.pop(port, None) is None:
            raise ValueError(f"port: nothing listens on {port} on {self.name}")
        self._emit("unlisten", port=port)

    def reset_all(self, reason: str) -> None:
        """Board reset: forget every connection and listener. Nothing is sent and no
        buffer is freed (the board reclaims its whole pool); sockets read CLOSED with
        reason RESET and give no events."""
        victims = list(self._conns.values())
        victims += [s for s in self._rx_holders if s not in self._conns.values()]
        for sock in victims:
            sock._forget()
        self._emit("reset", reason=reason, connections=len(self._conns),
                   listeners=len(self._listeners))
        self._conns.clear()
        self._port_use.clear()
        self._listeners.clear()
        self._events.clear()
        self._controls.clear()
        self._acks.clear()
        self._waiters.clear()
        self._rx_holders.clear()
        self._next_port = self.config.first_ephemeral_port

    @property
    def connections(self) -> list[TcpSocket]:
        """Connections the stack still tracks (TIME_WAIT included), oldest first."""
        return list(self._conns.values())

    @property
    def listening_ports(self) -> list[int]:
        return sorted(self._listeners)

    # ---- demultiplexing ----------------------------------------------------------

    def _demux(self, seg: Segment, buf: Buffer | None) -> bool:
        sock = self._conns.get((seg.dst_port, seg.src_ip, seg.src_port))
        if sock is not None:
            if (sock._state is TcpState.TIME_WAIT and seg.flags & Flags.SYN
                    and not seg.flags & (Flags.ACK | Flags.RST)
                    and seq_diff(seg.seq, sock._rcv_nxt) > 0):
                sock._finish("reopened")  # a new incarnation of the same 4-tuple
            else:
                return sock._arrives(seg, buf)
        flags = seg.flags
        if flags & Flags.RST:
            return False
        on_accept = self._listeners.get(seg.dst_port)
        if on_accept is not None and flags & Flags.SYN and not flags & Flags.ACK:
            if not TcpSocket(self)._open_passive(seg, on_accept):
                self.stats.syns_dropped += 1
                self._emit("syn_dropped", src=f"{seg.src_ip}:{seg.src_port}",
                           port=seg.dst_port)
            return False
        self.stats.no_socket += 1
        self._reply_rst(seg)
        return False

    def _reply_rst(self, seg: Segment) -> None:
        """Queue the RFC 9293 reset answer to ``seg`` (sent once its buffer is free)."""
        if seg.flags & Flags.ACK:
            seq, ack, flags = seg.ack, 0, Flags.RST
        else:
            seq, ack, flags = 0, seq_add(seg.seq, seg.seq_space()), Flags.RST | Flags.ACK
        rst = Segment(self.ip, seg.dst_port, seg.src_ip, seg.src_port, seq, ack, flags, 0)
        self._queue_rst(rst, f"{self.ip}:{seg.dst_port}-{seg.src_ip}:{seg.src_port}")

    def _queue_rst(self, rst: Segment, conn: str) -> None:
        self._controls.append((rst, conn))

    def _register(self, sock: TcpSocket) -> None:
        key = (sock.local_port, sock.remote_ip, sock.remote_port)
        self._conns[key] = sock
        self._port_use[sock.local_port] = self._port_use.get(sock.local_port, 0) + 1

    def _unregister(self, sock: TcpSocket) -> None:
        key = (sock.local_port, sock.remote_ip, sock.remote_port)
        if self._conns.get(key) is sock:
            del self._conns[key]
            left = self._port_use[sock.local_port] - 1
            if left:
                self._port_use[sock.local_port] = left
            else:
                del self._port_use[sock.local_port]
        self._acks.pop(sock, None)
        self._waiters.pop(sock, None)

    def _ephemeral_port(self) -> int:
        first = self.config.first_ephemeral_port
        for _ in range(65536 - first):
            port = self._next_port
            self._next_port = port + 1 if port < 65535 else first
            if port not in self._port_use and port not in self._listeners:
                return port
        raise RuntimeError(f"tcp.{self.name}: no free ephemeral port")

    def _accepted(self, sock: TcpSocket) -> None:
        """A passive connection is established: hand it to its listener."""
        self.stats.connections_accepted += 1
        on_accept = sock._on_accept
        if on_accept is not None:
            self._events.append(lambda: on_accept(sock))
        self._post(sock, SocketEvent.CONNECTED)

    # ---- buffers and segments ----------------------------------------------------

    def _can_alloc_tx(self) -> bool:
        free = self.pool.free_count
        return free is None or free > self.config.tx_reserve

    def tx_buffer_available(self) -> bool:
        """True when ``send()`` could take a buffer now (the pool minus the reserve)."""
        return self._can_alloc_tx()

    def _alloc_tx(self) -> Buffer | None:
        """A buffer to hold until acknowledged, leaving ``tx_reserve`` for input."""
        if not self._can_alloc_tx():
            return None
        return self.pool.alloc(TX_PURPOSE)

    def _send_control(self, seg: Segment) -> bool:
        """Send a segment that holds a buffer only while it is transmitted."""
        buf = self.pool.alloc(TX_PURPOSE)
        if buf is None:
            return False
        self._send(seg)
        buf.free()
        return True

    def _send(self, seg: Segment) -> None:
        if self._transmit is None:
            raise RuntimeError(f"tcp.{self.name}: attach() a transmit function first")
        self.stats.segments_sent += 1
        if seg.flags & Flags.RST:
            self.stats.rsts_sent += 1
        self._transmit(seg)

    # ---- deferred work -----------------------------------------------------------

    def _post(self, sock: TcpSocket, event: SocketEvent) -> None:
        self._events.append(lambda: sock._deliver(event))

    def _wait_buffers(self, sock: TcpSocket) -> None:
        self._waiters[sock] = None

    @contextmanager
    def _entry(self) -> Iterator[None]:
        """Mark a call into the stack; the outermost one settles deferred work."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0:
            self._settle()

    def _guarded(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Wrap a timer callback as a call into the stack."""
        def run() -> None:
            with self._entry():
                callback()
        return run

    def _settle(self) -> None:
        """Finish what the last call left: RSTs (after input freed its buffer), socket
        events, owed ACKs, and sockets waiting for a free buffer."""
        self._depth += 1
        try:
            while True:
                if self._controls:
                    rst, conn = self._controls.popleft()
                    if self._send_control(rst):
                        self._emit("rst", conn=conn, direction="out")
                    else:
                        self.stats.rsts_not_sent += 1
                    continue
                if self._events:
                    self._events.popleft()()
                    continue
                if self._acks:
                    sock = next(iter(self._acks))
                    del self._acks[sock]
                    sock._flush_ack()
                    continue
                if self._waiters and (self.pool.free_count is None or self.pool.free_count):
                    waiting = list(self._waiters)
                    self._waiters.clear()
                    for sock in waiting:
                        sock._buffers_available()
                    if self._events or self._acks or self._controls:
                        continue
                break
        finally:
            self._depth -= 1

    def _emit(self, kind: str, **fields: FieldValue) -> None:
        self.kernel.emit(self.source, kind, **fields)
