"""Runs the scripted server engine on real sockets with asyncio, in real time.

The real-socket twin of :mod:`scenarios.server.simdriver`, for real clients: an SMTP
client program, a real board, an emulator.
:class:`~scenarios.server.asyncserver.AsyncServer` listens on an OS socket and gives
each accepted connection its own :class:`~scenarios.server.engine.ServerEngine` (one
shared rule book, so rule counts run across connections, as in the simulation).
Each :class:`AsyncConnection` feeds the engine what the client sends (decrypted under
TLS) and carries out the engine's actions in order: a list starts only after the
previous list's delays have passed. ``Send`` is one ``transport.write`` (one TLS record
under TLS; ``TCP_NODELAY`` is set, so normally one segment); ``Delay`` waits in real
time, scaled and capped by :class:`Pacing` so that a scenario's ten-minute silence does
not cost ten minutes in a test.

Pipelining on real sockets. The engine sees pipelining when the next command arrives in
the same read as the end of a command. A real client that writes MAIL, RCPT and DATA
with three ``write()`` calls has its group split by Nagle's algorithm: MAIL leaves
alone, the rest waits for our ACK. So the driver acknowledges at once (Linux
``TCP_QUICKACK``) and gathers client bytes for ``gather_s`` (20 ms by default) before the
engine sees them. This is sound, not a guess: bytes that arrive while no reply has been
sent were sent without waiting for one. It adds ``gather_s`` to each reply's latency.

TLS is OpenSSL through ``ssl.MemoryBIO`` (:mod:`scenarios.server.tlspipe`), so STARTTLS,
implicit TLS, a stalled handshake and the three ways of dropping TLS behave as in the
simulation: ``tcp_close`` (FIN, no close_notify), ``rst`` (RST) and ``close_notify``
(the alert, TCP stays open, later Sends are plaintext; what the client sends after it is
discarded, and the server closes once the client's own close_notify is in). A failed
handshake is reported to the engine (``on_tls_failed``), which closes. A generated reply
(``SendGenerated``) goes out chunk by chunk as the transport drains. ``StopReading``
pauses reading from the socket (paced like a delay, or for good): the OS receive buffer
fills, its window closes, and the client's TCP stops and probes, as in the simulation
(the idle timeout still applies meanwhile).

Everything the server sees or sends is reported to an optional sink as
:class:`~scenarios.server.transcript.TranscriptLine` (plaintext, with seconds since the
server started, the credentials in client bytes marked by a
:class:`~scenarios.server.authmask.CredentialFinder`), so a caller can print the dialogue
live. The engine's clock (Date checks) is the host's clock.

Bounds (:mod:`scenarios.server.limits`, :mod:`scenarios.server.socketbounds`): content
per mail, per connection and across the server's connections (:attr:`AsyncConnection.hold`
claims from the server's memory budget), idle timeout, open connections, backpressure (a client that
does not read its replies is not read either);
:meth:`~scenarios.server.asyncserver.AsyncServer.release` forgets one.

This module reads the wall clock and touches OS sockets: nothing in the simulated world
may import it. It knows the engine, TLS and asyncio; it knows nothing about scenario
files, verdicts or client programs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol

from scenarios.server import replies as R
from scenarios.server.actions import (
    Action,
    ActionRunner,
    Close,
    DropTls,
    Reset,
    Send,
    SendGenerated,
    Silence,
    StartTls,
    StopReading,
)
from scenarios.server.authmask import CredentialFinder
from scenarios.server.engine import ServerEngine
from scenarios.server.generated import GeneratedStream
from scenarios.server.limits import ConnectionLimits, MemoryBudget
from scenarios.server.mailbox import ReceivedMail
from scenarios.server.realtime import DEFAULT_TLS_NAMES as DEFAULT_TLS_NAMES  # re-exports
from scenarios.server.realtime import Pacing as Pacing
from scenarios.server.realtime import host_clock as host_clock
from scenarios.server.realtime import throwaway_tls as throwaway_tls
from scenarios.server.rules import RuleBook, ServerConfig
from scenarios.server.simdriver import ServerTls
from scenarios.server.socketbounds import (
    FEED_SLICE_BYTES,
    GATHER_FLUSH_BYTES,
    IdleWatch,
)
from scenarios.server.tlspipe import TlsPipe
from scenarios.server.tlsstall import HandshakeStall
from scenarios.server.transcript import TranscriptLine, TranscriptSink, credential_spans
from stack.tls.config import make_context
from stack.tls.session import openssl_reason

CLOSE_LINGER_S: Final = 2.0
"""After our FIN, how long we wait for the client's before closing the socket anyway."""
DEFAULT_GATHER_S: Final = 0.02
"""How long client bytes are gathered before the engine sees them (see the module
docstring: pipelining on real sockets)."""


