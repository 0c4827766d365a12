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
  buffer only for the instant of transmission (:meth:`~stack.pool.BufferPool.lend`: no
  ``alloc``/``free`` records, the count in use rides on the segment's link record);
  without one it is deferred (ACK) or not sent (RST).
* Timers come from the :class:`~stack.timers.TimerService` it is given; events reach
  socket handlers synchronously, after the stack has finished the work at hand.

Trace records have source ``tcp.<name>``: connect, accept, listen, unlisten, state
(from/to), retransmit, go_back (fast retransmit), rto, probe (persist), timeout, rst
(direction in/out), ooo_drop, deferred (SYN/FIN waiting for a buffer), tx_blocked
(the short send that stops sending until WRITABLE), syn_dropped, closed (why, reason),
reset. Segments themselves are traced by the link.

This module knows TCP, the pool and the timer service. It knows nothing about links,
boards, super-loops or applications. Each connection is a
:class:`~stack.tcp.connection.Connection` that sees this stack only through
:class:`~stack.tcp.connection.StackServices`, which :class:`TcpStack` implements.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from emulator.checks import check_int
from emulator.kernel import Kernel
from emulator.trace import FieldValue, TcpKind
from stack.api import SocketEvent
from stack.link import check_ipv4
from stack.pool import Buffer, BufferPool
from stack.segment import Segment
from stack.tcp.closing import finish, forget
from stack.tcp.config import TX_PURPOSE, TcpStats, tcp_config
from stack.tcp.connection import Connection
from stack.tcp.receive import arrives
from stack.tcp.send import buffers_available, flush_ack
from stack.tcp.seq import ACK, RST, SYN, seq_add, seq_diff
from stack.tcp.socket import AcceptHandler, TcpSocket, open_passive
from stack.tcp.state import TcpState
from stack.timers import TimerService

Transmit = Callable[[Segment], None]
_Key = tuple[int, str, int]  # local port, remote ip, remote port


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
        self.config = tcp_config(
            buffer_size=pool.size, buffer_count=pool.count, mss=mss, rx_window=rx_window,
            initial_rto_us=initial_rto_us, min_rto_us=min_rto_us, max_rto_us=max_rto_us,
            max_retries=max_retries, time_wait_us=time_wait_us,
            fin_wait_2_us=fin_wait_2_us, first_ephemeral_port=first_ephemeral_port,
            tx_reserve=tx_reserve,
        )
        self.kernel = kernel
        self.name = name
        self.ip = ip
        self.pool = pool
        self.timers = timers
        self.source = f"tcp.{name}"
        self.stats = TcpStats()
        self._transmit: Transmit | None = None
        self._conns: dict[_Key, Connection] = {}
        self._port_use: dict[int, int] = {}
        self._listeners: dict[int, AcceptHandler] = {}
        self._next_port = first_ephemeral_port
        # work finished before returning to the caller (see _settle)
        self._depth = 0
        self.calls = 0  # outermost calls into the stack so far (frames, timers, sockets)
        self._events: deque[Callable[[], None]] = deque()
        self._controls: deque[tuple[Segment, str]] = deque()
        self._acks: dict[Connection, None] = {}
        self._waiters: dict[Connection, None] = {}
        self._rx_holders: dict[Connection, None] = {}
        self._entry = _Entry(self)

    # ---- wiring ------------------------------------------------------------------

    def attach(self, transmit: Transmit) -> None:
        """Where outgoing segments go (a link port, the board's NIC)."""
        self._transmit = transmit

    def input(self, segment: Segment, buffer: Buffer | None) -> None:
        """One received frame; the stack owns ``buffer`` from here (see module doc)."""
        # ``with self.entry():`` written out (once per frame): the same depth count, and
        # the outermost call settles the deferred work unless an exception is on its way.
        if not self._depth:
            self.calls += 1
        self._depth += 1
        try:
            self.stats.segments_received += 1
            if segment.flags & RST:
                self.stats.rsts_received += 1
            kept = segment.dst_ip == self.ip and self._demux(segment, buffer)
            if not kept and buffer is not None:
                buffer.free()
        except BaseException:
            self._depth -= 1
            raise
        self._depth -= 1
        if not self._depth:
            self._settle()

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
        self.emit("listen", port=port)

    def unlisten(self, port: int) -> None:
        """Stop accepting on ``port`` (established connections are not affected)."""
        check_int("port", port, 1, 65535)
        if self._listeners.pop(port, None) is None:
            raise ValueError(f"port: nothing listens on {port} on {self.name}")
        self.emit("unlisten", port=port)

    def reset_all(self, reason: str) -> None:
        """Board reset: forget every connection and listener. Nothing is sent and no
        buffer is freed (the board reclaims its whole pool); sockets read CLOSED with
        reason RESET and give no events."""
        victims = list(self._conns.values())
        victims += [c for c in self._rx_holders if c not in self._conns.values()]
        for conn in victims:
            forget(conn)
        self.emit("reset", reason=reason, connections=len(self._conns),
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
    def connections(self) -> list[Connection]:
        """Connections the stack still tracks (TIME_WAIT included), oldest first."""
        return list(self._conns.values())

    @property
    def listening_ports(self) -> list[int]:
        return sorted(self._listeners)

    # ---- demultiplexing ----------------------------------------------------------

    def _demux(self, seg: Segment, buf: Buffer | None) -> bool:
        conn = self._conns.get((seg.dst_port, seg.src_ip, seg.src_port))
        if conn is not None:
            if (conn.state is TcpState.TIME_WAIT and seg.flags & SYN
                    and not seg.flags & (ACK | RST)
                    and seq_diff(seg.seq, conn.rcv_nxt) > 0):
                finish(conn, "reopened")  # a new incarnation of the same 4-tuple
            else:
                return arrives(conn, seg, buf)
        flags = seg.flags
        if flags & RST:
            return False
        on_accept = self._listeners.get(seg.dst_port)
        if on_accept is not None and flags & SYN and not flags & ACK:
            if open_passive(self, seg, on_accept) is None:
                self.stats.syns_dropped += 1
                self.emit("syn_dropped", src=f"{seg.src_ip}:{seg.src_port}",
                          port=seg.dst_port)
            return False
        self.stats.no_socket += 1
        self.reply_rst(seg)
        return False

    # ---- StackServices: what a connection may ask --------------------------------

    def reply_rst(self, seg: Segment) -> None:
        """Queue the RFC 9293 reset answer to ``seg`` (sent once its buffer is free)."""
        if seg.flags & ACK:
            seq, ack, flags = seg.ack, 0, RST
        else:
            seq, ack, flags = 0, seq_add(seg.seq, seg.seq_space()), RST | ACK
        rst = Segment(self.ip, seg.dst_port, seg.src_ip, seg.src_port, seq, ack, flags, 0)
        self.queue_rst(rst, f"{self.ip}:{seg.dst_port}-{seg.src_ip}:{seg.src_port}")

    def queue_rst(self, rst: Segment, label: str) -> None:
        self._controls.append((rst, label))

    def register(self, conn: Connection) -> None:
        key = (conn.local_port, conn.remote_ip, conn.remote_port)
        self._conns[key] = conn
        self._port_use[conn.local_port] = self._port_use.get(conn.local_port, 0) + 1

    def unregister(self, conn: Connection) -> None:
        key = (conn.local_port, conn.remote_ip, conn.remote_port)
        if self._conns.get(key) is conn:
            del self._conns[key]
            left = self._port_use[conn.local_port] - 1
            if left:
                self._port_use[conn.local_port] = left
            else:
                del self._port_use[conn.local_port]
        self._acks.pop(conn, None)
        self._waiters.pop(conn, None)

    def ephemeral_port(self) -> int:
        first = self.config.first_ephemeral_port
        for _ in range(65536 - first):
            port = self._next_port
            self._next_port = port + 1 if port < 65535 else first
            if port not in self._port_use and port not in self._listeners:
                return port
        raise RuntimeError(f"tcp.{self.name}: no free ephemeral port")

    def accepted(self, conn: Connection) -> None:
        """A passive connection is established: hand it to its listener."""
        self.stats.connections_accepted += 1
        on_accept = conn.on_accept
        if on_accept is not None:
            self._events.append(on_accept)
        self.post(conn, SocketEvent.CONNECTED)

    def tx_buffer_available(self) -> bool:
        """True when ``send()`` could take a buffer now (the pool minus the reserve)."""
        st = self.pool.stats  # the pool's free_count without its property call: this
        count = st.count  # runs several times per segment sent
        return count is None or count - st.in_use > self.config.tx_reserve

    def alloc_tx(self) -> Buffer | None:
        """A buffer to hold until acknowledged, leaving ``tx_reserve`` for input."""
        if not self.tx_buffer_available():
            return None
        return self.pool.alloc(TX_PURPOSE)

    def transmit_control(self, seg: Segment) -> bool:
        """Send a segment that holds a buffer only while it is transmitted (lent by the
        pool: a traced pool's count in use goes on the segment's link record)."""
        in_use = self.pool.lend(TX_PURPOSE)
        if in_use is None:
            return False
        if self.pool.traced:
            seg.pool_in_use = in_use
        self.transmit(seg)
        return True

    def transmit(self, seg: Segment) -> None:
        if self._transmit is None:
            raise RuntimeError(f"tcp.{self.name}: attach() a transmit function first")
        self.stats.segments_sent += 1
        if seg.flags & RST:
            self.stats.rsts_sent += 1
        self._transmit(seg)

    def post(self, conn: Connection, event: SocketEvent) -> None:
        self._events.append(lambda: conn.deliver(event))

    def owe_ack(self, conn: Connection) -> None:
        self._acks[conn] = None

    def wait_buffers(self, conn: Connection) -> None:
        self._waiters[conn] = None

    def holding_rx(self, conn: Connection) -> None:
        self._rx_holders[conn] = None

    def released_rx(self, conn: Connection) -> None:
        self._rx_holders.pop(conn, None)

    def entry(self) -> _Entry:
        """Mark a call into the stack; the outermost one settles deferred work."""
        return self._entry

    def guarded(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Wrap a timer callback as a call into the stack."""
        def run() -> None:
            with self.entry():
                callback()
        return run

    def emit(self, kind: TcpKind, **fields: FieldValue) -> None:
        self.kernel.emit_fields(self.source, kind, fields)  # a fresh dict: no second copy

    # ---- deferred work -----------------------------------------------------------

    def _settle(self) -> None:
        """Finish what the last call left: RSTs (after input freed its buffer), socket
        events, owed ACKs, and sockets waiting for a free buffer."""
        self._depth += 1
        try:
            while True:
                if self._controls:
                    rst, label = self._controls.popleft()
                    if self.transmit_control(rst):
                        self.emit("rst", conn=label, direction="out")
                    else:
                        self.stats.rsts_not_sent += 1
                    continue
                if self._events:
                    self._events.popleft()()
                    continue
                if self._acks:
                    conn = next(iter(self._acks))
                    del self._acks[conn]
                    flush_ack(conn)
                    continue
                if self._waiters and self._waiters_may_progress():
                    waiting = list(self._waiters)
                    self._waiters.clear()
                    for conn in waiting:
                        buffers_available(conn)
                    if self._events or self._acks or self._controls:
                        continue
                break
        finally:
            self._depth -= 1


    def _waiters_may_progress(self) -> bool:
        """Whether retrying the sockets that wait for a buffer can change anything now.

        A pure ACK may take any free buffer; everything else waits for one beyond
        ``tx_reserve``. With only the reserve free and no ACK owed, every retry would
        find no buffer and wait again, with nothing else done (a sender blocked on a
        full pool settles twice per segment it sends), so the pass is left out."""
        free = self.pool.free_count
        if free is None or free > self.config.tx_reserve:  # None: unbounded
            return True
        if free == 0:
            return False
        for conn in self._waiters:  # noqa: SIM110 - any() over a generator costs more
            if conn.ack_pending:
                return True
        return False


class _Entry:
    """The context of a call into the stack (``with stack.entry():``): counts the depth,
    and the outermost exit settles the deferred work. A plain class rather than a
    ``@contextmanager`` generator: entered for every frame, timer and socket call
    (40 times cheaper)."""

    __slots__ = ("_stack",)

    def __init__(self, stack: TcpStack) -> None:
        self._stack = stack

    def __enter__(self) -> None:
        stack = self._stack
        if not stack._depth:
            stack.calls += 1
        stack._depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        stack = self._stack
        stack._depth -= 1
        if stack._depth == 0 and exc_type is None:  # an exception leaves the work as it is
            stack._settle()
