"""The scripted server on real loopback sockets: sessions, TLS, faults, pacing."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import BinaryIO, TypeVar

import pytest

from scenarios.server.asyncdriver import Pacing, throwaway_tls
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.rules import Rule, ServerConfig
from scenarios.server.transcript import TranscriptLine

T = TypeVar("T")
GUARD_S = 10.0  # a hang guard only: every exchange here takes milliseconds

MESSAGE = (b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n"
           b"line one\r\n.dot first\r\n\r\nafter a blank line\r\n")


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(factory(), GUARD_S)

    return asyncio.run(guarded())


async def _server(config: ServerConfig, *, tls: bool = True,
                  pacing: Pacing | None = None) -> tuple[AsyncServer, int, bytes]:
    params, ca_pem = throwaway_tls(ciphers=None) if tls else (None, b"")
    server = AsyncServer(config, tls=params, pacing=pacing or Pacing())
    _, port = await server.start("127.0.0.1", 0)
    return server, port, ca_pem


def _client_context(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


async def _finish(server: AsyncServer) -> None:
    assert await server.wait_all_closed(GUARD_S)
    await server.close()


def test_a_plain_session_delivers_the_message_byte_for_byte() -> None:
    async def scenario() -> AsyncServer:
        server, port, _ = await _server(ServerConfig(starttls=False), tls=False)

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com") as client:
                client.sendmail("a@example.com", ["b@example.net"], MESSAGE)

        await asyncio.to_thread(send)
        await _finish(server)
        return server

    server = _run(scenario)
    assert [m.content for m in server.mailbox] == [MESSAGE]
    connection = server.connections[0]
    assert connection.engine.observations.ehlo_names == ["dev.example.com"]
    assert connection.engine.observations.dot_stuffing_violations == []
    kinds = [line.kind for line in connection.lines]
    assert kinds[0] == "accept" and kinds[-1] == "closed"
    assert connection.lines[1].data.startswith(b"220 ")


def test_starttls_upgrades_and_the_client_greets_again_inside_tls() -> None:
    async def scenario() -> AsyncServer:
        server, port, ca_pem = await _server(ServerConfig())

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.starttls(context=_client_context(ca_pem))
                client.sendmail("a@example.com", ["b@example.net"], MESSAGE)

        await asyncio.to_thread(send)
        await _finish(server)
        return server

    server = _run(scenario)
    observations = server.connections[0].engine.observations
    assert observations.tls_established and observations.tls_version is not None
    assert observations.first_command_after_tls == "EHLO"
    assert server.mailbox[0].tls and server.mailbox[0].content == MESSAGE
    assert any(line.kind == "tls_established" for line in server.connections[0].lines)


def test_implicit_tls_greets_after_the_handshake() -> None:
    async def scenario() -> AsyncServer:
        server, port, ca_pem = await _server(ServerConfig(implicit_tls=True))

        def send() -> None:
            with smtplib.SMTP_SSL("127.0.0.1", port, context=_client_context(ca_pem)) as c:
                c.sendmail("a@example.com", ["b@example.net"], MESSAGE)

        await asyncio.to_thread(send)
        await _finish(server)
        return server

    server = _run(scenario)
    assert server.mailbox[0].tls and server.mailbox[0].content == MESSAGE


def test_a_handshake_without_a_shared_cipher_is_reported_to_the_engine() -> None:
    async def scenario() -> tuple[AsyncServer, str]:
        params, ca_pem = throwaway_tls(ciphers="ECDHE-RSA-AES256-SHA", max_version="TLSv1.2")
        server = AsyncServer(ServerConfig(), tls=params)
        _, port = await server.start("127.0.0.1", 0)
        context = _client_context(ca_pem)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")

        def send() -> str:
            with smtplib.SMTP("127.0.0.1", port) as client:
                try:
                    client.starttls(context=context)
                except (ssl.SSLError, OSError) as exc:
                    return type(exc).__name__
            return "no error"

        outcome = await asyncio.to_thread(send)
        await _finish(server)
        return server, outcome

    server, outcome = _run(scenario)
    assert outcome != "no error"
    assert "no shared cipher" in (server.connections[0].engine.observations.tls_failure or "")
    assert server.connections[0].closed


async def _raw_exchange(port: int, writes: list[bytes], until: bytes) -> bytes:
    """Send each write after reading the previous reply; return everything read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = await reader.readuntil(b"\r\n")
    for data in writes:
        writer.write(data)
        await writer.drain()
        got += await reader.readuntil(until if data is writes[-1] else b"\r\n")
    writer.close()
    return got


