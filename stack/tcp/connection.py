"""One connection's control block, and the view of its stack it may use.

:class:`Connection` is RFC 9293's transmission control block: every variable of one
connection (state, send and receive sequence space, the two queues of pool buffers,
round-trip estimate, timers) as a plain field that the send path
(:mod:`stack.tcp.send`), the receive path (:mod:`stack.tcp.receive`), the timers
(:mod:`stack.tcp.timeouts`, :mod:`stack.tcp.rtt`) and the endings
(:mod:`stack.tcp.closing`) read and write. Two rules hold over all of them:

* ``state`` changes only through :meth:`Connection.set_state`, the one traced funnel
  for state transitions (a test checks that no other line assigns it);
* a connection sees its stack only through :class:`StackServices`, a small public
  Protocol that :class:`~stack.tcp.stack.TcpStack` implements. The connection never
  imports the stack; the stack imports the connection.

The application never sees a :class:`Connection`: it holds a
:class:`~stack.tcp.socket.TcpSocket`. This module knows segments, buffers and timers;
nothing about links, boards or applications.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from emulator.kernel import Kernel
from emulator.trace import FieldValue, TcpKind
from stack.api import CloseReason, EventHandler, SocketEvent
from stack.pool import Buffer
from stack.segment import Segment
from stack.tcp.config import TcpConfig, TcpStats
from stack.tcp.seq import ACK, FIN, MASK, SYN
from stack.tcp.state import TcpState
from stack.timers import OneShot, TimerService


class StackServices(Protocol):
    """What a connection may ask of the stack that owns it.

    Calls from the application and timer callbacks run inside :meth:`entry` (the
    outermost one settles deferred work); everything a connection wants done after the
    work at hand (events, owed ACKs, retries once buffers are free) it hands over here.
    """

    kernel: Kernel
    timers: TimerService
    ip: str
    config: TcpConfig
    stats: TcpStats
    calls: int
    """Outermost calls into the stack so far (frames, timers, socket calls): while it
    has not moved, nothing but the call at hand has touched any connection."""

    def entry(self) -> AbstractContextManager[None]:
        """A call into the stack; the outermost one settles deferred work on exit."""
        ...

    def guarded(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback`` wrapped as a call into the stack (for timers)."""
        ...

    def tx_buffer_available(self) -> bool:
        """True when a send buffer could be taken now (the pool minus the reserve)."""
        ...

    def alloc_tx(self) -> Buffer | None:
        """A buffer to hold until acknowledged, or None (the reserve is left for input)."""
        ...

    def transmit(self, seg: Segment) -> None:
        """Send ``seg`` whose buffer the caller holds."""
        ...

    def transmit_control(self, seg: Segment) -> bool:
        """Send ``seg`` with a buffer held only while it goes out; False: none free."""
        ...

    def reply_rst(self, seg: Segment) -> None:
        """Queue the RFC 9293 reset answer to ``seg`` (sent once input freed its buffer)."""
        ...

    def queue_rst(self, rst: Segment, label: str) -> None:
        """Queue ``rst`` (of connection ``label``) to go out once the work at hand is done."""
        ...

    def ephemeral_port(self) -> int:
        """A local port no connection or listener uses."""
        ...

    def register(self, conn: Connection) -> None:
        """Deliver segments of ``conn``'s four-tuple to it from now on."""
        ...

    def unregister(self, conn: Connection) -> None:
        """Forget ``conn`` (segments for its four-tuple get a reset from now on)."""
        ...

    def accepted(self, conn: Connection) -> None:
        """A passive connection is established: hand it to its listener."""
        ...

    def post(self, conn: Connection, event: SocketEvent) -> None:
        """Deliver ``event`` to ``conn``'s handler once the work at hand is done."""
        ...

    def owe_ack(self, conn: Connection) -> None:
        """``conn`` owes its peer an ACK: send it once the work at hand is done."""
        ...

    def wait_buffers(self, conn: Connection) -> None:
        """Tell ``conn`` (``buffers_available``) when pool buffers are free again."""
        ...

    def holding_rx(self, conn: Connection) -> None:
        """``conn`` holds received buffers (a board reset must forget them)."""
        ...

    def released_rx(self, conn: Connection) -> None:
        """``conn`` holds no received buffer any more."""
        ...

    def emit(self, kind: TcpKind, **fields: FieldValue) -> None:
        """A trace record of the stack (source ``tcp.<name>``)."""
        ...


class TxEntry:
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
        flags = self.flags
        if flags & (SYN | FIN):
            return (self.seq + len(self.payload)
                    + (2 if flags & SYN and flags & FIN else 1)) & MASK
        return (self.seq + len(self.payload)) & MASK

    def release(self) -> None:
        if self.buffer is not None:
            self.buffer.free()
            self.buffer = None


class RxChunk:
    """Unread bytes of one received segment and the pool buffer it arrived in."""

    __slots__ = ("buffer", "view")

    def __init__(self, buffer: Buffer | None, view: memoryview) -> None:
        self.buffer = buffer
        self.view = view


