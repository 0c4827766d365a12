"""Real TLS (OpenSSL through ``ssl.MemoryBIO``/``SSLObject``) over a non-blocking stream.

:class:`TlsSocket` wraps a connected :class:`~stack.api.StreamSocket` (the raw TCP
socket) and offers the same API, so an application uses it transparently after STARTTLS
or for implicit TLS. It pumps ciphertext between the raw socket and OpenSSL's memory BIOs
and reports everything as socket events, never as an ``ssl`` exception.

Event rules. Events are delivered from the raw socket's callbacks, not from inside the
owner's calls, with one exception: ``start()`` may report CLOSED at once when data
already buffered (an implicit-TLS ClientHello) fails the handshake. An ending found
while the owner reads (``recv()`` decrypting a close_notify) sets ``state`` at once and
is reported with the raw socket's next event (our FIN's answer).

* CONNECTED once the handshake is done AND the certificate check passed.
* READABLE when plaintext was decrypted. Records are decrypted as the owner reads (one
  record ahead), so unread data keeps holding the raw socket's pool buffers and closes
  its TCP window, as on the device. During the handshake, while closing and once TCP
  has ended, everything is taken at once.
* WRITABLE after a short ``send()``, once the ciphertext the raw socket refused is out.
* CLOSED with :attr:`TlsSocket.close_reason` and :attr:`TlsSocket.failure`
  (:class:`TlsFailure`): "handshake" (OpenSSL's own words: "no shared cipher",
  "sslv3 alert handshake failure"), "certificate" (the verifier's reason; the client's
  last handshake flight is not sent), "protocol" (a TLS error after the handshake),
  all with reason LOCAL; "close_notify" (the peer closed TLS; we answer with our
  close_notify and close TCP) with FIN; "transport" (TCP ended under TLS) with the raw
  socket's reason. Plaintext that arrived before stays readable.
* ``close()``/``shutdown()``: close_notify, then FIN; CLOSED (LOCAL, no failure) when
  the peer's FIN is in. ``abort()``: RST at once, no event.

Rules this module keeps:

- OpenSSL never checks the server certificate (it would use the HOST clock). The client
  passes a ``verify`` callable (see :func:`stack.tls.config.client_verifier`) that checks the chain
  against the DEVICE's RTC with :mod:`stack.tls.verify` once the handshake is done.
- TLS work costs no virtual time and reads no clock; OpenSSL's own randomness changes
  only ciphertext content. Record LENGTHS stay the same run to run: no session tickets,
  no compression, no renegotiation, and (with RSA certificates from :mod:`stack.tls.certs`)
  fixed-length signatures. ``start()`` marks the raw socket's output as ciphertext
  (``set_ciphertext(True)``) so the trace hashes it by length.
- Plaintext the raw socket buffered before :meth:`TlsSocket.start` is the caller's
  business (RFC 3207 says to discard it); ``start()`` refuses to run over it.

It knows nothing about SMTP, kernels or boards. TLS 1.3 cipher suites are not settable
from Python's ``ssl`` module, so :class:`~stack.tls.config.TlsConfig` has no field for
them: ``ciphers`` applies to TLS 1.2 and below only (cap ``max_version`` at TLSv1.2 to
make it decisive).
"""

from __future__ import annotations

import contextlib
import enum
import re
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from emulator.trace import FieldValue, TlsKind
from stack.api import CloseReason, EventHandler, SocketEvent, SocketState, StreamSocket
from stack.tls.config import Verifier
from stack.tls.records import RECORD_HEADER, RECORD_PLAINTEXT, RecordBoundaries
from stack.tls.verify import CertificateError

FailureKind: TypeAlias = Literal["handshake", "certificate", "close_notify", "protocol",
                                 "transport"]
TraceHook: TypeAlias = Callable[[TlsKind, dict[str, FieldValue]], object]

SEND_BACKLOG_LIMIT = 16 * 1024  # ciphertext bytes we hold before send() accepts nothing

