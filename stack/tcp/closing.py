"""How a connection ends: TIME_WAIT, the orderly finish, teardown, and a board reset.

:func:`finish` is the one end of every connection (it frees the send queue, leaves the
stack's table and records ``closed`` with its :data:`EndWhy`); :func:`teardown` ends
it before its orderly close (an RST, a timeout, an abort) and tells the owner;
:func:`forget` drops everything at a board reset without freeing a buffer (the board
reclaims its whole pool). This module works on a
:class:`~stack.tcp.connection.Connection` through its
:class:`~stack.tcp.connection.StackServices`.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from stack.api import CloseReason, SocketEvent
from stack.tcp.connection import Connection
from stack.tcp.seq import ACK, RST
from stack.tcp.state import TcpState

EndWhy: TypeAlias = Literal[
    "closed",  # our FIN and theirs are both acknowledged (LAST_ACK)
    "time_wait over",  # 2*MSL after both FINs
    "closed while connecting",  # close() before the handshake completed
    "abort",  # the application aborted (RST when connected)
    "rst",  # the peer reset the connection
    "refused",  # our SYN was answered with RST
    "timeout",  # retransmissions or window probes ran out
    "fin_wait_2 timeout",  # the peer's FIN never came
    "reopened",  # a new SYN for the 4-tuple of a connection in TIME_WAIT
]
"""How a connection came to its end (the ``why`` of its ``closed`` record)."""


def enter_time_wait(conn: Connection) -> None:
    conn.set_state(TcpState.TIME_WAIT)
    conn.rtx.cancel()
    conn.persist.cancel()
    conn.linger.start(conn.stack.config.time_wait_us)


def notify_closed(conn: Connection, reason: CloseReason) -> None:
    """Tell the owner CLOSED with ``reason`` (once)."""
    if conn.closed_notified:
        return
    conn.closed_notified = True
    conn.close_reason = reason
    conn.stack.post(conn, SocketEvent.CLOSED)


def cancel_timers(conn: Connection) -> None:
    conn.rtx.cancel()
    conn.persist.cancel()
    conn.linger.cancel()
    conn.ack_retry.cancel()
    conn.ack_pending = False


def release_tx(conn: Connection) -> None:
    """Free the send queue's buffers."""
    for e in conn.txq:
        e.release()
    conn.txq.clear()
    conn.next_idx = 0
    conn.tx_bytes = 0


def release_rx(conn: Connection) -> None:
    """Free the receive queue's buffers (unread data is lost)."""
    for chunk in conn.rxq:
        if chunk.buffer is not None:
            chunk.buffer.free()
    conn.rxq.clear()
    conn.rx_bytes = 0
    conn.stack.released_rx(conn)


def finish(conn: Connection, why: EndWhy) -> None:
    """The connection is over: forget it (the reason was settled by the caller)."""
    cancel_timers(conn)
    release_tx(conn)
    conn.stack.unregister(conn)
    if conn.state is not TcpState.CLOSED:
        conn.set_state(TcpState.CLOSED)
    if conn.close_reason is None:
        conn.close_reason = CloseReason.LOCAL
    conn.stack.emit("closed", conn=conn.label, why=why, reason=conn.close_reason.value)


def teardown(conn: Connection, why: EndWhy, reason: CloseReason, *, send_rst: bool) -> None:
    """The connection ends before its orderly close: free the send queue, tell the
    owner (no event for this side's own abort or close)."""
    if send_rst:
        rst = conn.segment(conn.snd_max, RST | ACK)
        conn.stack.queue_rst(rst, conn.label)
    if reason is CloseReason.LOCAL:
        conn.closed_notified = True
        if conn.close_reason is None:
            conn.close_reason = reason
    else:
        notify_closed(conn, reason)
    finish(conn, why)


def forget(conn: Connection) -> None:
    """Board reset: drop every reference without freeing (the pool is reclaimed)."""
    cancel_timers(conn)
    conn.txq.clear()
    conn.rxq.clear()
    conn.rx_bytes = 0
    conn.tx_bytes = 0
    conn.next_idx = 0
    conn.want_writable = False
    conn.blocked_on_alloc = False
    conn.released = True
    if conn.state is not TcpState.CLOSED:
        conn.set_state(TcpState.CLOSED)
    if not conn.closed_notified:
        conn.closed_notified = True
        conn.close_reason = CloseReason.RESET
