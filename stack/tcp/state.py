"""The RFC 9293 connection states and what each one allows.

:class:`TcpState` is the closed set of states a connection can be in (LISTEN lives in
the stack's listener table, not in connections); the sets below name the groups the
send and receive paths test, and :data:`APP_STATE` maps each state to what the
application sees (:class:`stack.api.SocketState`). This module knows no connection.
"""

from __future__ import annotations

import enum
from typing import Final

from stack.api import SocketState


class TcpState(enum.Enum):
    """The RFC 9293 connection states (LISTEN lives in the stack, not in sockets).

    Hashed by identity (members are singletons and compare by identity): ``Enum``'s own
    ``__hash__`` is Python code, and the per-segment path tests the sets below about a
    dozen times per segment. Nothing iterates a set of states, so their order (which
    identity hashing makes vary between processes) never shows."""

    __hash__ = object.__hash__

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


APP_STATE: Final = {
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
"""What the application sees of each state."""

RECEIVING: Final = frozenset({TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2})
"""States in which the peer's data is still taken in."""

SYNCHRONIZED: Final = frozenset(set(TcpState) - {TcpState.CLOSED, TcpState.SYN_SENT,
                                                  TcpState.SYN_RECEIVED})
"""States after the three-way handshake (an ACK may be owed)."""

NOT_SENDING: Final = frozenset({TcpState.CLOSED, TcpState.TIME_WAIT, TcpState.FIN_WAIT_2})
"""States with nothing left to send or retransmit."""
