"""A scripted server that stalls in the middle of its TLS handshake (simulated host).

scenarios/server/tlsstall.py cuts the server's handshake at a TLS record boundary; here
the simulated server (scenarios/server/simdriver.py) runs it under implicit TLS against
a real TLS client on the simulated TCP stack, for both TLS versions, and the wire (the
link's segments) shows exactly what each mode lets out: nothing, one record (the
ServerHello), or the whole first flight; the connection stays up and acknowledged, and
what the client sends afterwards is read and thrown away. The sans-I/O cut itself is
tested alone, and the asyncio driver (real sockets, as under ``serve``) against Python's
own TLS client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from dataclasses import dataclass

import pytest

from emulator.kernel import Kernel
from emulator.trace import TraceRecord
from emulator.units import SECOND
from scenarios.server.asyncdriver import throwaway_tls
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.rules import ServerConfig
from scenarios.server.simdriver import ServerTls, SimServer
from scenarios.server.tlsstall import HandshakeStall, TlsStallMode
from scenarios.server.transcript import TranscriptLine
from stack.api import SocketEvent, SocketState
from stack.link import Link
from stack.pcap import segment_records
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.badcerts import CertificateSpec, server_certificate
from stack.tls.certs import DEFAULT_SERVER_NAMES, default_test_pki
from tests.stack.test_tls import RTC_2025, End, client_config, tls_end

DEVICE_IP, SERVER_IP, PORT = "10.0.0.2", "10.0.0.1", 465
TLS12 = "ECDHE-RSA-AES128-GCM-SHA256"
HANDSHAKE, CHANGE_CIPHER_SPEC, APPLICATION_DATA = 22, 20, 23


@dataclass
class StallRun:
    kernel: Kernel
    server: SimServer
    client: End[TcpSocket]
    device: SimHost
    server_host: SimHost

    def server_records(self, kind: str) -> list[TraceRecord]:
        return [r for r in self.kernel.trace.records
                if r.source.startswith("server.") and r.kind == kind]

    def sent_by(self, ip: str) -> bytes:
        out = b""
        for record in segment_records(self.kernel.trace.records):
            if str(record.fields["src"]).startswith(ip + ":"):
                payload = record.fields["payload"]
                data = payload if isinstance(payload, bytes) else getattr(payload, "data", b"")
                assert isinstance(data, bytes)
                out += data
        return out


def tls_records(stream: bytes) -> list[int]:
    """The content type of each whole TLS record in ``stream``."""
    types = []
    while stream:
        assert len(stream) >= 5, "the stream ends inside a record header"
        length = int.from_bytes(stream[3:5], "big")
        assert len(stream) >= 5 + length, "the stream ends inside a record"
        types.append(stream[0])
        stream = stream[5 + length:]
    return types


def stall_run(stall: TlsStallMode | None, *, version: str = "TLSv1.3", stall_nth: int = 1,
              security_level: int | None = None, cert: CertificateSpec | None = None,
              seconds: int = 60) -> StallRun:
    kernel = Kernel(seed=1)
    link = Link(kernel)
    device = SimHost(kernel, name="device", ip=DEVICE_IP, link=link)
    server_host = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    leaf = default_test_pki().leaf
    if cert is not None:
        made = server_certificate(cert, ca=default_test_pki().ca, names=DEFAULT_SERVER_NAMES,
                                  reference=RTC_2025)
        leaf, security_level = made.leaf, made.security_level
    ciphers = TLS12 if version == "TLSv1.2" else None
    tls = ServerTls(cert_pem=leaf.cert_pem, key_pem=leaf.key_pem, ciphers=ciphers,
                    max_version=version, stall=stall, stall_nth=stall_nth,
                    security_level=security_level)
    server = SimServer(kernel, server_host, ServerConfig(hostname="smtp.example.test",
                                                         implicit_tls=True),
                       port=PORT, tls=tls, clock_start=RTC_2025)
    raw = device.stack.socket()
    ends: list[End[TcpSocket]] = []

    def on_raw(event: SocketEvent) -> None:
        if event is SocketEvent.CONNECTED and not ends:
            end = tls_end(kernel, raw, client_config(max_version=version, ciphers=ciphers),
                          server_side=False)
            ends.append(end)
            end.tls.start()

    raw.set_event_handler(on_raw)
    raw.connect(SERVER_IP, PORT)
    kernel.run(until_us=seconds * SECOND)
    return StallRun(kernel, server, ends[0], device, server_host)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_without_a_stall_the_handshake_completes(version: str) -> None:
    run = stall_run(None, version=version)
    assert run.client.saw(SocketEvent.CONNECTED)
    assert run.server_records("tls_established") and not run.server_records("tls_stall")
    # The greeting came through TLS.
    assert run.client.tls.recv().startswith(b"220 ")


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_before_server_hello_the_server_sends_nothing_and_the_connection_stays_up(
        version: str) -> None:
    run = stall_run("before_server_hello", version=version)
    assert run.sent_by(SERVER_IP) == b""
    assert not run.client.saw(SocketEvent.CONNECTED)
    assert not run.client.saw(SocketEvent.CLOSED)  # TCP stays up: a stalled TLS peer
    assert run.client.tls.state is SocketState.CONNECTING
    (stall,) = run.server_records("tls_stall")
    assert stall.fields == {"mode": "before_server_hello", "records_sent": 0}
    assert not run.server_records("tls_established")


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_after_server_hello_exactly_one_record_goes_out(version: str) -> None:
    run = stall_run("after_server_hello", version=version)
    assert tls_records(run.sent_by(SERVER_IP)) == [HANDSHAKE]
    assert not run.client.saw(SocketEvent.CONNECTED)
    assert not run.client.saw(SocketEvent.CLOSED)
    (stall,) = run.server_records("tls_stall")
    assert stall.fields == {"mode": "after_server_hello", "records_sent": 1}


def test_after_the_first_flight_a_tls12_client_waits_for_the_servers_finished() -> None:
    run = stall_run("after_first_flight", version="TLSv1.2")
    # ServerHello, Certificate, ServerKeyExchange, ServerHelloDone: handshake records only.
    sent = tls_records(run.sent_by(SERVER_IP))
    assert sent and set(sent) == {HANDSHAKE}
    assert not run.client.saw(SocketEvent.CONNECTED)
    # The client's second flight (key exchange, ChangeCipherSpec, Finished) was read and
    # thrown away, never processed.
    client_flight = tls_records(run.sent_by(DEVICE_IP))
    assert CHANGE_CIPHER_SPEC in client_flight
    discarded = run.server_records("discarded")
    assert discarded and sum(int(r.fields["length"]) for r in discarded) > 0
    assert all(r.fields["why"] == "the server stalls its TLS handshake" for r in discarded)
    assert not run.server_records("tls_established")
    (stall,) = run.server_records("tls_stall")
    assert stall.fields == {"mode": "after_first_flight", "records_sent": len(sent)}


def test_after_the_first_flight_a_tls13_client_is_done_and_meets_silence() -> None:
    run = stall_run("after_first_flight", version="TLSv1.3")
    assert run.client.saw(SocketEvent.CONNECTED)  # the server's Finished came
    assert run.client.tls.send(b"EHLO device.example\r\n") > 0
    run.kernel.run(until_us=run.kernel.now_us + 30 * SECOND)
    assert run.client.tls.recv() == b""  # no greeting, no reply: silence
    assert not run.client.saw(SocketEvent.CLOSED)
    assert not run.server_records("tls_established") and not run.server_records("rx")
    assert sum(int(r.fields["length"]) for r in run.server_records("discarded")) > 0


def test_when_the_client_gives_up_the_server_closes_and_frees_everything() -> None:
    run = stall_run("after_server_hello")
    run.client.tls.close()
    run.kernel.run(until_us=run.kernel.now_us + 300 * SECOND)
    assert run.server_records("closed")
    assert run.server_host.stack.connections == [] and run.device.stack.connections == []
    assert run.server_host.pool.in_use == 0


def test_stall_nth_picks_the_handshake() -> None:
    run = stall_run("before_server_hello", stall_nth=2)
    assert run.client.saw(SocketEvent.CONNECTED)  # the first handshake is not touched
    assert not run.server_records("tls_stall")


def test_the_simulated_server_serves_a_weak_certificate_at_the_level_it_needs() -> None:
    run = stall_run(None, cert=CertificateSpec("weak_key"))
    failure = run.client.tls.failure
    assert failure is not None and failure.kind == "certificate"
    assert failure.reason.startswith("weak key: the server's certificate has an RSA key of "
                                     "1024 bits")


@pytest.mark.parametrize(("fields", "message"), [
    ({"stall": "after_finished"}, "tls_stall"),
    ({"stall": "after_server_hello", "stall_nth": 0}, "tls_stall_nth"),
])
def test_a_bad_stall_names_the_field(fields: dict[str, object], message: str) -> None:
    leaf = default_test_pki().leaf
    with pytest.raises(ValueError, match=message):
        ServerTls(cert_pem=leaf.cert_pem, key_pem=leaf.key_pem, **fields)  # type: ignore[arg-type]


# ---- the cut alone ---------------------------------------------------------------------


def record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body


def test_the_cut_falls_on_a_record_boundary_however_the_bytes_are_split() -> None:
    flight = record(HANDSHAKE, b"h" * 90) + record(CHANGE_CIPHER_SPEC, b"\x01") \
        + record(APPLICATION_DATA, b"e" * 300)
    for step in (1, 3, 7, len(flight)):
        stall = HandshakeStall("after_server_hello")
        assert stall.incoming(b"client hello") == b"client hello"
        out = b"".join(stall.outgoing(flight[i:i + step]) for i in range(0, len(flight), step))
        assert out == record(HANDSHAKE, b"h" * 90)
        assert (stall.records_sent, stall.withheld) == (1, len(flight) - 95)
        assert stall.incoming(b"finished") == b"" and stall.discarded == 8


def test_before_the_server_writes_the_client_is_heard_and_nothing_is_withheld() -> None:
    stall = HandshakeStall("after_first_flight")
    assert stall.incoming(b"part one") == b"part one"
    assert stall.incoming(b"part two") == b"part two"
    assert not stall.stalled
    assert stall.outgoing(b"any flight at all") == b"any flight at all"
    assert stall.incoming(b"answer") == b"" and stall.stalled


# ---- on real sockets (the asyncio driver, as under serve) --------------------------------


def _real_handshake(mode: TlsStallMode | None, version: ssl.TLSVersion,
                    ) -> tuple[str, list[TranscriptLine]]:
    """A Python TLS client against the asyncio server with ``mode``: what it got to
    (``timeout in handshake``, ``silence after handshake``, or the greeting), and the
    server's transcript."""
    async def scenario() -> tuple[str, list[TranscriptLine]]:
        params, ca_pem = throwaway_tls()
        server = AsyncServer(ServerConfig(implicit_tls=True),
                             tls=dataclasses.replace(params, stall=mode))
        _, port = await server.start("127.0.0.1", 0)
        context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
        context.maximum_version = version

        def connect() -> str:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
                try:
                    tls = context.wrap_socket(raw, server_hostname="localhost")
                except TimeoutError:
                    return "timeout in handshake"
                with tls:
                    tls.sendall(b"EHLO device.example\r\n")
                    try:
                        return tls.recv(100).decode()
                    except TimeoutError:
                        return "silence after handshake"

        outcome = await asyncio.to_thread(connect)
        assert await server.wait_all_closed(10.0)
        await server.close()
        return outcome, server.connections[0].lines

    return asyncio.run(asyncio.wait_for(scenario(), 20.0))


