"""The application's TCP socket, and how a connection opens (actively or passively).

:class:`TcpSocket` is what an application holds (:class:`stack.api.StreamSocket`);
behind it is a :class:`~stack.tcp.connection.Connection` that the send and receive
paths work on. :func:`open_passive` answers a SYN that reached a listener with a new
socket. Application-visible behaviour follows :mod:`stack.api`; the rules it leaves
open are in :class:`TcpSocket`'s docstring.

This module sees the stack only through
:class:`~stack.tcp.connection.StackServices`; it knows nothing about links, boards or
applications.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from stack.api import CloseReason, EventHandler, SocketState
from stack.link import check_ipv4
from stack.pool import Buffer
from stack.segment import Segment
from stack.tcp.closing import finish, release_rx, teardown
from stack.tcp.connection import Connection, StackServices
from stack.tcp.receive import peer_syn, read
from stack.tcp.send import output, queue_data, queue_fin, queue_syn
from stack.tcp.seq import seq_add
from stack.tcp.state import APP_STATE, TcpState
from stack.tcp.timeouts import ACTIONS

AcceptHandler: TypeAlias = Callable[["TcpSocket"], None]


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

    __slots__ = ("_conn",)

    def __init__(self, stack: StackServices) -> None:
        self._conn = Connection(stack, ACTIONS)

    # ---- StreamSocket ------------------------------------------------------------

    @property
    def state(self) -> SocketState:
        return APP_STATE[self._conn.state]

    @property
    def close_reason(self) -> CloseReason | None:
        return self._conn.close_reason

    @property
    def close_detail(self) -> str | None:
        return self._conn.close_detail

    @property
    def peer_closed(self) -> bool:
        return self._conn.peer_closed

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._conn.handler = handler

    def connect(self, host: str, port: int) -> None:
        check_ipv4("host", host)
        _check_port("port", port)
        conn = self._conn
        if conn.used:
            raise RuntimeError(f"connect: socket already used ({self.tcp_state})")
        stack = conn.stack
        with stack.entry():
            conn.used = True
            conn.bind(stack.ephemeral_port(), host, port)
            _choose_iss(conn)
            queue_syn(conn, None)
            stack.register(conn)
            stack.stats.connections_opened += 1
            stack.emit("connect", conn=conn.label, iss=conn.iss)
            conn.set_state(TcpState.SYN_SENT)
            output(conn)

    def send(self, data: bytes) -> int:
        conn = self._conn
        if not data or conn.close_called or conn.state not in (
                TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            return 0
        stack = conn.stack
        if (conn.want_writable and conn.blocked_send_call == stack.calls
                and not stack.tx_buffer_available()):
            # Still blocked: no frame, timer or other call has reached the stack since
            # this socket's last short send (which ended with output()), and no buffer
            # is free, so queue_data would take nothing and output() would send
            # nothing. Senders retry until send() returns 0: this is that last call.
            stack.stats.short_sends += 1
            return 0
        with stack.entry():
            return queue_data(conn, data)

    def recv(self, max_bytes: int = 65536) -> bytes:
        if type(max_bytes) is not int and (not isinstance(max_bytes, int)
                                           or isinstance(max_bytes, bool)):
            raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
        conn = self._conn
        if not conn.rxq:
            return b""
        with conn.stack.entry():
            return read(conn, max_bytes)

    def peek(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of the received data without taking it (no buffer is
        freed, nothing is sent)."""
        parts: list[bytes] = []
        need = max_bytes
        for chunk in self._conn.rxq:
            if need <= 0:
                break
            parts.append(bytes(chunk.view[:need]))
            need -= len(parts[-1])
        return b"".join(parts)

    def close(self) -> None:
        """Close both ways: send FIN after queued data; unread data is released and data
        still arriving is acknowledged and discarded (the app will not read again)."""
        conn = self._conn
        with conn.stack.entry():
            conn.discard_rx = True
            release_rx(conn)
            _shutdown_send(conn)

    def shutdown_send(self) -> None:
        """Half-close: send FIN after queued data and keep receiving."""
        conn = self._conn
        with conn.stack.entry():
            _shutdown_send(conn)

    def abort(self) -> None:
        conn = self._conn
        with conn.stack.entry():
            st = conn.state
            if st is TcpState.CLOSED or st is TcpState.TIME_WAIT:
                release_rx(conn)
                if st is TcpState.TIME_WAIT:
                    finish(conn, "abort")
                conn.released = True
                if conn.close_reason is None:
                    conn.close_reason = CloseReason.LOCAL
                return
            teardown(conn, "abort", CloseReason.LOCAL, send_rst=st is not TcpState.SYN_SENT)
            release_rx(conn)
            conn.released = True

    # ---- extras ------------------------------------------------------------------

    @property
    def local_ip(self) -> str:
        return self._conn.local_ip

    @property
    def local_port(self) -> int:
        return self._conn.local_port

    @property
    def remote_ip(self) -> str:
        return self._conn.remote_ip

    @property
    def remote_port(self) -> int:
        return self._conn.remote_port

    @property
    def local_address(self) -> tuple[str, int] | None:
        conn = self._conn
        return (conn.local_ip, conn.local_port) if conn.local_port else None

    @property
    def remote_address(self) -> tuple[str, int] | None:
        conn = self._conn
        return (conn.remote_ip, conn.remote_port) if conn.remote_port else None

    @property
    def tcp_state(self) -> str:
        return self._conn.state.value

    @property
    def rx_buffered(self) -> int:
        """Received bytes the application has not read yet."""
        return self._conn.rx_bytes

    @property
    def tx_queued(self) -> int:
        """Payload bytes sent but not acknowledged, or not sent yet."""
        return self._conn.tx_bytes

    @property
    def rto_us(self) -> int:
        return self._conn.rto

    def set_ciphertext(self, on: bool) -> None:
        """From now on outgoing segments carry ``Segment.ciphertext=on`` (TLS records)."""
        self._conn.ciphertext = bool(on)

    def __repr__(self) -> str:
        return f"<TcpSocket {self._conn.label} {self._conn.state.value}>"