class ConnectionHost(Protocol):
    """What a connection needs of the server that accepted it
    (:class:`~scenarios.server.asyncserver.AsyncServer`)."""

    config: ServerConfig
    tls: ServerTls | None
    pacing: Pacing
    on_line: TranscriptSink | None
    gather_s: float
    limits: ConnectionLimits
    budget: MemoryBudget
    keep_lines: bool
    connections: list[AsyncConnection]
    rulebook: RuleBook
    handshakes: int

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def next_index(self) -> int: ...

    def elapsed(self) -> float: ...

    def connection_finished(self, connection: AsyncConnection) -> None: ...


class AsyncConnection(asyncio.Protocol):
    """One accepted connection: its engine, its TLS state and its pending actions."""

    def __init__(self, server: ConnectionHost) -> None:
        self.server = server
        self.index = server.next_index()
        self.hold = server.limits.hold(server.config.size_limit, server.budget)
        """The mail content this connection keeps, its share of the server's budget."""
        self.engine = ServerEngine(server.config, server.rulebook, keep_transcript=False,
                                   hold=self.hold)
        self.lines: list[TranscriptLine] = []
        self.peer = "?"
        self.close_reason: str | None = None
        self.closed = False
        self.finished = asyncio.Event()
        self._transport: asyncio.Transport | None = None
        self._tls: TlsPipe | None = None
        self._handshaking = False
        self._tls_dropped = False  # our close_notify is out: nothing more is processed
        self._actions = ActionRunner(self._do, self._delay, lambda: self.closed, self._stream)
        self._generated: GeneratedStream | None = None
        self._peer_eof = False
        self._fin_sent = False
        self._timer: asyncio.TimerHandle | None = None
        self._inbox = bytearray()
        self._gather: asyncio.TimerHandle | None = None
        self._credentials = CredentialFinder()
        self._idle = IdleWatch(server.limits.idle_timeout_s, self._idle_timeout)
        self._unfed = bytearray()
        self._writes_wait = False
        self._not_reading = False  # StopReading: the OS receive buffer fills
        self._read_timer: asyncio.TimerHandle | None = None
        server.connections.append(self)

    @property
    def mailbox(self) -> list[ReceivedMail]:
        return self.engine.mailbox

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self._note("accept", detail=f"peer={self.peer}")
        self._idle.touch()
        self._enqueue(self.engine.on_connect())

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._idle.touch()
        self._ack_now()
        tls = self._tls
        if self._tls_dropped:
            self._discard_after_close_notify(data)
        elif tls is None and self._actions.tls_ahead:  # see ActionRunner.tls_ahead
            self._note("discarded_plaintext", detail=f"length={len(data)}")
        elif tls is None:
            self._gather_plaintext(data)
        elif self._handshaking:
            self._handshake(data)
        elif tls.open:
            self._decrypt(data)
        elif tls.unwrapping:
            rest = tls.after_unwrap(data)
            if rest:
                self._gather_plaintext(rest)
        else:
            self._gather_plaintext(data)

    def eof_received(self) -> bool:
        self._flush_inbox()
        self._peer_eof = True
        if self._fin_sent or not self._actions.running:
            self._finish("peer closed")
        return True  # keep the transport: pending replies may still go out

    def pause_writing(self) -> None:
        """Our replies pile up unread: read and answer nothing more until they left."""
        self._writes_wait = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._writes_wait = False
        if self._generated is not None and self._write_generated():
            self._resume()
        if self._transport is not None and not self._transport.is_closing():
            if not self._not_reading:
                self._transport.resume_reading()
            self._feed(b"")

    def connection_lost(self, exc: Exception | None) -> None:
        self._flush_inbox()
        if exc is None or (isinstance(exc, OSError) and exc.errno == errno.ENOTCONN):
            self._finish("peer closed")
        elif isinstance(exc, ConnectionResetError | BrokenPipeError):
            self._finish("peer reset")
        else:
            self._finish(f"connection lost: {exc}")

    # -- feeding the engine ---------------------------------------------------------------
    def _gather_plaintext(self, data: bytes) -> None:
        """Hold client plaintext for ``gather_s`` before the engine sees it, so that a
        pipelined group split over several segments is one read for the engine."""
        if not data:
            return
        wait = self.server.gather_s
        if wait <= 0:
            self._feed(data)
            return
        self._inbox += data
        if len(self._inbox) >= GATHER_FLUSH_BYTES:
            self._flush_inbox()
        elif self._gather is None:
            self._gather = asyncio.get_running_loop().call_later(wait, self._flush_inbox)

    def _flush_inbox(self) -> None:
        if self._gather is not None:
            self._gather.cancel()
            self._gather = None
        if self._inbox and not self.closed:
            data = bytes(self._inbox)
            self._inbox.clear()
            self._feed(data)

    def _ack_now(self) -> None:
        """Acknowledge at once (Linux ``TCP_QUICKACK``), so that a client's Nagle
        algorithm does not hold back the rest of a pipelined group for a delayed ACK."""
        quickack = getattr(socket, "TCP_QUICKACK", None)
        transport = self._transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if quickack is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)

    def _feed(self, data: bytes) -> None:
        """To the engine in slices, none while our replies pile up (backpressure)."""
        if data:
            self._note("C", data)
        self._unfed += data
        while self._unfed and not self._writes_wait and not self.closed:
            piece = bytes(self._unfed[:FEED_SLICE_BYTES])
            del self._unfed[:FEED_SLICE_BYTES]
            self._enqueue(self.engine.on_data(piece, now=self.server.clock()))

    def _handshake(self, data: bytes) -> None:
        tls = self._tls
        assert tls is not None
        try:
            done = tls.handshake(data)
        except ssl.SSLError as exc:
            self._write_raw(tls.outgoing())
            self._handshaking = False
            reason = openssl_reason(exc)
            self._note("tls_failed", detail=f"reason={reason}")
            self._enqueue(self.engine.on_tls_failed(reason))
            return
        self._write_raw(tls.outgoing())
        self._note_stall()
        if not done:
            return
        self._handshaking = False
        cipher = tls.obj.cipher()
        name = cipher[0] if cipher else "?"
        version = tls.obj.version() or "?"
        self._note("tls_established", detail=f"cipher={name} version={version}")
        self._enqueue(self.engine.on_tls_established(name, version))
        self._decrypt(b"")

    def _note_stall(self) -> None:
        """What a stalled handshake withheld and threw away, for the transcript."""
        for kind, detail in self._tls.stall_news() if self._tls is not None else ():
            self._note(kind, detail=detail)

    def _decrypt(self, data: bytes) -> None:
        tls = self._tls
        assert tls is not None
        try:
            plain, peer_closed = tls.decrypt(data)
        except ssl.SSLError as exc:
            self._feed_nothing_more(f"TLS error: {openssl_reason(exc)}")
            return
        self._gather_plaintext(plain)
        if peer_closed and not self.closed:
            self._flush_inbox()
            self._note("tls_close_notify", detail="the client closed TLS")
            self._write_raw(tls.close_notify())
            tls.unwrapping = False
            self._send_fin()

    def _discard_after_close_notify(self, data: bytes) -> None:
        """After our close_notify nothing the client sends is processed: say how much
        came, and close once the client has answered with its own close_notify."""
        self._note("discarded", detail=f"{len(data)} bytes after the server's close_notify")
        tls = self._tls
        if tls is not None and tls.unwrapping and tls.after_unwrap(data) is None:
            return
        self._send_fin()

    def _feed_nothing_more(self, reason: str) -> None:
        self._abort()
        self._finish(reason)

    # -- carrying out actions in order ----------------------------------------------------
    def _enqueue(self, actions: list[Action]) -> None:
        self._actions.enqueue(actions)
        self._after_actions()

    def _delay(self, us: int) -> bool:
        wait = self.server.pacing.seconds(us)
        if wait <= 0:
            return False
        self._timer = asyncio.get_running_loop().call_later(wait, self._resume)
        return True

    def _resume(self) -> None:
        self._timer = None
        self._actions.resume()
        self._after_actions()

    def _send(self, data: bytes) -> bool:
        """Write ``data`` (encrypted under TLS); False when TLS broke or writes go nowhere."""
        tls = self._tls
        try:
            return self._write_raw(tls.encrypt(data) if tls is not None and tls.open else data)
        except ssl.SSLError as exc:  # the peer's alert, a reset
            self._feed_nothing_more(f"TLS error: {openssl_reason(exc)}")
            return False

    def _stream(self, action: SendGenerated) -> bool:
        """Start a generated reply; True while it waits for the transport to drain."""
        self._generated = GeneratedStream(action.reply)
        return not self._write_generated() and not self.closed

    def _write_generated(self) -> bool:
        """Chunks until the transport pushes back; True (the engine told) once all out."""
        stream = self._generated
        assert stream is not None
        while not stream.done and not self._writes_wait and not self.closed:
            if not self._send(stream.pending()):
                break  # TLS broke, or an RST: the transport drops writes without a word
            stream.took(len(stream.pending()))
        if stream.done:
            self._end_generated()
        return stream.done

    def _end_generated(self) -> None:
        stream, self._generated = self._generated, None
        if stream is not None:
            self._note("tx_generated", detail=f"{stream.reply.describe()}; sent {stream.sent} "
                                              f"sha256={stream.sha256()}")
            self.engine.note_generated(stream.reply.total, stream.sent)

    def _after_actions(self) -> None:
        if not self._actions.running and self._peer_eof and not self.closed:
            self._finish("peer closed")

    def _do(self, action: Action) -> None:
        if isinstance(action, Send):
            self._idle.touch()
            self._note("S", action.data)
            self._send(action.data)
        elif isinstance(action, StartTls):
            self._start_tls()
        elif isinstance(action, Close):
            self._note("close")
            if self._tls is not None and self._tls.open:
                self._write_raw(self._tls.close_notify())
            self._send_fin()
        elif isinstance(action, Reset):
            self._note("reset")
            self._abort()
            self._finish("server reset")
        elif isinstance(action, DropTls):
            self._note("drop_tls", detail=f"mode={action.mode}")
            if action.mode == "close_notify":
                if self._tls is not None and self._tls.open:
                    self._write_raw(self._tls.close_notify())
                    self._tls_dropped = True
            elif action.mode == "rst":
                self._abort()
                self._finish("server dropped TLS (rst)")
            else:
                if self._tls is not None:
                    self._tls.open = False
                self._send_fin()
        elif isinstance(action, Silence):
            self._note("silence")
        elif isinstance(action, StopReading):
            self._stop_reading(action.us)

    def _stop_reading(self, us: int | None) -> None:
        wait = None if us is None else self.server.pacing.seconds(us)
        self._note("stop_reading", detail="for good" if wait is None else f"for {wait:g} s")
        self._not_reading = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        if wait is not None:
            self._read_timer = asyncio.get_running_loop().call_later(wait, self._read_again)

    def _read_again(self) -> None:
        self._read_timer = None
        self._not_reading = False
        self._note("resume_reading")
        transport = self._transport
        if transport is not None and not transport.is_closing() and not self._writes_wait:
            transport.resume_reading()

    def _start_tls(self) -> None:
        params = self.server.tls
        if params is None:
            self._note("tls_failed", detail="reason=the server has no certificate")
            self._enqueue(self.engine.on_tls_failed("no certificate configured"))
            return
        context = make_context(params.config(), server_side=True)
        self.server.handshakes += 1
        stall = None
        if params.stall is not None and self.server.handshakes == params.stall_nth:
            stall = HandshakeStall(params.stall)
        self._tls = TlsPipe(context, stall)
        self._handshaking = True

    # -- the socket ---------------------------------------------------------------------
    def _write_raw(self, data: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing() or self._fin_sent:
            return False
        transport.write(data)  # nothing for b""
        return True

    def _send_fin(self) -> None:
        """Orderly close: FIN now, the socket closed when the client's FIN arrives (or
        after :data:`CLOSE_LINGER_S`)."""
        transport = self._transport
        if self._fin_sent or transport is None:
            return
        self._fin_sent = True
        if self._peer_eof or not transport.can_write_eof():
            self._finish("server closed")
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(CLOSE_LINGER_S, self._finish, "server closed")
        self._write_eof_when_sent()

    def _write_eof_when_sent(self) -> None:
        """The FIN once written data has left (else asyncio's own callback would meet a
        reset peer's ENOTCONN: a traceback); a peer that reset first ends it as reset."""
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(0.01, self._write_eof_when_sent)
            return
        try:
            transport.write_eof()
        except OSError:
            self._abort()
            self._finish("peer reset")

    def _abort(self) -> None:
        """RST: SO_LINGER 0, then close without flushing."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def _finish(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._end_generated()
        self._idle.cancel()
        for handle in (self._timer, self._read_timer):
            if handle is not None:
                handle.cancel()
        self._timer = self._read_timer = None
        if self._gather is not None:
            self._gather.cancel()
            self._gather = None
        self.engine.on_close(reason)
        self._note("closed", detail=f"reason={reason}")
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
        self.finished.set()
        self.server.connection_finished(self)

    def _idle_timeout(self) -> None:
        """Nothing either way for the idle timeout (the server's own delays excepted):
        421, then close (RFC 5321 4.5.3.2.7). Never after _finish: it cancels the watch."""
        if self._actions.running:
            self._idle.touch()
            return
        self._note("idle_timeout", detail=f"after {self._idle.timeout_s:g} s")
        if not self._handshaking:  # inside a TLS handshake, plaintext would be garbage
            self._do(Send(R.encode(R.idle_timeout(self.engine.config.hostname))))
        self._finish("idle timeout")  # the transport closes once the 421 has left

    def abort(self, reason: str) -> None:
        """End the connection now (the server is stopping)."""
        self._abort()
        self._finish(reason)

    def _note(self, kind: str, data: bytes = b"", detail: str = "") -> None:
        secrets = credential_spans(self._credentials, kind, data)
        line = TranscriptLine(self.index, self.server.elapsed(), kind, data, detail, secrets)
        if self.server.keep_lines:
            self.lines.append(line)
        if self.server.on_line is not None:
            self.server.on_line(line)