@pytest.mark.parametrize(("mode", "version", "outcome"), [
    ("before_server_hello", ssl.TLSVersion.TLSv1_3, "timeout in handshake"),
    ("after_server_hello", ssl.TLSVersion.TLSv1_2, "timeout in handshake"),
    ("after_first_flight", ssl.TLSVersion.TLSv1_2, "timeout in handshake"),
    ("after_first_flight", ssl.TLSVersion.TLSv1_3, "silence after handshake"),
])
def test_the_asyncio_server_stalls_the_same_way(mode: TlsStallMode, version: ssl.TLSVersion,
                                                outcome: str) -> None:
    got, lines = _real_handshake(mode, version)
    assert got == outcome
    kinds = [line.kind for line in lines]
    assert "tls_stall" in kinds and "tls_established" not in kinds
    (stall,) = [line for line in lines if line.kind == "tls_stall"]
    assert stall.detail.startswith(f"mode={mode} records_sent=")
    if mode == "after_first_flight":
        assert any(line.kind == "discarded" and "stalls its TLS handshake" in line.detail
                   for line in lines)


def test_without_a_stall_the_asyncio_server_greets() -> None:
    got, _ = _real_handshake(None, ssl.TLSVersion.TLSv1_3)
    assert got.startswith("220 ")
