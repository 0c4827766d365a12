"""The socket API and task primitives that applications program against.

This is the contract between an application task (the SMTP client) and whatever runs
it: the emulated board over the simulated stack (virtual time) or the host runtime over
OS sockets (real time). An application written against this module runs unchanged in
both worlds.

Embedded style: sockets never block. ``send()`` returns how many bytes were accepted
(0 when no buffer is free: wait for ``WRITABLE``), ``recv()`` returns what is there
(``b""`` when nothing is), and state changes arrive as :class:`SocketEvent` callbacks.

Tasks are generators. They yield a :class:`Wait`, :class:`Sleep` or :class:`BusyWait`
request to the runtime and are resumed with the result. This module knows nothing about
kernels, boards, pools or OS sockets; of the trace it knows only the kinds a task may log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from emulator.trace import TraceKind


class SocketEvent(enum.Enum):
    """What a socket tells its owner."""

    CONNECTED = "connected"
    READABLE = "readable"
    WRITABLE = "writable"
    CLOSED = "closed"


class CloseReason(enum.Enum):
    """Why a socket reached CLOSED."""

    FIN = "fin"  # the peer closed its side in order
    RST = "rst"  # the peer reset the connection
    TIMEOUT = "timeout"  # retransmissions or the connect attempt ran out
    REFUSED = "refused"  # the connect attempt was answered with RST
    LOCAL = "local"  # this side closed or aborted it
    RESET = "reset"  # the board was reset under it


class SocketState(enum.Enum):
    CLOSED = "closed"
    CONNECTING = "connecting"
    ESTABLISHED = "established"
    CLOSING = "closing"  # our FIN is queued or in flight


EventHandler: TypeAlias = Callable[[SocketEvent], None]


class StreamSocket(Protocol):
    """A non-blocking, embedded-style TCP (or TLS) stream."""

    @property
    def state(self) -> SocketState: ...

    @property
    def close_reason(self) -> CloseReason | None: ...

    @property
    def close_detail(self) -> str | None:
        """What the stack knows beyond ``close_reason``, or None. For ``TIMEOUT`` a phrase
        that completes "the TCP gave up ...": ``after 8 retransmissions (no ACK for
        102.2 s)``, ``after 8 window probes (...)``, ``(Connection timed out)``."""
        ...

    @property
    def peer_closed(self) -> bool:
        """True once the peer's FIN has arrived (data before it may still be unread)."""
        ...

    def set_event_handler(self, handler: EventHandler | None) -> None: ...

    def connect(self, host: str, port: int) -> None: ...

    def send(self, data: bytes) -> int: ...

    def recv(self, max_bytes: int = 65536) -> bytes: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class NetworkStack(Protocol):
    """What a task needs from a stack: sockets."""

    def socket(self) -> StreamSocket: ...


# ---- task primitives -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sleep:
    """Yield the CPU for ``us`` microseconds."""

    us: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Yield the CPU until :meth:`TaskContext.wake` is called or ``timeout_us`` passes.

    The task is resumed with True when woken, False on timeout. ``timeout_us=None``
    waits forever.
    """

    timeout_us: int | None = None


@dataclass(frozen=True, slots=True)
class BusyWait:
    """Hold the CPU, spinning until ``condition()`` is true (the old-release bug).

    While a task busy-waits the super-loop does not run: interrupts still fill the NIC
    RX ring, but stack input, timers and other tasks wait. ``reason`` says in plain
    words what the task is waiting for (it ends up in a watchdog-reset record).
    """

    condition: Callable[[], bool]
    reason: str


TaskRequest: TypeAlias = Sleep | Wait | BusyWait
Task: TypeAlias = Generator[TaskRequest, bool | None, None]


class TaskContext(Protocol):
    """What a runtime hands a task: a clock, a wake-up call, a stack and a trace hook."""

    @property
    def stack(self) -> NetworkStack: ...

    def now_us(self) -> int:
        """Monotonic time in microseconds (virtual on the board, real on the host)."""
        ...

    def wake(self) -> None:
        """Make the task runnable; a pending :class:`Wait` returns True."""
        ...

    def log(self, kind: TraceKind, **fields: object) -> None:
        """Record an application-level observation (a trace record on the board); ``kind``
        is one of :data:`emulator.trace.TraceKind`, anything else is refused."""
        ...
