"""Runs the scripted server engine on a simulated host, in virtual time.

One :class:`SimServer` listens on a :class:`~stack.simhost.SimHost` port and gives each
accepted connection its own :class:`~scenarios.server.engine.ServerEngine`. The
connection driver feeds the engine what the client sends (decrypted under TLS) and
carries out the engine's actions in order: a list starts only after the previous list's
delays have passed, as a single-threaded server would. ``Send`` is one ``send()`` call,
so one segment (one TLS record under TLS); ``Delay`` waits in virtual time.

Every byte the engine sees or sends is a trace record (``server``/``rx``, ``tx``) in
plaintext, so the transcript is a view of the trace; so is each entry of its reply
ledger (``answer``: :mod:`scenarios.server.ledger`), when the command is taken. After
the server's own close_notify (``DropTls("close_notify")``) nothing the client sends is
processed: it is read, so its buffers go back, and traced as ``discarded``; a Send after
the alert goes out in plaintext on the raw socket, so trace, transcript and pcap show
the same bytes. While the server does not read (``StopReading``, traced ``stop_reading``
and ``resume_reading``) what the client sends stays in the simulated TCP's receive
buffer: the advertised window shrinks to 0 and the client's TCP stops and probes, until
the server reads again. The server's clock (for Date checks) is its configured start
time plus kernel time.

This module knows the kernel, the simulated TCP socket, TLS and the engine; it knows
nothing about the device or its client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from emulator.kernel import Kernel
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
from scenarios.server.engine import ServerEngine
from scenarios.server.generated import GeneratedStream
from scenarios.server.ledger import ANSWER_KIND
from scenarios.server.rawsocket import RawSocket, RawSocketWrapper
from scenarios.server.rules import RuleBook, ServerConfig
from scenarios.server.tlsstall import HandshakeStall, StalledRawSocket, TlsStallMode, check_stall
from stack.api import SocketEvent, SocketState, StreamSocket
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.config import TlsConfig, make_context
from stack.tls.keylog import SecretsCapture
from stack.tls.session import TlsSocket

STREAM_WINDOW: Final = 64 * 1024
"""At most this many bytes of a generated reply wait in TCP's queue (sent or not,
unacknowledged): a client that stops reading costs the server no more."""
STREAM_POLL_US: Final = 1000
"""How soon a generated reply waiting for TCP's queue to drain looks again (doubling,
up to about a second, while nothing drains)."""


@dataclass(frozen=True)
class ServerTls:
    """The server's TLS parameters: certificate chain, accepted ciphers and versions."""

    cert_pem: bytes
    key_pem: bytes
    ciphers: str | None = None
    min_version: str | None = None
    max_version: str | None = None
    keylog_file: str | None = None
    """Append TLS secrets here (``serve`` with ``SSLKEYLOGFILE``); never in the simulation."""
    security_level: int | None = None
    """OpenSSL's security level, lowered to serve a deliberately weak certificate
    (:attr:`stack.tls.badcerts.ServerCertificate.security_level`)."""
    stall: TlsStallMode | None = None
    """Stall in the middle of a handshake (:mod:`scenarios.server.tlsstall`)."""
    stall_nth: int = 1
    """Which of the server's handshakes stalls, counted from 1 across connections."""

    def __post_init__(self) -> None:
        check_stall(self.stall, self.stall_nth)

    def config(self) -> TlsConfig:
        return TlsConfig(ciphers=self.ciphers, min_version=self.min_version,
                         max_version=self.max_version, cert_chain=(self.cert_pem, self.key_pem),
                         keylog_file=self.keylog_file, security_level=self.security_level)