_TRANSPORT_REASONS: dict[CloseReason, str] = {
    CloseReason.RST: "connection reset by peer",
    CloseReason.TIMEOUT: "connection timed out",
    CloseReason.REFUSED: "connection refused",
    CloseReason.LOCAL: "connection closed locally",
    CloseReason.RESET: "board reset",
}


# ---- the socket --------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFailure:
    """Why a TLS session ended other than by our own orderly close.

    ``kind``: "handshake" (OpenSSL's reason, e.g. "no shared cipher"), "certificate"
    (the verifier's reason), "close_notify" (the peer closed TLS cleanly), "protocol"
    (a TLS error after the handshake, e.g. a fatal alert), "transport" (TCP ended
    under TLS).
    """

    kind: FailureKind
    reason: str


class _Phase(enum.Enum):
    IDLE = "idle"  # constructed, start() not called yet
    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSING = "closing"  # we sent close_notify (or gave up) and closed TCP
    CLOSED = "closed"


_STATES = {
    _Phase.IDLE: SocketState.CONNECTING,
    _Phase.HANDSHAKING: SocketState.CONNECTING,
    _Phase.OPEN: SocketState.ESTABLISHED,
    _Phase.CLOSING: SocketState.CLOSING,
    _Phase.CLOSED: SocketState.CLOSED,
}


def openssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's own words from an ``SSLError`` ("no shared cipher")."""
    text = str(exc)
    match = re.match(r"^(?:\[[^\]]*\]\s*)?(.*?)\s*\(_ssl\.c:\d+\)$", text)
    if match and match.group(1):
        return match.group(1)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return text or type(exc).__name__