def open_passive(stack: StackServices, seg: Segment,
                 on_accept: AcceptHandler) -> Connection | None:
    """Answer a SYN that reached a listener with a new socket's SYN-ACK.

    None when no buffer is free for the SYN-ACK (the SYN is dropped). ``on_accept``
    gets the socket once the handshake completes.
    """
    sock = TcpSocket(stack)
    conn = sock._conn
    buf: Buffer | None = stack.alloc_tx()
    if buf is None:
        return None
    conn.used = True
    conn.on_accept = lambda: on_accept(sock)
    conn.bind(seg.dst_port, seg.src_ip, seg.src_port)
    _choose_iss(conn)
    conn.irs = seg.seq
    conn.rcv_nxt = seq_add(seg.seq, 1)
    peer_syn(conn, seg)
    queue_syn(conn, buf)
    stack.register(conn)
    stack.emit("accept", conn=conn.label, iss=conn.iss)
    conn.set_state(TcpState.SYN_RECEIVED)
    output(conn)
    return conn


def _choose_iss(conn: Connection) -> None:
    """Our initial sequence number, from the kernel's seeded generator."""
    conn.iss = conn.stack.kernel.rng.getrandbits(32)
    conn.snd_una = conn.snd_max = conn.iss
    conn.snd_end = seq_add(conn.iss, 1)


def _shutdown_send(conn: Connection) -> None:
    if APP_STATE[conn.state] is SocketState.CLOSED:
        release_rx(conn)
        if conn.close_reason is None:
            conn.close_reason = CloseReason.LOCAL
        return
    if conn.close_called:
        return
    conn.close_called = True
    st = conn.state
    if st in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED):
        teardown(conn, "closed while connecting", CloseReason.LOCAL, send_rst=False)
        return
    queue_fin(conn)
    conn.set_state(TcpState.FIN_WAIT_1 if st is TcpState.ESTABLISHED
                   else TcpState.LAST_ACK)
    output(conn)


def _check_port(field: str, port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{field}: expected a port number 1..65535, got {port!r}")
    return port