@dataclass
class ServerConnection:
    """One accepted connection: its engine, its socket(s) and its pending actions."""

    server: SimServer
    engine: ServerEngine
    raw: TcpSocket
    index: int
    tls: TlsSocket | None = None
    silent: bool = False
    tls_dropped: bool = False
    """The server sent its close_notify: what still arrives is discarded, not processed,
    and what the rule writes after the alert goes out in plaintext."""
    closed: bool = False
    not_reading: bool = False
    """The server stopped reading (``StopReading``): the client's bytes stay unread."""
    outbox: bytearray = field(default_factory=bytearray)
    engine_tls_pending: bool = False
    splitter: _HandshakeByteSplitter | None = None
    tls_secrets: list[str] = field(default_factory=list)
    """The TLS secrets of this connection (NSS key log lines; never traced)."""
    secrets: SecretsCapture | None = None
    stream: GeneratedStream | None = None
    """The generated reply being written, while it is."""
    stream_waits: int = 0
    actions: ActionRunner = field(init=False)
    source: str = field(init=False)
    """The trace source of this connection's records (``server.c1``)."""

    def __post_init__(self) -> None:
        self.actions = ActionRunner(self._do, self._delay, lambda: self.closed, self._stream)
        self.source = f"{self.server.name}.c{self.index}"

    @property
    def sock(self) -> StreamSocket:
        return self.tls if self.tls is not None else self.raw

    # -- events from the sockets
    def on_event(self, _event: SocketEvent) -> None:
        if self.closed:
            return
        kernel = self.server.kernel
        if self.tls is not None and self.tls.state is SocketState.CLOSED and not self.closed:
            failure = self.tls.failure
            if self.engine_tls_pending:
                self.engine_tls_pending = False
                self._take_secrets()
                reason = f"{failure.kind}: {failure.reason}" if failure else "TLS failed"
                kernel.emit(self.source, "tls_failed", reason=reason)
                self._finish(f"TLS failed: {reason}")
                return
        if self.tls is not None and self.engine_tls_pending \
                and self.tls.state is SocketState.ESTABLISHED:
            self.engine_tls_pending = False
            self._take_secrets()
            if self.splitter is not None:
                self.splitter.splitting = False
            cipher = self.tls.cipher() or ("?", "?")
            kernel.emit(self.source, "tls_established", cipher=cipher[0], version=cipher[1])
            self._enqueue(self.engine.on_tls_established(cipher[0], cipher[1]))
        self._flush()
        self._pump_stream()
        if not self.silent and not self.engine_tls_pending and not self.not_reading \
                and not self.actions.tls_ahead:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                if self.tls_dropped:
                    kernel.emit(self.source, "discarded", length=len(data),
                                why="after the server's close_notify")
                    continue
                kernel.emit_fields(self.source, "rx", {"data": data})
                self._enqueue(self.engine.on_data(data, now=self._now()))
                if self.engine_tls_pending or self.silent or self.not_reading \
                        or self.actions.tls_ahead:
                    break
        sock = self.sock
        if sock.state is SocketState.CLOSED or (sock.peer_closed and not self.actions.running):
            reason = sock.close_reason.value if sock.close_reason else "peer closed"
            self._finish(reason)

    def _now(self) -> datetime | None:
        """The server's clock, for an engine that checks Date headers (None otherwise:
        the engine reads it for nothing else)."""
        if self.engine.config.date_tolerance_hours is None:
            return None
        return self.server.now()

    def _finish(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.connection_closed()
        self._end_stream()
        self._take_secrets()
        self.engine.on_close(reason)
        self.server.kernel.emit(self.source, "closed", reason=reason)
        # Close even a socket already CLOSED (reset by the client): the server will not
        # read again, so what it left unread (a silent server reads nothing) goes back
        # to the server host's pool.
        self.sock.close()

    def _take_secrets(self) -> None:
        if self.secrets is not None:
            self.tls_secrets += self.secrets.take()
            self.secrets = None

    # -- carrying out actions in order
    def _enqueue(self, actions: list[Action]) -> None:
        """Trace the engine's answers (its reply ledger) as it took the commands, then
        carry out what it asked for."""
        for answer in self.engine.take_answers():
            self.server.kernel.emit_fields(self.source, ANSWER_KIND, answer.trace_fields())
        self.actions.enqueue(actions)

    def _delay(self, us: int) -> bool:
        if us <= 0:
            return False
        self.server.kernel.call_later(us, self._resume)
        return True

    def _resume(self) -> None:
        self.actions.resume()
        if not self.actions.running and not self.closed:
            self.on_event(SocketEvent.READABLE)

    def _do(self, action: Action) -> None:
        kernel = self.server.kernel
        if isinstance(action, Send):
            kernel.emit_fields(self.source, "tx", {"data": action.data})
            self.outbox += action.data
            self._flush(one_write=True)
        elif isinstance(action, StartTls):
            self._start_tls()
        elif isinstance(action, Close):
            kernel.emit(self.source, "close")
            self._flush()
            self.sock.close()
        elif isinstance(action, Reset):
            kernel.emit(self.source, "reset")
            self.sock.abort()
            self._finish("server reset")
        elif isinstance(action, DropTls):
            kernel.emit(self.source, "drop_tls", mode=action.mode)
            if action.mode == "close_notify" and self.tls is not None:
                self.tls.close_notify_only()
                self.tls_dropped = True
            elif action.mode == "rst":
                self.raw.abort()
                self._finish("server dropped TLS (rst)")
            else:
                self.raw.close()
        elif isinstance(action, Silence):
            kernel.emit(self.source, "silence")
            self.silent = True
        elif isinstance(action, StopReading):
            self._stop_reading(action.us)

    def _stop_reading(self, us: int | None) -> None:
        kernel = self.server.kernel
        kernel.emit(self.source, "stop_reading",
                    for_us=us, unread=self.raw.rx_buffered)
        self.not_reading = True
        if us is not None:
            kernel.call_later(us, self._resume_reading)

    def _resume_reading(self) -> None:
        if self.closed or not self.not_reading:
            return
        self.not_reading = False
        self.server.kernel.emit(self.source, "resume_reading", unread=self.raw.rx_buffered)
        if not self.actions.running:
            self.on_event(SocketEvent.READABLE)

    def _stream(self, action: SendGenerated) -> bool:
        """Start writing a generated reply; True while it is not all out yet."""
        self.stream = GeneratedStream(action.reply)
        if self._write_stream():
            self._end_stream()
            return False
        return not self.closed

    def _pump_stream(self) -> None:
        """On a socket event: more of the generated reply; once it is all out, the
        actions after it go on."""
        if self.stream is None or self.closed or not self._write_stream():
            return
        self._end_stream()
        self.actions.resume()
        if not self.actions.running and not self.closed:
            self.on_event(SocketEvent.READABLE)

    def _write_stream(self) -> bool:
        """Hand the socket what it takes of the generated reply (after any earlier
        Sends); whether it is all out."""
        stream = self.stream
        assert stream is not None
        if self.outbox:
            self._flush()
            if self.outbox:
                return False
        while not stream.done:
            if self.sock.state is SocketState.CLOSED:
                return False  # _finish ends the stream as abandoned
            room = STREAM_WINDOW - self.raw.tx_queued
            if room <= 0:  # the server host's pool has no bound: keep TCP's queue short
                self.stream_waits += 1  # a client that reads nothing: look less often
                wait = STREAM_POLL_US << min(self.stream_waits - 1, 10)
                self.server.kernel.call_later(wait, self._pump_stream)
                return False
            taken = self.sock.send(stream.pending()[:room])
            if taken <= 0:
                return False
            self.stream_waits = 0
            stream.took(taken)
        return True

    def _end_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is None:
            return
        reply = stream.reply
        self.server.kernel.emit(self.source, "tx_generated", what=reply.describe(),
                                total=reply.total, sent=stream.sent, sha256=stream.sha256())
        self.engine.note_generated(reply.total, stream.sent)

    def _flush(self, *, one_write: bool = False) -> None:
        if not self.outbox or self.sock.state is SocketState.CLOSED:
            return
        if self.tls_dropped:
            self._flush_plaintext_after_tls()
            return
        accepted = self.sock.send(bytes(self.outbox))
        if accepted > 0:
            del self.outbox[:accepted]

    def _flush_plaintext_after_tls(self) -> None:
        """After our close_notify, Sends go on the raw socket in the clear (traced by
        content, not as ciphertext), once the alert itself is out."""
        if self.tls is not None and self.tls.unsent:
            return
        self.raw.set_ciphertext(False)
        accepted = self.raw.send(bytes(self.outbox))
        self.raw.set_ciphertext(True)
        if accepted > 0:
            del self.outbox[:accepted]

    def _start_tls(self) -> None:
        tls_params = self.server.tls
        kernel = self.server.kernel
        if tls_params is None:
            kernel.emit(self.source, "tls_failed", reason="the server has no certificate")
            self._enqueue(self.engine.on_tls_failed("no certificate configured"))
            return
        leftover = self.raw.recv(1 << 20) if not self.server.implicit_tls else b""
        if leftover:
            kernel.emit(self.source, "discarded_plaintext", length=len(leftover))
        context = make_context(tls_params.config(), server_side=True)
        self.secrets = SecretsCapture(context)
        raw: RawSocket = self.raw
        if self.server.config.segmentation == "byte_by_byte":
            # The handshake flight goes out one byte per segment too (hostile-servers.md
            # row 19); application records are already one reply byte each.
            self.splitter = _HandshakeByteSplitter(self.raw)
            raw = self.splitter
        self.server.handshakes += 1
        if tls_params.stall is not None and self.server.handshakes == tls_params.stall_nth:
            raw = StalledRawSocket(raw, HandshakeStall(tls_params.stall),
                                   on_stall=self._on_stall, on_discard=self._on_discard)
        tls = TlsSocket(raw, context, server_side=True)
        self.tls = tls
        self.engine_tls_pending = True
        tls.set_event_handler(self.on_event)
        tls.start(buffered_is_tls=self.server.implicit_tls)
        self.on_event(SocketEvent.CONNECTED)


    def _on_stall(self, stall: HandshakeStall) -> None:
        self.server.kernel.emit(self.source, "tls_stall", mode=stall.mode,
                                records_sent=stall.records_sent)

    def _on_discard(self, length: int) -> None:
        self.server.kernel.emit(self.source, "discarded", length=length,
                                why="the server stalls its TLS handshake")


class _HandshakeByteSplitter(RawSocketWrapper):
    """The raw socket under server-side TLS, sending one byte per segment while
    ``splitting`` (during the handshake); otherwise a plain pass-through."""

    def __init__(self, raw: RawSocket) -> None:
        super().__init__(raw)
        self.splitting = True

    def send(self, data: bytes) -> int:
        if not self.splitting:
            return self.raw.send(data)
        sent = 0
        for index in range(len(data)):
            if self.raw.send(data[index:index + 1]) != 1:
                break
            sent += 1
        return sent


class SimServer:
    """The scripted server listening on a simulated host."""

    def __init__(self, kernel: Kernel, host: SimHost, config: ServerConfig, *, port: int = 25,
                 tls: ServerTls | None = None, clock_start: datetime,
                 name: str = "server", shared_rules: bool = True,
                 max_connections: int | None = None, keep_transcripts: bool = True) -> None:
        self.kernel = kernel
        self.host = host
        self.config = config
        self.port = port
        self.tls = tls
        self.name = name
        self.clock_start = clock_start
        self.implicit_tls = config.implicit_tls
        self.connections: list[ServerConnection] = []
        self.max_connections = max_connections
        self.keep_transcripts = keep_transcripts
        """Whether each engine keeps its own transcript (a copy of every byte; the trace's
        rx/tx records are the same, so a lean run keeps none)."""
        """Connections served at once; one more is greeted with 421 and closed."""
        self.refused = 0
        """Connections refused for ``max_connections`` (each a ``refused`` record)."""
        self.peak_open = 0
        """The most connections open at once."""
        self._open = 0
        self._accepted = 0
        self.handshakes = 0
        """TLS handshakes begun so far, across connections (``ServerTls.stall_nth``)."""
        self._rulebook = RuleBook(config.rules, seed=kernel.seed) if shared_rules else None
        self.on_connection: Callable[[ServerConnection], None] | None = None
        host.stack.listen(port, self._accept)

    def now(self) -> datetime:
        return self.clock_start + timedelta(microseconds=self.kernel.now_us)

    def _accept(self, sock: TcpSocket) -> None:
        self._accepted += 1
        address = sock.remote_address
        peer = f"{address[0]}:{address[1]}" if address else "?"
        if self.max_connections is not None and self._open >= self.max_connections:
            self._refuse(sock, peer)
            return
        engine = ServerEngine(self.config, self._rulebook, seed=self.kernel.seed,
                              keep_transcript=self.keep_transcripts, keep_answers=True)
        conn = ServerConnection(self, engine, sock, index=self._accepted)
        self.connections.append(conn)
        self._open += 1
        self.peak_open = max(self.peak_open, self._open)
        self.kernel.emit(conn.source, "accept", peer=peer)
        sock.set_event_handler(conn.on_event)
        if self.on_connection is not None:
            self.on_connection(conn)
        conn._enqueue(engine.on_connect())

    def _refuse(self, sock: TcpSocket, peer: str) -> None:
        """All connections taken: 421 and close (RFC 5321 3.8), as the asyncio driver."""
        self.refused += 1
        reply = R.encode(R.too_many_connections(self.config.hostname))
        self.kernel.emit(f"{self.name}.c{self._accepted}", "refused", peer=peer,
                         why="max_connections", data=reply)
        sock.send(reply)
        sock.close()

    def connection_closed(self) -> None:
        """A served connection ended (its slot is free again)."""
        self._open -= 1

    def tls_secrets(self) -> list[str]:
        """Every connection's TLS secrets so far, as NSS key log lines."""
        return [line for c in self.connections for line in c.tls_secrets]

    @property
    def mailbox(self) -> list[object]:
        return [m for c in self.connections for m in c.engine.mailbox]
