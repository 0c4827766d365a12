"""Tests for stack.tls.session: real OpenSSL handshakes, transfers, typed failures, determinism.

Two TlsSockets talk through :class:`PipeEnd`, an in-memory stream pair driven by the
kernel (ordered delivery after a fixed latency, FIN, RST, and a cap on bytes in flight
so that ``send()`` accepts fewer bytes or none). The pipe stands in for TCP, which these
tests do not claim to check; everything TLS is real OpenSSL.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import pytest

from emulator.kernel import Kernel
from emulator.trace import FieldValue, Opaque
from emulator.units import SECOND
from stack.api import CloseReason, EventHandler, SocketEvent, SocketState
from stack.link import Link
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.certs import DEFAULT_SERVER_NAMES, Pki, default_test_pki, generate_ca, make_ca
from stack.tls.config import TlsConfig, client_verifier, make_context
from stack.tls.session import SEND_BACKLOG_LIMIT, TlsFailure, TlsSocket, openssl_reason

LATENCY_US = 1000
RTC_2025 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TLS12_CIPHER = "ECDHE-RSA-AES256-SHA"

# ---- an in-memory stream pair --------------------------------------------------------


class PipeEnd:
    """One end of :func:`pipe`; implements the StreamSocket API (plus set_ciphertext)."""

    def __init__(self, kernel: Kernel, *, in_flight_limit: int, latency_us: int) -> None:
        self.kernel = kernel
        self.in_flight_limit = in_flight_limit
        self.latency_us = latency_us
        self.peer: PipeEnd | None = None
        self._state = SocketState.ESTABLISHED
        self._close_reason: CloseReason | None = None
        self._peer_closed = False
        self._handler: EventHandler | None = None
        self._rx = bytearray()
        self._in_flight = 0
        self._refused = False
        self.sent_chunks: list[int] = []
        self.sent_bytes = bytearray()
        self.ciphertext_from: int | None = None  # len(sent_bytes) when set_ciphertext(True)

    @property
    def state(self) -> SocketState:
        return self._state

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def close_detail(self) -> str | None:
        return None

    @property
    def peer_closed(self) -> bool:
        return self._peer_closed

    @property
    def buffered(self) -> int:
        return len(self._rx)

    def set_event_handler(self, handler: EventHandler | None) -> None:
        self._handler = handler

    def set_ciphertext(self, on: bool) -> None:
        if on and self.ciphertext_from is None:
            self.ciphertext_from = len(self.sent_bytes)

    def connect(self, host: str, port: int) -> None:
        raise RuntimeError("pipe ends are born connected")

    def send(self, data: bytes) -> int:
        if self._state is not SocketState.ESTABLISHED:
            return 0
        count = min(len(data), self.in_flight_limit - self._in_flight)
        if count <= 0:
            self._refused = True
            return 0
        chunk = bytes(data[:count])
        self._in_flight += count
        self.sent_chunks.append(count)
        self.sent_bytes += chunk
        self.kernel.call_later(self.latency_us, self._arrive, chunk)
        return count

    def recv(self, max_bytes: int = 65536) -> bytes:
        chunk = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return chunk

    def close(self) -> None:
        if self._state is SocketState.ESTABLISHED:
            self._state = SocketState.CLOSING
            self.kernel.call_later(self.latency_us, self._fin_arrives)

    def abort(self) -> None:
        if self._state is not SocketState.CLOSED:
            self._state = SocketState.CLOSED
            self._close_reason = CloseReason.LOCAL
            self.kernel.call_later(self.latency_us, self._rst_arrives)

    def _emit(self, event: SocketEvent) -> None:
        if self._handler is not None:
            self._handler(event)

    def _arrive(self, chunk: bytes) -> None:
        self._in_flight -= len(chunk)
        peer = self.peer
        assert peer is not None
        if peer._state is not SocketState.CLOSED or peer._peer_closed:
            peer._rx += chunk
            peer._emit(SocketEvent.READABLE)
        if self._refused and self._state is SocketState.ESTABLISHED:
            self._refused = False
            self._emit(SocketEvent.WRITABLE)

    def _fin_arrives(self) -> None:
        peer = self.peer
        assert peer is not None
        self._state = SocketState.CLOSED
        self._close_reason = CloseReason.LOCAL
        self._emit(SocketEvent.CLOSED)
        if peer._state is SocketState.CLOSED:
            return
        peer._peer_closed = True
        if peer._state is SocketState.ESTABLISHED:
            peer._state = SocketState.CLOSED
            peer._close_reason = CloseReason.FIN
            peer._emit(SocketEvent.CLOSED)

    def _rst_arrives(self) -> None:
        peer = self.peer
        assert peer is not None
        if peer._state is not SocketState.CLOSED:
            peer._state = SocketState.CLOSED
            peer._close_reason = CloseReason.RST
            peer._rx.clear()
            peer._emit(SocketEvent.CLOSED)


def pipe(kernel: Kernel, *, in_flight_limit: int = 1 << 20,
         latency_us: int = LATENCY_US) -> tuple[PipeEnd, PipeEnd]:
    """A connected (client end, server end) pair."""
    a = PipeEnd(kernel, in_flight_limit=in_flight_limit, latency_us=latency_us)
    b = PipeEnd(kernel, in_flight_limit=in_flight_limit, latency_us=latency_us)
    a.peer, b.peer = b, a
    return a, b


# ---- a client and a server over the pipe ---------------------------------------------


RawT = TypeVar("RawT")


@dataclass
class End(Generic[RawT]):
    """One TLS end, its raw socket and what its owner observed."""

    tls: TlsSocket
    raw: RawT
    events: list[tuple[int, SocketEvent]] = field(default_factory=list)
    traces: list[tuple[str, dict[str, FieldValue]]] = field(default_factory=list)

    def saw(self, event: SocketEvent) -> bool:
        return any(e is event for _, e in self.events)

    def count(self, event: SocketEvent) -> int:
        return sum(1 for _, e in self.events if e is event)


@dataclass
class Session:
    kernel: Kernel
    client: End[PipeEnd]
    server: End[PipeEnd]


def client_config(pki: Pki | None = None, **overrides: object) -> TlsConfig:
    pki = pki or default_test_pki()
    fields: dict[str, object] = {"ca_pem": pki.ca.cert_pem, "server_name": "smtp.example.test"}
    fields.update(overrides)
    return TlsConfig(**fields)  # type: ignore[arg-type]


def server_config(pki: Pki | None = None, **overrides: object) -> TlsConfig:
    pki = pki or default_test_pki()
    fields: dict[str, object] = {"cert_chain": (pki.leaf.cert_pem, pki.leaf.key_pem)}
    fields.update(overrides)
    return TlsConfig(**fields)  # type: ignore[arg-type]


def make_end(kernel: Kernel, raw: PipeEnd, config: TlsConfig, *, server_side: bool,
             rtc: datetime = RTC_2025) -> End[PipeEnd]:
    traces: list[tuple[str, dict[str, FieldValue]]] = []
    tls = TlsSocket(
        raw,
        make_context(config, server_side=server_side),
        server_side=server_side,
        server_hostname=config.server_name,
        verify=None if server_side else client_verifier(config, lambda: rtc),
        on_trace=lambda kind, fields: traces.append((kind, fields)),
    )
    end = End(tls=tls, raw=raw, traces=traces)
    tls.set_event_handler(lambda event: end.events.append((kernel.now_us, event)))
    return end


def session(client_cfg: TlsConfig | None = None, server_cfg: TlsConfig | None = None, *,
            rtc: datetime = RTC_2025, in_flight_limit: int = 1 << 20,
            run: bool = True) -> Session:
    kernel = Kernel(seed=7)
    a, b = pipe(kernel, in_flight_limit=in_flight_limit)
    client = make_end(kernel, a, client_cfg or client_config(), server_side=False, rtc=rtc)
    server = make_end(kernel, b, server_cfg or server_config(), server_side=True)
    server.tls.start()
    client.tls.start()
    if run:
        kernel.run()
    return Session(kernel, client, server)


def tls12() -> tuple[TlsConfig, TlsConfig]:
    return (
        client_config(ciphers=TLS12_CIPHER, max_version="TLSv1.2"),
        server_config(ciphers=TLS12_CIPHER, max_version="TLSv1.2"),
    )


# ---- handshakes ----------------------------------------------------------------------


def test_tls13_defaults_handshake_and_exchange() -> None:
    s = session()
    for end in (s.client, s.server):
        assert end.saw(SocketEvent.CONNECTED)
        assert end.tls.state is SocketState.ESTABLISHED
        assert end.tls.failure is None
        assert end.tls.cipher() is not None
        assert end.tls.cipher()[1] == "TLSv1.3"  # type: ignore[index]
    assert s.client.tls.send(b"EHLO device\r\n") == 13
    s.kernel.run()
    assert s.server.tls.recv() == b"EHLO device\r\n"
    assert s.server.tls.send(b"250 ok\r\n") == 8
    s.kernel.run()
    assert s.client.saw(SocketEvent.READABLE)
    assert s.client.tls.recv() == b"250 ok\r\n"
    assert s.client.tls.recv() == b""


def test_tls12_with_ecdhe_rsa_aes256_sha() -> None:
    s = session(*tls12())
    assert s.client.tls.cipher() == (TLS12_CIPHER, "TLSv1.2")
    assert s.server.tls.cipher() == (TLS12_CIPHER, "TLSv1.2")
    assert s.client.saw(SocketEvent.CONNECTED) and s.server.saw(SocketEvent.CONNECTED)
    assert ("tls_established", {"version": "TLSv1.2", "cipher": TLS12_CIPHER}) in s.client.traces


def test_handshake_costs_only_link_latency() -> None:
    s = session()
    # TLS 1.3: ClientHello out, server flight back: the client is done after two trips.
    assert s.client.events[0] == (2 * LATENCY_US, SocketEvent.CONNECTED)
    assert s.server.events[0] == (3 * LATENCY_US, SocketEvent.CONNECTED)


def test_set_ciphertext_before_the_first_tls_byte() -> None:
    s = session()
    assert s.client.raw.ciphertext_from == 0
    assert s.server.raw.ciphertext_from == 0


def test_handshake_survives_one_byte_at_a_time() -> None:
    s = session(in_flight_limit=1)
    assert s.client.saw(SocketEvent.CONNECTED) and s.server.saw(SocketEvent.CONNECTED)
    assert set(s.client.raw.sent_chunks) == {1}
    s.client.tls.send(b"QUIT\r\n")
    s.kernel.run()
    assert s.server.tls.recv() == b"QUIT\r\n"


# ---- bulk transfer with backpressure -------------------------------------------------


def pump_all(kernel: Kernel, sender: End[Any], receiver: End[Any], data: bytes
             ) -> tuple[bytes, int]:
    """Send ``data`` as the app would (again on WRITABLE); return (received, zero sends)."""
    offset = 0
    zero_sends = 0
    received = bytearray()

    def push() -> None:
        nonlocal offset, zero_sends
        while offset < len(data):
            accepted = sender.tls.send(data[offset : offset + 4096])
            if accepted == 0:
                zero_sends += 1
                return
            offset += accepted

    def on_sender(event: SocketEvent) -> None:
        sender.events.append((kernel.now_us, event))
        if event is SocketEvent.WRITABLE:
            push()

    def on_receiver(event: SocketEvent) -> None:
        receiver.events.append((kernel.now_us, event))
        received.extend(receiver.tls.recv())

    sender.tls.set_event_handler(on_sender)
    receiver.tls.set_event_handler(on_receiver)
    push()
    kernel.run()
    return bytes(received), zero_sends


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("direction", ["client_to_server", "server_to_client"])
def test_256_kib_byte_exact_with_backpressure(version: str, direction: str) -> None:
    configs = tls12() if version == "TLSv1.2" else (client_config(), server_config())
    s = session(*configs, in_flight_limit=6000)
    data = bytes((i * 7 + i // 251) & 0xFF for i in range(256 * 1024))
    sender, receiver = (
        (s.client, s.server) if direction == "client_to_server" else (s.server, s.client)
    )
    received, zero_sends = pump_all(s.kernel, sender, receiver, data)
    assert received == data
    assert zero_sends > 0  # the raw side pushed back and send() said so
    assert sender.saw(SocketEvent.WRITABLE)
    assert max(sender.raw.sent_chunks) <= 6000


def test_send_accepts_nothing_while_the_ciphertext_backlog_is_full() -> None:
    s = session(in_flight_limit=1 << 20)
    s.client.raw.in_flight_limit = 0  # the raw socket accepts nothing any more
    accepted = 0
    while (n := s.client.tls.send(b"x" * 4096)) > 0:
        accepted += n
    assert 0 < accepted <= SEND_BACKLOG_LIMIT
    assert not s.client.saw(SocketEvent.WRITABLE)
    s.client.raw.in_flight_limit = 1 << 20
    s.client.raw._emit(SocketEvent.WRITABLE)  # the raw socket has room again
    assert s.client.saw(SocketEvent.WRITABLE)
    s.kernel.run()
    assert s.server.tls.recv(1 << 20) == b"x" * accepted


def test_unread_records_stay_in_the_raw_socket() -> None:
    s = session()
    data = bytes(range(256)) * 256  # 64 KiB: four full records
    offset = 0
    while offset < len(data):
        offset += s.server.tls.send(data[offset:])
        s.kernel.run()
    # The owner has not read: one record was decrypted, the rest still holds raw buffers.
    assert s.client.count(SocketEvent.READABLE) == 1
    assert s.client.raw.buffered > 2 * 16 * 1024
    assert s.client.tls.recv(100) == data[:100]
    assert s.client.raw.buffered > 2 * 16 * 1024  # the first record is not used up yet
    rest = s.client.tls.recv(1 << 20)  # reading pulls the remaining records
    assert rest == data[100:]
    assert s.client.raw.buffered == 0


def test_fin_after_unread_data_still_delivers_it_before_closed() -> None:
    s = session()
    s.server.tls.send(b"x" * 40000)
    s.server.tls.shutdown()
    s.kernel.run()
    kinds = [e for _, e in s.client.events]
    assert kinds[-1] is SocketEvent.CLOSED and SocketEvent.READABLE in kinds
    assert s.client.tls.failure is not None and s.client.tls.failure.kind == "close_notify"
    assert s.client.tls.recv(1 << 20) == b"x" * 40000


# ---- typed failures ------------------------------------------------------------------


def test_no_shared_cipher_is_a_typed_failure_on_both_ends() -> None:
    s = session(
        client_config(ciphers="AES128-SHA", max_version="TLSv1.2"),
        server_config(ciphers=TLS12_CIPHER),
    )
    assert s.server.tls.failure is not None
    assert s.server.tls.failure.kind == "handshake"
    assert s.server.tls.failure.reason == "no shared cipher"
    assert s.client.tls.failure is not None
    assert s.client.tls.failure.kind == "handshake"
    assert "handshake failure" in s.client.tls.failure.reason  # the server's alert
    for end in (s.client, s.server):
        assert not end.saw(SocketEvent.CONNECTED)
        assert end.count(SocketEvent.CLOSED) == 1
        assert end.tls.state is SocketState.CLOSED
        assert end.tls.close_reason is CloseReason.LOCAL
        assert end.raw.state is SocketState.CLOSED


def test_rtc_in_1970_fails_with_not_yet_valid_naming_both_dates() -> None:
    s = session(rtc=datetime(1970, 1, 1, tzinfo=UTC))
    failure = s.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert failure.reason.startswith("certificate not yet valid")
    assert "2024-01-01 00:00:00 UTC" in failure.reason
    assert "1970-01-01 00:00:00 UTC" in failure.reason
    assert not s.client.saw(SocketEvent.CONNECTED)
    assert s.client.count(SocketEvent.CLOSED) == 1
    # The server never saw the client's Finished: the handshake died under it.
    assert s.server.tls.failure is not None
    assert s.server.tls.failure.kind == "transport"
    assert not s.server.saw(SocketEvent.CONNECTED)


def test_rtc_after_expiry_fails_with_expired() -> None:
    s = session(rtc=datetime(2040, 3, 1, tzinfo=UTC))
    failure = s.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert failure.reason == (
        "certificate expired: valid until 2034-01-01 00:00:00 UTC, "
        "device clock reads 2040-03-01 00:00:00 UTC"
    )


def test_wrong_server_name_fails_with_name_mismatch() -> None:
    s = session(client_config(server_name="mail.other.test"))
    failure = s.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert failure.reason.startswith("name mismatch")
    assert "mail.other.test" in failure.reason and "smtp.example.test" in failure.reason


def test_unknown_ca_fails_with_unknown_issuer() -> None:
    stranger = make_ca(common_name="Stranger CA")
    s = session(client_config(ca_pem=stranger.cert_pem))
    failure = s.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert failure.reason.startswith("unknown issuer")


def test_verify_off_accepts_any_certificate() -> None:
    s = session(client_config(verify=False), rtc=datetime(1970, 1, 1, tzinfo=UTC))
    assert s.client.saw(SocketEvent.CONNECTED)


def test_tls12_certificate_failure_is_typed_too() -> None:
    s = session(*tls12(), rtc=datetime(1970, 1, 1, tzinfo=UTC))
    assert s.client.tls.failure is not None and s.client.tls.failure.kind == "certificate"
    assert not s.client.saw(SocketEvent.CONNECTED)


# ---- closing -------------------------------------------------------------------------


def test_peer_close_notify_after_data_closes_with_fin() -> None:
    s = session()
    s.server.tls.send(b"221 bye\r\n")
    s.server.tls.shutdown()
    s.kernel.run()
    assert s.client.tls.recv() == b"221 bye\r\n"  # data before close_notify stays readable
    kinds = [e for _, e in s.client.events]
    assert kinds.index(SocketEvent.READABLE) < kinds.index(SocketEvent.CLOSED)
    assert s.client.tls.failure is not None
    assert s.client.tls.failure.kind == "close_notify"
    assert s.client.tls.close_reason is CloseReason.FIN
    assert s.client.tls.peer_closed
    # Our own orderly close: CLOSED(LOCAL) with no failure.
    assert s.server.tls.failure is None
    assert s.server.tls.close_reason is CloseReason.LOCAL
    assert s.server.count(SocketEvent.CLOSED) == 1
    assert s.client.raw.state is SocketState.CLOSED and s.server.raw.state is SocketState.CLOSED


def test_close_notify_only_then_plaintext_never_reaches_the_client() -> None:
    s = session()
    s.server.tls.close_notify_only()
    assert s.server.tls.send(b"250 late\r\n") == 0  # nothing after our close_notify
    s.server.raw.send(b"250 OK\r\n")  # the hostile server goes on in clear text
    s.kernel.run()
    assert s.client.tls.failure is not None
    assert s.client.tls.failure.kind == "close_notify"
    assert s.client.tls.recv() == b""
    assert not s.client.saw(SocketEvent.READABLE)


def test_fin_without_close_notify_is_a_transport_failure() -> None:
    s = session()
    s.server.raw.close()
    s.kernel.run()
    assert s.client.tls.failure is not None
    assert s.client.tls.failure.kind == "transport"
    assert s.client.tls.failure.reason == "connection closed without close_notify"
    assert s.client.tls.close_reason is CloseReason.FIN
    assert s.client.count(SocketEvent.CLOSED) == 1


def test_fin_during_handshake_is_a_transport_failure() -> None:
    kernel = Kernel(seed=1)
    a, b = pipe(kernel)
    client = make_end(kernel, a, client_config(), server_side=False)
    client.tls.start()
    b.close()  # a server that hangs up instead of answering the ClientHello
    kernel.run()
    assert client.tls.failure is not None
    assert client.tls.failure.kind == "transport"
    assert "during the TLS handshake" in client.tls.failure.reason


def test_abort_resets_and_the_peer_reports_it() -> None:
    s = session()
    s.server.tls.abort()
    s.kernel.run()
    assert s.server.tls.state is SocketState.CLOSED
    assert s.server.tls.close_reason is CloseReason.LOCAL
    assert s.client.tls.failure is not None
    assert s.client.tls.failure.kind == "transport"
    assert s.client.tls.failure.reason == "connection reset by peer"
    assert s.client.tls.close_reason is CloseReason.RST


def test_garbage_instead_of_a_server_hello_is_a_handshake_failure() -> None:
    kernel = Kernel(seed=1)
    a, b = pipe(kernel)
    client = make_end(kernel, a, client_config(), server_side=False)
    client.tls.start()
    b.send(b"500 5.5.1 command unrecognized\r\n")  # a server that never switched to TLS
    kernel.run()
    assert client.tls.failure is not None
    assert client.tls.failure.kind == "handshake"
    assert client.tls.failure.reason == "wrong version number"
    assert client.count(SocketEvent.CLOSED) == 1


# ---- start() preconditions -----------------------------------------------------------


def test_start_refuses_unread_plaintext() -> None:
    kernel = Kernel(seed=1)
    a, b = pipe(kernel)
    b.send(b"250-injected\r\n")  # RFC 3207 buffering attack: plaintext after 220
    kernel.run()
    client = make_end(kernel, a, client_config(), server_side=False)
    with pytest.raises(ValueError, match="14 plaintext bytes are unread"):
        client.tls.start()
    assert a.recv() == b"250-injected\r\n"  # still there for the caller to discard


def test_start_twice_is_refused() -> None:
    s = session()
    with pytest.raises(ValueError, match="already started"):
        s.client.tls.start()


def test_app_sends_before_the_handshake_are_refused() -> None:
    s = session(run=False)
    assert s.client.tls.send(b"EHLO\r\n") == 0
    assert s.client.tls.state is SocketState.CONNECTING


# ---- determinism of record lengths ---------------------------------------------------


def chunk_lengths(pki: Pki, configs: Callable[[Pki], tuple[TlsConfig, TlsConfig]]
                  ) -> tuple[list[int], list[int], bytes]:
    s = session(*configs(pki))
    assert s.client.saw(SocketEvent.CONNECTED)
    s.client.tls.send(b"EHLO device.example\r\n")
    s.kernel.run()
    s.server.tls.recv()
    s.server.tls.send(b"250-smtp.example.test\r\n250 AUTH PLAIN\r\n")
    s.kernel.run()
    s.client.tls.shutdown()
    s.kernel.run()
    return s.client.raw.sent_chunks, s.server.raw.sent_chunks, bytes(s.client.raw.sent_bytes)


def fresh_pki() -> Pki:
    """A new CA and leaf: new RSA keys, same names, dates and serials."""
    ca = generate_ca()
    return Pki(ca=ca, leaf=ca.issue(list(DEFAULT_SERVER_NAMES)))


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_record_lengths_identical_across_runs_with_fresh_keys(version: str) -> None:
    def configs(pki: Pki) -> tuple[TlsConfig, TlsConfig]:
        if version == "TLSv1.2":
            return (client_config(pki, ciphers=TLS12_CIPHER, max_version="TLSv1.2"),
                    server_config(pki, ciphers=TLS12_CIPHER, max_version="TLSv1.2"))
        return client_config(pki), server_config(pki)

    first_client, first_server, first_bytes = chunk_lengths(fresh_pki(), configs)
    second_client, second_server, second_bytes = chunk_lengths(fresh_pki(), configs)
    assert first_bytes != second_bytes  # different keys and randomness ...
    assert first_client == second_client  # ... same lengths, chunk for chunk
    assert first_server == second_server
    assert len(first_client) >= 3 and len(first_server) >= 2


# ---- configuration -------------------------------------------------------------------


def test_bad_cipher_string_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^tls\.ciphers: OpenSSL accepts no cipher in 'XYZ'$"):
        TlsConfig(ciphers="XYZ")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_version": "TLS1.2"}, r"tls\.min_version: expected one of"),
        ({"max_version": "SSLv3"}, r"tls\.max_version: expected one of"),
        ({"min_version": "TLSv1.3", "max_version": "TLSv1.2"}, r"tls\.min_version: TLSv1\.3"),
        ({"ca_pem": b"not a certificate"}, r"tls\.ca_pem"),
        ({"cert_chain": (b"x", b"y")}, r"tls\.cert_chain"),
        ({"server_name": ""}, r"tls\.server_name"),
        ({"ciphers": ""}, r"tls\.ciphers"),
    ],
)
def test_bad_config_names_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TlsConfig(**fields)  # type: ignore[arg-type]


def test_server_context_needs_a_cert_chain() -> None:
    with pytest.raises(ValueError, match=r"tls\.cert_chain"):
        make_context(TlsConfig(), server_side=True)


def test_client_verifier_needs_trust_anchors() -> None:
    with pytest.raises(ValueError, match=r"tls\.ca_pem"):
        client_verifier(TlsConfig(server_name="smtp.example.test"), lambda: RTC_2025)
    assert client_verifier(TlsConfig(verify=False), lambda: RTC_2025) is None
    with pytest.raises(ValueError, match=r"^tls\.server_name: 'bad name!' is not usable"):
        client_verifier(client_config(server_name="bad name!"), lambda: RTC_2025)


def test_contexts_leave_the_certificate_to_the_device() -> None:
    context = make_context(client_config(), server_side=False)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    assert make_context(server_config(), server_side=True).num_tickets == 0


def test_openssl_reason_strips_the_library_tag() -> None:
    exc = ssl.SSLError(1, "[SSL: NO_SHARED_CIPHER] no shared cipher (_ssl.c:1006)")
    assert openssl_reason(exc) == "no shared cipher"


# ---- over the simulated TCP stack ------------------------------------------------------

DEVICE_IP, SERVER_IP, SMTPS_PORT = "10.0.0.2", "10.0.0.1", 465


@dataclass
class SimWorld:
    kernel: Kernel
    link: Link
    device: SimHost
    server_host: SimHost
    ends: dict[str, End[TcpSocket]]

    @property
    def client(self) -> End[TcpSocket]:
        return self.ends["client"]

    @property
    def server(self) -> End[TcpSocket]:
        return self.ends["server"]


def tls_end(kernel: Kernel, raw: TcpSocket, config: TlsConfig, *, server_side: bool,
            rtc: datetime = RTC_2025) -> End[TcpSocket]:
    source = "tls.server" if server_side else "tls.device"
    tls = TlsSocket(
        raw,
        make_context(config, server_side=server_side),
        server_side=server_side,
        server_hostname=config.server_name,
        verify=None if server_side else client_verifier(config, lambda: rtc),
        on_trace=lambda kind, fields: kernel.emit(source, kind, **fields),
    )
    end = End(tls=tls, raw=raw)
    tls.set_event_handler(lambda event: end.events.append((kernel.now_us, event)))
    return end


def implicit_tls_world(client_cfg: TlsConfig | None = None,
                       server_cfg: TlsConfig | None = None, *, seed: int = 3,
                       rtc: datetime = RTC_2025, **device_tcp: Any) -> SimWorld:
    """A device connecting to port 465 of a server host; TLS from the first byte."""
    kernel = Kernel(seed=seed)
    link = Link(kernel)
    device = SimHost(kernel, name="device", ip=DEVICE_IP, link=link, **device_tcp)
    server_host = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    world = SimWorld(kernel, link, device, server_host, {})

    def on_accept(sock: TcpSocket) -> None:
        end = tls_end(kernel, sock, server_cfg or server_config(), server_side=True)
        world.ends["server"] = end
        end.tls.start(buffered_is_tls=True)  # the ClientHello may come with the ACK

    server_host.stack.listen(SMTPS_PORT, on_accept)
    raw = device.stack.socket()

    def on_raw(event: SocketEvent) -> None:
        if event is SocketEvent.CONNECTED:
            end = tls_end(kernel, raw, client_cfg or client_config(), server_side=False,
                          rtc=rtc)
            world.ends["client"] = end
            end.tls.start()

    raw.set_event_handler(on_raw)
    raw.connect(SERVER_IP, SMTPS_PORT)
    kernel.run(until_us=5 * SECOND)
    return world


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_over_tcp_handshake_and_256_kib_both_ways(version: str) -> None:
    w = implicit_tls_world(*(tls12() if version == "TLSv1.2" else ()))
    assert w.client.saw(SocketEvent.CONNECTED) and w.server.saw(SocketEvent.CONNECTED)
    negotiated = w.client.tls.cipher()
    assert negotiated is not None and negotiated[1] == version
    if version == "TLSv1.2":
        assert negotiated == (TLS12_CIPHER, "TLSv1.2")
    up = bytes((i * 13) & 0xFF for i in range(256 * 1024))
    down = bytes((i * 31 + 7) & 0xFF for i in range(256 * 1024))
    assert pump_all(w.kernel, w.client, w.server, up)[0] == up
    assert pump_all(w.kernel, w.server, w.client, down)[0] == down
    # Every payload byte on the wire after the handshake began is marked ciphertext.
    payloads = [r.get("payload") for r in w.kernel.trace.select("link", "tx")]
    assert all(isinstance(p, Opaque) for p in payloads if p)


def test_over_tcp_no_shared_cipher() -> None:
    w = implicit_tls_world(
        client_config(ciphers="AES128-SHA", max_version="TLSv1.2"),
        server_config(ciphers=TLS12_CIPHER),
    )
    assert w.server.tls.failure == TlsFailure("handshake", "no shared cipher")
    assert w.client.tls.failure is not None and w.client.tls.failure.kind == "handshake"
    assert "handshake failure" in w.client.tls.failure.reason
    assert w.client.count(SocketEvent.CLOSED) == 1 and w.server.count(SocketEvent.CLOSED) == 1
    failures = w.kernel.trace.select("tls", "tls_failure")
    assert [r.source for r in failures] == ["tls.server", "tls.device"]
    assert w.device.stack.connections == [] and w.server_host.stack.connections == []


def test_over_tcp_rtc_in_1970() -> None:
    w = implicit_tls_world(rtc=datetime(1970, 1, 1, tzinfo=UTC))
    failure = w.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert "valid from 2024-01-01 00:00:00 UTC" in failure.reason
    assert "device clock reads 1970-01-01 00:00:00 UTC" in failure.reason
    assert not w.client.saw(SocketEvent.CONNECTED)


def test_over_tcp_trace_hash_is_the_same_with_fresh_keys() -> None:
    def run(pki: Pki) -> tuple[str, list[bytes]]:
        w = implicit_tls_world(client_config(pki), server_config(pki), seed=11)
        w.client.tls.send(b"EHLO device.example\r\n")
        w.kernel.run(until_us=w.kernel.now_us + SECOND)
        assert w.server.tls.recv() == b"EHLO device.example\r\n"
        w.server.tls.send(b"250 smtp.example.test\r\n")
        w.kernel.run(until_us=w.kernel.now_us + SECOND)
        assert w.client.tls.recv() == b"250 smtp.example.test\r\n"
        w.client.tls.shutdown()
        w.kernel.run(until_us=w.kernel.now_us + 10 * SECOND)
        assert w.client.tls.state is SocketState.CLOSED
        cipher = [p.data for r in w.kernel.trace.select("link", "tx")
                  if isinstance(p := r.get("payload"), Opaque) and p.data]
        return w.kernel.trace.sha256(), cipher

    first_hash, first_bytes = run(fresh_pki())
    second_hash, second_bytes = run(fresh_pki())
    assert first_bytes != second_bytes
    assert first_hash == second_hash


def test_over_tcp_starttls_switches_to_ciphertext_after_the_220() -> None:
    kernel = Kernel(seed=5)
    link = Link(kernel)
    device = SimHost(kernel, name="device", ip=DEVICE_IP, link=link)
    server_host = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    ends: dict[str, End[TcpSocket]] = {}

    def on_accept(sock: TcpSocket) -> None:
        def on_server_raw(event: SocketEvent) -> None:
            if event is SocketEvent.READABLE and sock.recv() == b"STARTTLS\r\n":
                sock.send(b"220 2.0.0 Ready to start TLS\r\n")
                ends["server"] = tls_end(kernel, sock, server_config(), server_side=True)
                ends["server"].tls.start()

        sock.set_event_handler(on_server_raw)
        sock.send(b"220 smtp.example.test ESMTP\r\n")

    server_host.stack.listen(25, on_accept)
    raw = device.stack.socket()

    def on_device_raw(event: SocketEvent) -> None:
        if event is not SocketEvent.READABLE:
            return
        line = raw.recv()
        if line.startswith(b"220 smtp"):
            raw.send(b"STARTTLS\r\n")
        elif line.startswith(b"220 2.0.0"):
            ends["client"] = tls_end(kernel, raw, client_config(), server_side=False)
            ends["client"].tls.start()

    raw.set_event_handler(on_device_raw)
    raw.connect(SERVER_IP, 25)
    kernel.run(until_us=SECOND)
    assert ends["client"].saw(SocketEvent.CONNECTED) and ends["server"].saw(SocketEvent.CONNECTED)
    payloads = [p for r in kernel.trace.select("link", "tx") if (p := r.get("payload"))]
    clear = [p for p in payloads if isinstance(p, bytes)]
    assert clear == [b"220 smtp.example.test ESMTP\r\n", b"STARTTLS\r\n",
                     b"220 2.0.0 Ready to start TLS\r\n"]
    assert all(isinstance(p, Opaque) for p in payloads[3:])


def test_over_tcp_unread_records_keep_the_device_buffers() -> None:
    w = implicit_tls_world()
    data = bytes(range(256)) * 256  # 64 KiB
    sent = 0
    while (n := w.server.tls.send(data[sent:])) > 0:
        sent += n
    w.kernel.run(until_us=w.kernel.now_us + SECOND)
    # The device app has not read: one record is decrypted, TCP holds the next segments
    # in pool buffers and has closed its window; the sender's backlog is full.
    assert w.client.raw.rx_buffered == w.device.stack.config.rx_window
    assert w.device.pool.stats.in_use >= 4
    assert w.client.tls.buffered == 16 * 1024
    received = bytearray()

    def on_client(event: SocketEvent) -> None:
        received.extend(w.client.tls.recv(1 << 20))

    def on_server(event: SocketEvent) -> None:
        nonlocal sent
        while sent < len(data) and (n := w.server.tls.send(data[sent:])) > 0:
            sent += n

    w.client.tls.set_event_handler(on_client)
    w.server.tls.set_event_handler(on_server)
    received.extend(w.client.tls.recv(1 << 20))
    w.kernel.run(until_us=w.kernel.now_us + 10 * SECOND)
    assert bytes(received) == data