class TlsSocket:
    """A TLS stream over a connected raw stream; the same non-blocking API.

    Events to the owner: CONNECTED once the handshake is done and the certificate check
    passed; READABLE when plaintext arrived; WRITABLE when a short ``send()`` may be
    retried (our ciphertext backlog is drained); CLOSED with :attr:`close_reason` and
    :attr:`failure`.
    """

    def __init__(
        self,
        raw: StreamSocket,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
        verify: Verifier | None = None,
        on_trace: TraceHook | None = None,
    ) -> None:
        self._raw = raw
        self._server_side = server_side
        self._verify = verify
        self._on_trace = on_trace
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self._phase = _Phase.IDLE
        self._backlog = bytearray()  # ciphertext the raw socket has not accepted yet
        self._plaintext = bytearray()  # decrypted, not yet read by the owner
        self._records = RecordBoundaries()
        self._handler: EventHandler | None = None
        self._events: deque[SocketEvent] = deque()
        self._dispatching = False
        self._pumping = False
        self._pump_again = False
        self._want_writable = False
        self._close_raw_when_flushed = False
        self._sent_close_notify = False
        self._handshake_done = False
        self._peer_closed = False
        self._close_reason: CloseReason | None = None
        self.failure: TlsFailure | None = None

    # -- StreamSocket API ----------------------------------------------------------

    @property
    def state(self) -> SocketState:
        return _STATES[self._phase]

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def close_detail(self) -> str | None:
        """The transport's detail when the transport ended the session, else None."""
        if self._close_reason in (None, CloseReason.LOCAL):
            return None
        return self._raw.close_detail

    @property
    def peer_closed(self) -> bool:
        return self._peer_closed

    @property
    def raw(self) -> StreamSocket:
        return self._raw

    @property
    def buffered(self) -> int:
        """Decrypted bytes waiting for :meth:`recv` (records not yet decrypted excluded)."""
        return len(self._plaintext)

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._handler = handler

    def connect(self, host: str, port: int) -> None:
        raise RuntimeError("TlsSocket wraps a connected socket: connect the raw socket first")

    def send(self, data: bytes) -> int:
        """Encrypt and queue ``data``; how many bytes were taken (0: wait for WRITABLE).

        Plaintext is taken while the ciphertext the raw socket refused stays below
        :data:`SEND_BACKLOG_LIMIT`. A short count therefore means the raw socket pushed
        back, and WRITABLE follows once that backlog is drained.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"data: expected bytes, got {type(data).__name__}")
        if self._phase is not _Phase.OPEN or self._sent_close_notify or not data:
            return 0
        view = memoryview(data)
        taken = 0
        while taken < len(view) and self._phase is _Phase.OPEN:
            room = SEND_BACKLOG_LIMIT - len(self._backlog)
            if room <= 0:
                break
            count = min(len(view) - taken, room, RECORD_PLAINTEXT)
            try:
                self._ssl.write(view[taken : taken + count])
            except ssl.SSLError as exc:
                self._fail("protocol", openssl_reason(exc))
                self._flush()
                return taken
            taken += count
            self._flush()
        if taken < len(view):
            self._want_writable = True
        return taken

    def recv(self, max_bytes: int = 65536) -> bytes:
        """Up to ``max_bytes`` of plaintext (``b""`` when none has arrived).

        Records are taken from the raw socket only as they are needed here, so what the
        owner has not read keeps holding the raw socket's (pool) buffers.
        """
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
        if self._phase is _Phase.OPEN and not self._pumping:
            self._pull(want=max_bytes, notify=False)
            self._flush()
        chunk = bytes(self._plaintext[:max_bytes])
        del self._plaintext[:max_bytes]
        return chunk

    def close(self) -> None:
        """Orderly close: close_notify, then close TCP (same as :meth:`shutdown`)."""
        self.shutdown()

    def shutdown(self) -> None:
        """Send close_notify (once the handshake is done), then close TCP."""
        if self._phase in (_Phase.CLOSING, _Phase.CLOSED):
            return
        if self._phase is _Phase.IDLE:  # never took the raw socket over
            self._phase = _Phase.CLOSED
            self._close_reason = CloseReason.LOCAL
            self._raw.close()
            return
        if self._phase is _Phase.OPEN:
            self._send_close_notify()
        self._phase = _Phase.CLOSING
        self._close_raw_when_flushed = True
        self._flush()

    def abort(self) -> None:
        """Reset the connection at once: no close_notify, RST on TCP."""
        if self._phase is _Phase.CLOSED:
            return
        self._phase = _Phase.CLOSED
        self._close_reason = CloseReason.LOCAL
        self._backlog.clear()
        self._events.clear()
        self._raw.abort()

    # -- TLS extras ----------------------------------------------------------------

    def start(self, *, buffered_is_tls: bool = False) -> None:
        """Take over the raw socket and begin the handshake (a client sends ClientHello).

        The raw socket must be established with an empty receive queue: plaintext that
        arrived before TLS (after STARTTLS; RFC 3207 says discard it) is the caller's to
        handle, and ``start()`` raises ValueError rather than feed it to OpenSSL. An
        implicit-TLS server, whose peer speaks TLS from the first byte (the ClientHello
        may come with the connection), passes ``buffered_is_tls=True``.
        """
        if self._phase is not _Phase.IDLE:
            raise ValueError(f"start: TLS already started (state {self._phase.value})")
        if self._raw.state is not SocketState.ESTABLISHED:
            raise ValueError(
                f"raw: expected an established connection, state is {self._raw.state.value}"
            )
        unread = _unread_bytes(self._raw)
        if unread and not buffered_is_tls:
            raise ValueError(
                f"raw: {unread} plaintext bytes are unread; discard them before starting TLS"
            )
        self._raw.set_event_handler(self._on_raw_event)
        self._phase = _Phase.HANDSHAKING
        set_ciphertext = getattr(self._raw, "set_ciphertext", None)
        if callable(set_ciphertext):
            set_ciphertext(True)
        self._trace("tls_start", role="server" if self._server_side else "client")
        self._pump()

    def cipher(self) -> tuple[str, str] | None:
        """``(cipher name, protocol version)`` once negotiated, else None."""
        negotiated = self._ssl.cipher()
        version = self._ssl.version()
        if negotiated is None or version is None:
            return None
        return negotiated[0], version  # cipher()[1] is the version that defined the suite

    @property
    def unsent(self) -> int:
        """Ciphertext bytes (our close_notify included) the raw socket has not taken."""
        return len(self._backlog)

    def close_notify_only(self) -> None:
        """Send close_notify but keep TCP open (a server fault): we send no more data
        through TLS; whoever writes on the raw socket next waits for :attr:`unsent` to be
        0, so nothing overtakes the alert."""
        if self._phase is _Phase.OPEN and not self._sent_close_notify:
            self._send_close_notify()
            self._flush()

    # -- pumping -------------------------------------------------------------------

    def _on_raw_event(self, event: SocketEvent) -> None:
        self._pump()

    def _pump(self) -> None:
        if self._pumping:
            self._pump_again = True
            return
        self._pumping = True
        try:
            self._pump_again = True
            while self._pump_again:
                self._pump_again = False
                self._step()
        finally:
            self._pumping = False
        self._dispatch()

    def _step(self) -> None:
        if self._phase is _Phase.CLOSED:
            self._discard_raw_input()
            self._flush()
            return
        if self._phase is _Phase.HANDSHAKING:
            self._handshake()  # the client's first call writes the ClientHello
        if self._phase in (_Phase.OPEN, _Phase.CLOSING):
            self._read_plaintext(notify=True)
        self._pull(want=1, notify=True)
        self._flush()
        self._check_transport()
        if self._want_writable and not self._backlog and self._phase is _Phase.OPEN:
            self._want_writable = False
            self._events.append(SocketEvent.WRITABLE)

    def _pull(self, *, want: int, notify: bool) -> None:
        """Feed OpenSSL from the raw socket, decrypting as records complete.

        During the handshake, while closing and once TCP has ended, everything is taken
        (nobody reads then, and the raw socket's buffers go back). Otherwise one
        TLS record at a time and only until ``want`` plaintext bytes are waiting: like a
        device's TLS library, we decrypt when the application reads.
        """
        while not self._peer_closed and self._phase is not _Phase.CLOSED:
            eager = self._phase is not _Phase.OPEN or self._raw_ended()
            if not eager and len(self._plaintext) >= want:
                break
            chunk = self._raw.recv(65536 if eager else self._to_record_end())
            if not chunk:
                break
            self._records.feed(chunk)
            self._incoming.write(chunk)
            if self._phase is _Phase.HANDSHAKING:
                self._handshake()
            if self._phase in (_Phase.OPEN, _Phase.CLOSING):
                self._read_plaintext(notify=notify)

    def _to_record_end(self) -> int:
        """How much to read to complete the record under way: the whole record at once
        when the raw socket can show its header without taking it (``peek``)."""
        peek = getattr(self._raw, "peek", None)
        ahead = peek(RECORD_HEADER) if callable(peek) else b""
        return self._records.bytes_to_record_end(ahead)

    def _discard_raw_input(self) -> None:
        """TLS is over: what still arrives is never read, but its buffers are freed."""
        while self._raw.recv(65536):
            pass

    def _raw_ended(self) -> bool:
        return self._raw.state is SocketState.CLOSED or self._raw.peer_closed

    def _handshake(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLError as exc:
            self._fail("handshake", openssl_reason(exc))
            return
        if self._verify is not None:
            leaf = self._ssl.getpeercert(binary_form=True)
            try:
                self._verify([leaf] if leaf else [])
            except CertificateError as exc:
                self._outgoing.read()  # our last handshake flight: the peer never gets it
                self._fail("certificate", exc.reason)
                return
        self._handshake_done = True
        self._phase = _Phase.OPEN
        name, version = self.cipher() or ("", "")
        self._trace("tls_established", version=version, cipher=name)
        self._events.append(SocketEvent.CONNECTED)

    def _read_plaintext(self, *, notify: bool) -> None:
        """Decrypt what OpenSSL holds; READABLE (if ``notify``) comes before any CLOSED."""
        received = 0
        error: str | None = None
        close_notify = False
        while self._handshake_done and not self._peer_closed:
            if not self._incoming.pending and not self._ssl.pending():
                # Nothing new to decrypt: OpenSSL would only raise SSLWantReadError (it
                # reads no further ahead than the record under way), which costs more
                # than asking; most calls come here once per segment that arrives.
                break
            try:
                chunk = self._ssl.read(RECORD_PLAINTEXT)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError as exc:
                error = openssl_reason(exc)
                break
            if not chunk:
                close_notify = True
                break
            self._plaintext += chunk
            received += len(chunk)
        if received and notify and SocketEvent.READABLE not in self._events:
            self._events.append(SocketEvent.READABLE)
        if error is not None:
            self._fail("protocol", error)
        elif close_notify:
            self._on_close_notify()

    def _on_close_notify(self) -> None:
        self._peer_closed = True
        self._trace("tls_close_notify_received")
        if self._phase is _Phase.CLOSING:
            return  # our own close is under way; its CLOSED comes from the raw socket
        if not self._sent_close_notify:
            self._send_close_notify()
        self._end("close_notify", "peer sent close_notify", CloseReason.FIN)

    def _send_close_notify(self) -> None:
        # SSLWantReadError: our close_notify is written, the peer's is not read yet.
        with contextlib.suppress(ssl.SSLError):
            self._ssl.unwrap()
        self._sent_close_notify = True
        self._trace("tls_close_notify_sent")

    def _fail(self, kind: FailureKind, reason: str) -> None:
        self._end(kind, reason, CloseReason.LOCAL)

    def _end(self, kind: FailureKind, reason: str, close_reason: CloseReason) -> None:
        """Report CLOSED with a failure and close TCP once our ciphertext is out."""
        if self._phase is _Phase.CLOSED:
            return
        self.failure = TlsFailure(kind, reason)
        self._trace("tls_failure", failure=kind, reason=reason)
        self._phase = _Phase.CLOSED
        self._close_reason = close_reason
        self._close_raw_when_flushed = True
        self._events.append(SocketEvent.CLOSED)

    def _flush(self) -> None:
        if self._outgoing.pending:
            self._backlog += self._outgoing.read()
        if self._raw.state is SocketState.CLOSED:
            self._backlog.clear()  # nowhere to send it
            if self._close_raw_when_flushed:
                self._close_raw_when_flushed = False
                self._raw.close()  # releases a socket the peer closed
            return
        while self._backlog:
            accepted = self._raw.send(bytes(self._backlog))
            if accepted <= 0:
                return
            del self._backlog[:accepted]
        if self._close_raw_when_flushed:
            self._close_raw_when_flushed = False
            self._raw.close()

    def _check_transport(self) -> None:
        """The raw socket ended (or the peer sent FIN) with TLS still up."""
        raw = self._raw
        ended = self._raw_ended()
        if ended and self._phase is _Phase.CLOSING and not self._backlog:
            # Our close is done once the peer's FIN (or RST) is in: CLOSED, as TCP says.
            self._phase = _Phase.CLOSED
            self._close_reason = CloseReason.LOCAL
            self._events.append(SocketEvent.CLOSED)
            return
        if not ended or self._phase not in (_Phase.HANDSHAKING, _Phase.OPEN):
            return
        reason = raw.close_reason or CloseReason.FIN
        if reason is CloseReason.FIN:
            text = (
                "connection closed without close_notify"
                if self._phase is _Phase.OPEN
                else "connection closed by peer during the TLS handshake"
            )
        else:
            text = _TRANSPORT_REASONS[reason]
        self._peer_closed = True
        self._end("transport", text, reason)

    def _dispatch(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._events:
                event = self._events.popleft()
                if self._handler is not None:
                    self._handler(event)
        finally:
            self._dispatching = False

    def _trace(self, trace_kind: TlsKind, **fields: FieldValue) -> None:
        if self._on_trace is not None:
            self._on_trace(trace_kind, dict(fields))


def _unread_bytes(raw: StreamSocket) -> int:
    """How many received bytes the raw socket holds unread (0 when it cannot tell)."""
    for name in ("rx_buffered", "buffered"):  # TcpSocket, HostSocket
        value = getattr(raw, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0
