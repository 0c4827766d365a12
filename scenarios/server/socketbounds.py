"""The bounds of :class:`~scenarios.server.limits.ConnectionLimits` carried out on asyncio
sockets, for :mod:`scenarios.server.asyncdriver`.

* :class:`IdleWatch`: a timer that the connection touches whenever a byte comes in or a
  reply goes out, and that calls back when neither happened for the idle timeout.
* :class:`RefusedConnection`: the protocol of a connection beyond ``max_connections``:
  421, then closed; it gets no engine and no verdict.
* :func:`give_back_free_memory`: after a connection that held a lot of mail is gone,
  its memory is freed at once and goes back to the operating system. (A connection's
  objects refer to each other, so they wait for a full garbage collection, which comes
  rarely; and glibc keeps freed heap memory: after a few concurrent 10 MiB mails,
  hundreds of MiB would stay resident.)
* :data:`GATHER_FLUSH_BYTES`: the most client bytes held back while gathering a
  pipelined group (the rest goes to the engine at once); :data:`FEED_SLICE_BYTES`: how
  much goes to the engine between two looks at the write buffer.

This module reads the clock through asyncio's loop and knows transcript lines; it knows
nothing about engines, TLS or scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable
from typing import Final

from scenarios.server.transcript import TranscriptLine, TranscriptSink

GATHER_FLUSH_BYTES: Final = 64 * 1024
"""A pipelined group fits many times over; a mail's content need not wait."""
FEED_SLICE_BYTES: Final = 4096
"""Client bytes go to the engine in slices this big, and none while the replies to the
previous ones wait to be written: one read of pipelined commands cannot pile up replies
without end."""


TRIM_AFTER_BYTES: Final = 1024 * 1024
"""A connection that held this much mail content is followed by
:func:`give_back_free_memory`, :data:`TRIM_DELAY_S` later (when its transport, which
outlives the verdict by a loop turn or two, has let go of it)."""
TRIM_DELAY_S: Final = 0.1


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def give_back_free_memory() -> None:
    """Collect unreachable reference cycles, then return the C heap's free pages to the
    operating system (glibc ``malloc_trim(0)``; skipped where the C library has none).
    Some tens of milliseconds."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class IdleWatch:
    """Calls ``on_idle`` once ``timeout_s`` passed since the last :meth:`touch`."""

    def __init__(self, timeout_s: float, on_idle: Callable[[], None]) -> None:
        self.timeout_s = timeout_s
        self._on_idle = on_idle
        self._handle: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        """Something happened: the idle time starts again."""
        self.cancel()
        self._handle = asyncio.get_running_loop().call_later(self.timeout_s, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._on_idle()


class RefusedConnection(asyncio.Protocol):
    """A connection the server has no room for: ``reply`` (wire bytes), then close. It
    is reported to ``on_line`` as a ``refused`` event of connection ``index``, saying
    ``why``; ``elapsed`` is the server's clock."""

    def __init__(self, reply: bytes, index: int, why: str, on_line: TranscriptSink | None,
                 elapsed: Callable[[], float]) -> None:
        self._reply = reply
        self._index = index
        self._why = why
        self._on_line = on_line
        self._elapsed = elapsed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        if self._on_line is not None:
            self._on_line(TranscriptLine(self._index, self._elapsed(), "refused",
                                         detail=f"{self._why} peer={where}"))
        if isinstance(transport, asyncio.WriteTransport):
            with contextlib.suppress(OSError):
                transport.write(self._reply)
        transport.close()  # after the reply has left

    def data_received(self, data: bytes) -> None:
        """Whatever the client says meanwhile is not listened to."""