def test_a_pipelined_group_in_one_write_is_seen_as_pipelining() -> None:
    async def scenario() -> tuple[AsyncServer, bytes]:
        server, port, _ = await _server(ServerConfig(starttls=False), tls=False)
        got = await _raw_exchange(port, [b"HELO dev.example.com\r\n",
                                         b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>"
                                         b"\r\nDATA\r\n"], b"354 ")
        await _finish(server)
        return server, got

    server, got = _run(scenario)
    assert got.count(b"250 ") >= 3
    assert server.connections[0].engine.observations.pipelined


def test_plaintext_after_starttls_is_discarded_not_obeyed() -> None:
    async def scenario() -> AsyncServer:
        server, port, _ = await _server(ServerConfig())
        await _raw_exchange(port, [b"EHLO dev.example.com\r\n",
                                   b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n"], b"220 ")
        await _finish(server)
        return server

    server = _run(scenario)
    observations = server.connections[0].engine.observations
    assert observations.plaintext_after_starttls == b"MAIL FROM:<evil@example.com>\r\n"
    assert "MAIL" not in observations.commands


def test_long_scenario_delays_are_capped_in_real_time() -> None:
    async def scenario() -> bytes:
        rule = Rule(verb="GREETING", delay_us=3600 * 1_000_000)
        server, port, _ = await _server(ServerConfig(rules=(rule,)), tls=False,
                                        pacing=Pacing(max_delay_s=0.01))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await reader.readuntil(b"\r\n")
        writer.close()
        await _finish(server)
        return greeting

    assert _run(scenario).startswith(b"220 ")


def test_pacing_scales_then_caps() -> None:
    assert Pacing(time_scale=0.5).seconds(2_000_000) == 1.0
    assert Pacing(time_scale=1.0, max_delay_s=0.25).seconds(600_000_000) == 0.25
    assert Pacing(time_scale=0).seconds(10_000_000) == 0
    with pytest.raises(ValueError, match="time_scale"):
        Pacing(time_scale=-1)
    with pytest.raises(ValueError, match="max_delay_s"):
        Pacing(max_delay_s=-0.1)


def test_a_reset_rule_aborts_the_connection_with_rst() -> None:
    async def scenario() -> tuple[AsyncServer, str]:
        rule = Rule(verb="MAIL", action="reset")
        server, port, _ = await _server(ServerConfig(starttls=False, rules=(rule,)), tls=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readuntil(b"\r\n")
        writer.write(b"HELO dev.example.com\r\n")
        await reader.readuntil(b"\r\n")
        writer.write(b"MAIL FROM:<a@example.com>\r\n")
        try:
            rest = await reader.read(100)
            outcome = f"read {rest!r}"
        except ConnectionResetError:
            outcome = "reset"
        writer.close()
        await _finish(server)
        return server, outcome

    server, outcome = _run(scenario)
    assert outcome == "reset"
    assert server.connections[0].close_reason == "server reset"


def _tls_client(port: int, ca_pem: bytes, script: Callable[[ssl.SSLSocket], T]) -> T:
    """A blocking STARTTLS client: greeting, EHLO, STARTTLS, EHLO, then ``script``."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=GUARD_S)
    reader = raw.makefile("rb")

    def reply(r: BinaryIO) -> bytes:
        lines = b""
        while True:
            line = r.readline()
            lines += line
            if line[3:4] != b"-":
                return lines

    reply(reader)
    raw.sendall(b"EHLO dev.example.com\r\n")
    reply(reader)
    raw.sendall(b"STARTTLS\r\n")
    assert reply(reader).startswith(b"220")
    tls = _client_context(ca_pem).wrap_socket(raw, server_hostname="localhost")
    tls_reader = tls.makefile("rb")
    tls.sendall(b"EHLO dev.example.com\r\n")
    reply(tls_reader)
    try:
        return script(tls)
    finally:
        tls.close()


def _serve_tls_client(rule: Rule, script: Callable[[ssl.SSLSocket], T]
                      ) -> tuple[AsyncServer, T]:
    """A server with ``rule`` facing :func:`_tls_client` running ``script``."""

    async def scenario() -> tuple[AsyncServer, T]:
        server, port, ca_pem = await _server(ServerConfig(rules=(rule,)))
        got = await asyncio.to_thread(_tls_client, port, ca_pem, script)
        await _finish(server)
        return server, got

    return _run(scenario)


def test_drop_tls_close_notify_keeps_tcp_open_and_sends_only_the_inject_in_plaintext(
        ) -> None:
    rule = Rule(verb="MAIL", in_tls=True, action="drop_tls", drop_tls_mode="close_notify",
                inject="421 4.4.2 plaintext after TLS\r\n")

    def script(tls: ssl.SSLSocket) -> tuple[bytes, bytes]:
        tls.sendall(b"MAIL FROM:<a@example.com>\r\n")
        inside = tls.recv(1000)
        plain = tls.unwrap()  # the server's close_notify arrives: TLS is over, TCP is not
        return inside, plain.recv(1000)

    server, (inside, plaintext) = _serve_tls_client(rule, script)
    assert inside.startswith(b"250")
    assert plaintext == b"421 4.4.2 plaintext after TLS\r\n"
    assert any(line.kind == "drop_tls" for line in server.connections[0].lines)


CLOSE_NOTIFY_ON_MAIL = Rule(verb="MAIL", in_tls=True, action="drop_tls",
                            drop_tls_mode="close_notify")
REST_OF_THE_MAIL = b"RCPT TO:<b@example.net>\r\nBDAT 3 LAST\r\nx\r\n"


def _read_to_end(sock: socket.socket | ssl.SSLSocket) -> bytes:
    got = b""
    while chunk := sock.recv(1000):
        got += chunk
    return got


def _after_drop(server: AsyncServer) -> list[TranscriptLine]:
    lines = server.connections[0].lines
    drop = next(i for i, line in enumerate(lines) if line.kind == "drop_tls")
    return lines[drop + 1:]


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "one-by-one"])
def test_after_its_close_notify_the_server_reads_and_stores_nothing(pipelined: bool) -> None:
    """A real TLS client over loopback goes on after the server's close_notify: the rest
    of the mail inside TLS (in the same write as MAIL, or after the 250), then, once it has
    answered the close_notify, the same commands in the clear. The server takes none of
    it, answers nothing and closes."""

    def script(tls: ssl.SSLSocket) -> tuple[bytes, bytes]:
        if pipelined:
            tls.sendall(b"MAIL FROM:<a@example.com>\r\n" + REST_OF_THE_MAIL)
            inside = _read_to_end(tls)  # the 250, then the close_notify ends the reads
        else:
            tls.sendall(b"MAIL FROM:<a@example.com>\r\n")
            inside = tls.recv(1000)
            tls.sendall(REST_OF_THE_MAIL)  # the close_notify is not read yet
            inside += _read_to_end(tls)
        plain = tls.unwrap()
        plain.sendall(REST_OF_THE_MAIL)
        return inside, _read_to_end(plain)

    server, (inside, plaintext) = _serve_tls_client(CLOSE_NOTIFY_ON_MAIL, script)
    assert inside == b"250 2.1.0 Sender OK\r\n"
    assert plaintext == b""  # the server closed without a word
    assert server.mailbox == []
    later = _after_drop(server)
    assert [line.kind for line in later if line.kind in ("C", "S")] == []
    assert any(line.kind == "discarded" for line in later)
    assert server.connections[0].engine.observations.commands[-1] == "MAIL"


def test_drop_tls_rst_resets_the_connection() -> None:
    rule = Rule(verb="MAIL", in_tls=True, action="drop_tls", drop_tls_mode="rst")

    def script(tls: ssl.SSLSocket) -> str:
        tls.sendall(b"MAIL FROM:<a@example.com>\r\n")
        assert tls.recv(1000).startswith(b"250")  # the reply still comes inside TLS
        try:  # below TLS (the ssl module reports a reset as a ragged EOF)
            while socket.socket.recv(tls, 1000):
                pass
        except ConnectionResetError as exc:
            return type(exc).__name__
        return "clean end"

    async def scenario() -> tuple[AsyncServer, str]:
        server, port, ca_pem = await _server(ServerConfig(rules=(rule,)))
        got = await asyncio.to_thread(_tls_client, port, ca_pem, script)
        await _finish(server)
        return server, got

    server, outcome = _run(scenario)
    assert outcome == "ConnectionResetError"
    assert server.connections[0].close_reason == "server dropped TLS (rst)"


def test_a_silent_server_keeps_listening_until_the_client_leaves() -> None:
    async def scenario() -> AsyncServer:
        rule = Rule(verb="EHLO", action="silent")
        server, port, _ = await _server(ServerConfig(rules=(rule,)), tls=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readuntil(b"\r\n")
        writer.write(b"EHLO dev.example.com\r\n")
        await writer.drain()
        writer.write(b"QUIT\r\n")
        await writer.drain()
        writer.close()
        await _finish(server)
        return server

    server = _run(scenario)
    connection = server.connections[0]
    assert [line.kind for line in connection.lines].count("S") == 1  # the greeting only
    assert connection.close_reason == "peer closed"
    client_lines = [line.data for line in connection.lines if line.kind == "C"]
    assert b"".join(client_lines) == b"EHLO dev.example.com\r\nQUIT\r\n"
    assert connection.engine.observations.commands == ["EHLO"]  # silent: it stopped listening


def test_rule_counts_run_across_connections() -> None:
    rule = Rule(verb="GREETING", nth=2, reply="554 5.3.2 busy, try later")

    async def scenario() -> list[bytes]:
        server, port, _ = await _server(ServerConfig(rules=(rule,)), tls=False)
        greetings = []
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            greetings.append(await reader.readuntil(b"\r\n"))
            writer.close()
        await _finish(server)
        return greetings

    first, second = _run(scenario)
    assert first.startswith(b"220 ") and second.startswith(b"554 ")


def test_a_port_in_use_raises_oserror() -> None:
    async def scenario() -> None:
        server, port, _ = await _server(ServerConfig(), tls=False)
        other = AsyncServer(ServerConfig())
        try:
            with pytest.raises(OSError):
                await other.start("127.0.0.1", port)
        finally:
            await server.close()

    _run(scenario)


def test_transcript_lines_are_readable() -> None:
    line = TranscriptLine(1, 0.5, "C", b"EHLO x\r\nMAIL FROM:<a@b>\r\n")
    assert line.text_lines() == ["0.500 C: EHLO x", "0.500 C: MAIL FROM:<a@b>"]
    event = TranscriptLine(1, 1.25, "closed", detail="reason=peer closed")
    assert event.text_lines() == ["1.250 -- closed reason=peer closed"]
    assert event.as_dict()["kind"] == "closed"
