"""A server that stalls in the middle of its TLS handshake (hostile-servers.md row 28).

:class:`HandshakeStall` is sans-I/O: both server drivers pass the ciphertext of one
handshake through it, the client's bytes on their way into OpenSSL
(:meth:`HandshakeStall.incoming`) and the server's on their way to the wire
(:meth:`HandshakeStall.outgoing`). The cut is made at TLS record boundaries (the 5-byte
record headers), so nobody counts bytes by hand and the same stall holds for every
cipher, version and certificate:

- ``before_server_hello``: the server reads the ClientHello and sends nothing;
- ``after_server_hello``: it sends the first record of its flight (the ServerHello) and
  nothing more;
- ``after_first_flight``: it sends its whole first flight (TLS 1.2: ServerHello to
  ServerHelloDone; TLS 1.3: ServerHello to Finished) and never processes the client's
  answer. A TLS 1.2 client then waits for the server's Finished; a TLS 1.3 client has
  finished its handshake and meets silence on its first command.

In every mode the connection stays up (TCP keeps acknowledging, unlike a link fault that
drops frames) and everything the client sends after the ClientHello is read and thrown
away, until the client gives up. :class:`StalledRawSocket` applies a stall to the raw
socket under the simulated server's TLS session.

This module knows TLS record headers and the stream socket API; nothing about ``ssl``,
engines, kernels or scenario files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, TypeAlias

from scenarios.server.rawsocket import RawSocket, RawSocketWrapper
from stack.api import EventHandler, SocketEvent, SocketState
from stack.tls.records import RECORD_HEADER

TlsStallMode: TypeAlias = Literal["before_server_hello", "after_server_hello",
                                  "after_first_flight"]
TLS_STALL_MODES: Final[tuple[TlsStallMode, ...]] = (
    "before_server_hello", "after_server_hello", "after_first_flight")
_RECORDS_SENT: Final[dict[TlsStallMode, int | None]] = {
    "before_server_hello": 0, "after_server_hello": 1, "after_first_flight": None}


def check_stall(mode: object, nth: object) -> None:
    """Raise ValueError naming the field for a mode or handshake number that is wrong."""
    if mode is not None and mode not in TLS_STALL_MODES:
        expected = ", ".join(repr(m) for m in TLS_STALL_MODES)
        raise ValueError(f"tls_stall: expected one of {expected}, got {mode!r}")
    if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
        raise ValueError(f"tls_stall_nth: expected a handshake number from 1, got {nth!r}")


class HandshakeStall:
    """One handshake's ciphertext, cut at a record boundary (see the module docstring)."""

    def __init__(self, mode: TlsStallMode) -> None:
        check_stall(mode, 1)
        self.mode: TlsStallMode = mode
        self._records_left = _RECORDS_SENT[mode]
        self._server_wrote = False
        self._header = bytearray()
        self._body_left = 0
        self.records_sent = 0
        """Whole records let out so far."""
        self.withheld = 0
        """Server ciphertext bytes never sent."""
        self.discarded = 0
        """Client bytes read and thrown away."""

    @property
    def stalled(self) -> bool:
        """Whether the stall has taken hold (something withheld or thrown away)."""
        return self.withheld > 0 or self.discarded > 0

    def incoming(self, data: bytes) -> bytes:
        """What of the client's ``data`` reaches OpenSSL: everything until the server has
        answered the ClientHello, nothing after."""
        if not self._server_wrote:
            return data
        self.discarded += len(data)
        return b""

    def outgoing(self, data: bytes) -> bytes:
        """What of the server's ciphertext ``data`` goes on the wire."""
        if not data:
            return data
        self._server_wrote = True
        if self._records_left is None:
            index = 0
            while index < len(data):
                index += self._step(data, index)
            return data
        sent = 0
        while sent < len(data) and self._records_left > 0:
            sent += self._step(data, sent)
        self.withheld += len(data) - sent
        return data[:sent]

    def _step(self, data: bytes, index: int) -> int:
        """Take bytes of one header or body from ``data[index:]``; how many were taken."""
        if self._body_left:
            take = min(self._body_left, len(data) - index)
            self._body_left -= take
            if not self._body_left:
                self._record_done()
            return take
        take = min(RECORD_HEADER - len(self._header), len(data) - index)
        self._header += data[index:index + take]
        if len(self._header) == RECORD_HEADER:
            self._body_left = int.from_bytes(self._header[3:5], "big")
            self._header.clear()
            if not self._body_left:
                self._record_done()
        return take

    def _record_done(self) -> None:
        self.records_sent += 1
        if self._records_left is not None:
            self._records_left -= 1


class StalledRawSocket(RawSocketWrapper):
    """The raw socket under a simulated server's TLS session, through a stall.

    ``send`` takes everything and passes on what the stall lets out (holding it while
    TCP pushes back, flushed on the socket's next event); ``recv`` reads everything and
    hands on what the stall lets in. ``on_stall`` is told once, when the stall first
    withholds or throws something away; ``on_discard`` each time client bytes are
    thrown away (how many)."""

    def __init__(self, raw: RawSocket, stall: HandshakeStall, *,
                 on_stall: Callable[[HandshakeStall], None],
                 on_discard: Callable[[int], None]) -> None:
        super().__init__(raw)
        self.stall = stall
        self._on_stall = on_stall
        self._on_discard = on_discard
        self._told = False
        self._out = bytearray()
        self._handler: EventHandler | None = None

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._handler = handler
        self.raw.set_event_handler(None if handler is None else self._on_raw_event)

    def send(self, data: bytes) -> int:
        self._out += self.stall.outgoing(bytes(data))
        self._flush()
        self._tell()
        return len(data)

    def recv(self, max_bytes: int = 65536) -> bytes:
        while True:
            data = self.raw.recv(max_bytes)
            if not data:
                return b""
            kept = self.stall.incoming(data)
            if kept:
                return kept
            self._tell()
            self._on_discard(len(data))

    def close(self) -> None:
        self._flush()
        self.raw.close()

    def _on_raw_event(self, event: SocketEvent) -> None:
        self._flush()
        if self._handler is not None:
            self._handler(event)

    def _flush(self) -> None:
        if self._out and self.raw.state is not SocketState.CLOSED:
            sent = self.raw.send(bytes(self._out))
            del self._out[:max(sent, 0)]

    def _tell(self) -> None:
        if not self._told and self.stall.stalled:
            self._told = True
            self._on_stall(self.stall)