ConnectionAction = Callable[["Connection"], None]


@dataclass(frozen=True, slots=True)
class TimerActions:
    """What each timer of a connection does when it fires (:mod:`stack.tcp.timeouts`)."""

    retransmit: ConnectionAction
    persist: ConnectionAction
    linger: ConnectionAction
    ack_retry: ConnectionAction


class Connection:
    """The control block of one connection: plain fields, one traced state funnel."""

    __slots__ = (
        "ack_pending", "ack_retries", "ack_retry", "adv_right", "adv_wnd",
        "blocked_on_alloc", "blocked_send_call", "ciphertext", "close_called",
        "close_detail", "close_reason", "closed_notified", "discard_rx", "dupacks",
        "handler", "irs", "iss", "label",
        "linger", "local_ip", "local_port", "mss", "next_idx", "on_accept", "peer_closed",
        "persist", "persist_shift", "probes", "rcv_nxt", "recover", "released",
        "remote_ip", "remote_port", "retries", "rto", "rtt_seq", "rtt_start", "rttvar",
        "rtx", "rx_bytes", "rxq", "snd_end", "snd_max", "snd_una", "snd_wnd", "srtt",
        "stack", "state", "tx_bytes", "txq", "used", "want_writable", "wl1", "wl2",
    )

    def __init__(self, stack: StackServices, actions: TimerActions) -> None:
        self.stack = stack
        self.state = TcpState.CLOSED
        self.close_reason: CloseReason | None = None
        self.close_detail: str | None = None
        self.closed_notified = False
        self.handler: EventHandler | None = None
        self.peer_closed = False
        self.close_called = False
        self.used = False
        self.released = False  # aborted or forgotten: no more events
        self.ciphertext = False
        self.want_writable = False
        self.blocked_send_call = -1  # the stack's ``calls`` when a send() last fell short
        self.blocked_on_alloc = False
        self.ack_pending = False
        self.ack_retries = 0
        self.on_accept: Callable[[], None] | None = None
        self.local_ip = stack.ip
        self.local_port = 0
        self.remote_ip = ""
        self.remote_port = 0
        self.label = "unbound"
        # send side
        self.iss = 0
        self.snd_una = 0
        self.snd_max = 0  # highest sequence number sent + 1
        self.snd_end = 0  # sequence number of the next byte queued
        self.snd_wnd = 0
        self.wl1 = 0
        self.wl2 = 0
        self.mss = stack.config.mss
        self.txq: deque[TxEntry] = deque()
        self.next_idx = 0  # first entry of txq not (re)sent since the last go-back
        self.tx_bytes = 0
        self.dupacks = 0
        self.recover = 0
        # receive side
        self.irs = 0
        self.rcv_nxt = 0
        self.adv_wnd = 0
        self.adv_right = 0
        self.rxq: deque[RxChunk] = deque()
        self.discard_rx = False
        self.rx_bytes = 0
        # round trip and timers
        self.rto = stack.config.initial_rto_us
        self.srtt: int | None = None
        self.rttvar = 0
        self.rtt_seq: int | None = None
        self.rtt_start = 0
        self.retries = 0
        self.probes = 0
        self.persist_shift = 0
        timers, guarded = stack.timers, stack.guarded
        self.rtx = OneShot(timers, guarded(lambda: actions.retransmit(self)))
        self.persist = OneShot(timers, guarded(lambda: actions.persist(self)))
        self.linger = OneShot(timers, guarded(lambda: actions.linger(self)))
        self.ack_retry = OneShot(timers, guarded(lambda: actions.ack_retry(self)))

    def set_state(self, new: TcpState) -> None:
        """The one place ``state`` changes, traced as ``state`` (from, to)."""
        old = self.state
        self.state = new
        self.stack.emit("state", conn=self.label, **{"from": old.value, "to": new.value})

    def bind(self, local_port: int, remote_ip: str, remote_port: int) -> None:
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.label = f"{self.local_ip}:{local_port}-{remote_ip}:{remote_port}"

    def rcv_wnd(self) -> int:
        """The receive window: what is left of ``rx_window`` after the unread bytes."""
        window = self.stack.config.rx_window - self.rx_bytes
        return window if window > 0 else 0

    def segment(self, seq: int, flags: int, payload: bytes = b"",
                ciphertext: bool | None = None, mss: int | None = None) -> Segment:
        """A segment of this connection, acknowledging ``rcv_nxt`` when ``flags`` has ACK."""
        return Segment(
            self.local_ip, self.local_port, self.remote_ip, self.remote_port,
            seq, self.rcv_nxt if flags & ACK else 0, flags, self.rcv_wnd(),
            payload, mss, self.ciphertext if ciphertext is None else ciphertext,
        )

    def deliver(self, event: SocketEvent) -> None:
        """Hand ``event`` to the application's handler (none once released)."""
        if not self.released and self.handler is not None:
            self.handler(event)

    def __repr__(self) -> str:
        return f"<Connection {self.label} {self.state.value}>"
