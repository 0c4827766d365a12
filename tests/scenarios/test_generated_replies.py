"""Generated replies (``[server.rules.generate]``) and the server-side checks of the
hostile catalog (``commands_absent``, ``no_unknown_commands``, ``no_long_lines``,
``reply_abandoned``).

A generated reply is made chunk by chunk as the socket takes it: the bytes are checked
against what the spec says, a 100 MB line costs the simulated server one TCP window, the
trace keeps its length and SHA-256 and never its bytes, and the asyncio driver writes it
to a real socket as the transport drains.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket

import pytest

from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import RunResult, run
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.generated import CHUNK, GeneratedReply
from scenarios.server.rules import Rule, ServerConfig
from scenarios.server.simdriver import STREAM_WINDOW
from smtp.events import ClientError, ErrorKind

PATTERN = bytes(range(0x30, 0x60))

# ---- the bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "expected"), [
    (GeneratedReply("lines", head="250-mx", line="250-X", count=3, tail="250 OK"),
     b"250-mx\r\n250-X\r\n250-X\r\n250-X\r\n250 OK\r\n"),
    (GeneratedReply("lines", line="250-Y", count=2), b"250-Y\r\n250-Y\r\n"),
    (GeneratedReply("long_line", prefix="250 ", fill="B", size=5, crlf=False), b"250 BBBBB"),
    (GeneratedReply("long_line", prefix="250 ", size=3), b"250 AAA\r\n"),
    (GeneratedReply("challenge", prefix="334 ", decoded_size=100),
     b"334 " + base64.b64encode((PATTERN * 3)[:100]) + b"\r\n"),
])
def test_the_bytes_are_what_the_spec_says(reply: GeneratedReply, expected: bytes) -> None:
    assert b"".join(reply.chunks()) == expected
    assert reply.total == len(expected)
    assert reply.start(6) == expected[:6]


@pytest.mark.parametrize("reply", [
    GeneratedReply("long_line", prefix="250 ", size=3 * CHUNK + 17, crlf=False),
    GeneratedReply("lines", head="250-h", line="250-XYZ", count=50_000),
    GeneratedReply("challenge", prefix="334 ", decoded_size=200_001),
])
def test_large_replies_come_in_bounded_chunks_and_add_up(reply: GeneratedReply) -> None:
    total = 0
    digest = hashlib.sha256()
    for chunk in reply.chunks():
        assert 0 < len(chunk) <= CHUNK
        total += len(chunk)
        digest.update(chunk)
    assert total == reply.total
    if reply.kind == "challenge":
        data = b"".join(reply.chunks())
        assert base64.b64decode(data[4:-2], validate=True) == (PATTERN * 5000)[:200_001]


def test_a_hundred_megabytes_are_never_made_at_once() -> None:
    reply = GeneratedReply("long_line", prefix="250 ", size=100 * 1024 * 1024, crlf=False)
    assert reply.total == 104_857_604
    assert reply.describe() == 'generated 104857604 octets: "250 AAAAAAAA…", no CRLF'
    first = next(iter(reply.chunks()))
    assert len(first) == CHUNK


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "lines", "count": 1, "line": "250-a\r\n250 b"}, "GeneratedReply.line"),
    ({"kind": "long_line", "fill": "AB", "size": 3}, "GeneratedReply.fill"),
    ({"kind": "long_line", "size": (1 << 30) + 1}, "GeneratedReply.size"),
    ({"kind": "lines"}, "GeneratedReply.count: the reply would be empty"),
    ({"kind": "stream"}, "GeneratedReply.kind"),
])
def test_a_bad_spec_names_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratedReply(**fields)  # type: ignore[arg-type]


def test_a_generated_reply_is_the_whole_answer_of_its_rule() -> None:
    reply = GeneratedReply("lines", line="250-X", count=2)
    with pytest.raises(ValueError, match=r"Rule\.reply: not used with generate"):
        Rule("EHLO", reply="250 x", generate=reply)
    with pytest.raises(ValueError, match=r"Rule\.generate: only with action"):
        Rule("EHLO", action="trickle", generate=reply)


# ---- through a run ------------------------------------------------------------------------

SCENARIO = """
[scenario]
name = "probe"
title = "probe"
time_limit_s = 900

[device.config.server]
security = "none"
{device}

[server]
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Shift report"
body = "Pump 7 shift report.\\n"

[expect]
event = "{event}"
{expect}
"""


def run_probe(*, server: str, event: str = "error", expect: str = "",
              device: str = "") -> RunResult:
    text = SCENARIO.format(server=server, event=event, expect=expect, device=device)
    return run(parse_scenario(text, source="probe.toml"))


def generated_records(result: RunResult) -> list[dict[str, object]]:
    return [dict(r.fields) for r in result.trace
            if r.source.startswith("server.") and r.kind == "tx_generated"]


HUNDRED_MB_LINE = """[[server.rules]]
verb = "EHLO"
[server.rules.generate]
kind = "long_line"
prefix = "250 "
size = 104857600
crlf = false
"""


def test_a_hundred_megabyte_line_costs_one_window_and_the_client_gives_up() -> None:
    result = run_probe(server=HUNDRED_MB_LINE, expect="error_kind = \"protocol\"\n"
                                                      "[expect.server]\nreply_abandoned = true")
    assert result.passed, result.verdict.reasons
    event = result.terminal.event if result.terminal else None
    assert isinstance(event, ClientError) and event.kind is ErrorKind.PROTOCOL
    assert event.detail == "malformed reply: reply line longer than 512 octets"
    (record,) = generated_records(result)
    assert record["total"] == 104_857_604
    sent = record["sent"]
    assert isinstance(sent, int) and 512 < sent <= 2 * STREAM_WINDOW
    assert isinstance(record["sha256"], str) and len(record["sha256"]) == 64
    # The trace holds no generated byte beyond what crossed the link.
    assert all(len(r.fields.get("data", b"")) < 1024 for r in result.trace  # type: ignore[arg-type]
               if r.source.startswith("server.") and r.kind == "tx")


def test_ten_thousand_continuation_lines_are_cut_at_the_line_cap() -> None:
    server = """[[server.rules]]
verb = "EHLO"
[server.rules.generate]
kind = "lines"
head = "250-smtp.example.com"
line = "250-X"
count = 10000
"""
    result = run_probe(server=server, expect='error_kind = "protocol"\n'
                                             "[expect.server]\nreply_abandoned = true")
    assert result.passed, result.verdict.reasons
    assert result.terminal is not None
    assert "more than 100 lines" in str(result.terminal.event)


MEGABYTE_CHALLENGE = """credentials = { pump7 = "s3cret-pump7" }

[[server.rules]]
verb = "AUTH"
transition = true
[server.rules.generate]
kind = "challenge"
prefix = "334 "
decoded_size = 1048576
"""
AUTH = """
[device.config.auth]
username = "pump7"
password = "s3cret-pump7"
mechanism = "LOGIN"
"""


def test_a_megabyte_challenge_is_cancelled_with_a_star() -> None:
    result = run_probe(server=MEGABYTE_CHALLENGE, device=AUTH, expect='error_kind = "auth_failed"'
                       '\n[expect.server]\nmail_count = 0\ncommands_absent = ["MAIL"]')
    assert result.passed, result.verdict.reasons
    received = b"".join(r.fields["data"] for r in result.trace  # type: ignore[misc]
                        if r.source.startswith("server.") and r.kind == "rx")
    assert received.endswith(b"AUTH LOGIN\r\n*\r\n")


@pytest.mark.parametrize(("expect", "reason"), [
    ('commands_absent = ["EHLO", "mail"]',
     "the client sent EHLO, MAIL, which it must never send here"),
    ("no_unknown_commands = false", "not expected: command lines the server does not know"),
    ("no_long_lines = false", "not expected: 0 content line(s) over 1000 octets"),
    ("reply_abandoned = true", "reply_abandoned: the server sent no generated reply"),
])
def test_the_new_server_checks_say_what_they_saw(expect: str, reason: str) -> None:
    result = run_probe(server="", event="sent", expect=f"[expect.server]\n{expect}")
    assert not result.passed
    assert any(reason in r for r in result.verdict.reasons), result.verdict.reasons


def test_unknown_commands_and_long_lines_are_seen() -> None:
    server = ('[[server.rules]]\nverb = "EHLO"\nreply = "354 go ahead"\ntransition = false\n')
    result = run_probe(server=server, event="command_abort",
                       expect='command = "EHLO"\n[expect.server]\nno_unknown_commands = true')
    assert result.passed, result.verdict.reasons
    long_body = "x" * 1500
    text = SCENARIO.format(server="", event="sent", device="",
                           expect="[expect.server]\nno_long_lines = true")
    text = text.replace('body = "Pump 7 shift report.\\n"', f'body = "{long_body}\\n"')
    assert run(parse_scenario(text, source="probe.toml")).passed


@pytest.mark.parametrize(("generate", "message"), [
    ('kind = "long_line"\nsize = 2000000000', "generate.size: expected an integer <= 1073741824"),
    ('kind = "lines"\nline = "250-X"', "generate.count: the reply would be empty"),
    ('kind = "tape"', "generate.kind: expected one of lines, long_line, challenge"),
])
def test_bad_generate_tables_name_the_key(generate: str, message: str) -> None:
    text = SCENARIO.format(server=f'[[server.rules]]\nverb = "EHLO"\n[server.rules.generate]\n'
                                  f"{generate}\n", event="error", expect="", device="")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="x.toml")
    assert any(message in p for p in info.value.problems), info.value.problems


# ---- on a real socket ------------------------------------------------------------------------


def test_the_asyncio_server_writes_a_generated_reply_as_the_transport_drains() -> None:
    reply = GeneratedReply("lines", head="250-big", line="250-" + "Z" * 60, count=20_000,
                           tail="250 OK")

    async def scenario() -> tuple[bytes, AsyncServer]:
        config = ServerConfig(starttls=False, rules=(Rule("EHLO", generate=reply),))
        server = AsyncServer(config)
        _, port = await server.start("127.0.0.1", 0)

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                data = b""
                while not data.endswith(b"\r\n"):
                    data += sock.recv(4096)  # the greeting
                sock.sendall(b"EHLO me\r\n")
                got = b""
                while not got.endswith(b"250 OK\r\n"):
                    chunk = sock.recv(65536)
                    assert chunk, "the server closed early"
                    got += chunk
                sock.sendall(b"QUIT\r\n")
                return got

        got = await asyncio.to_thread(client)
        assert await server.wait_all_closed(10)
        await server.close()
        return got, server

    got, server = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert got == b"".join(reply.chunks())
    (seen,) = server.connections[0].engine.observations.generated_replies
    assert (seen.total, seen.sent, seen.abandoned) == (reply.total, reply.total, False)
    (note,) = [line for line in server.connections[0].lines if line.kind == "tx_generated"]
    assert note.detail.endswith(f"sent {reply.total} sha256={hashlib.sha256(got).hexdigest()}")


def test_a_client_that_resets_after_a_little_of_a_hundred_megabytes_abandoned_it() -> None:
    """The client reads 8 KiB of a 100 MB line and resets. The transport then drops
    every write without a word until the loss reaches the driver; the driver once counted
    those dropped writes as sent, so ``reply_abandoned`` failed a client that gave up
    (curl, smtplib: "read the whole generated reply (104857604 octets)")."""
    reply = GeneratedReply("long_line", prefix="250 ", size=100 * 1024 * 1024, crlf=False)

    async def scenario() -> AsyncServer:
        config = ServerConfig(starttls=False, rules=(Rule("EHLO", generate=reply),))
        server = AsyncServer(config)
        _, port = await server.start("127.0.0.1", 0)

        def client() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                data = b""
                while not data.endswith(b"\r\n"):
                    data += sock.recv(4096)  # the greeting
                sock.sendall(b"EHLO me\r\n")
                got = 0
                while got < 8192:
                    chunk = sock.recv(8192)
                    assert chunk, "the server closed early"
                    got += len(chunk)
                # Close with unread data: the kernel answers the server's next segment
                # with RST, as when curl or smtplib exit after refusing the line.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00"
                                b"\x00\x00\x00\x00")

        await asyncio.to_thread(client)
        assert await server.wait_all_closed(10)
        await server.close()
        return server

    server = asyncio.run(asyncio.wait_for(scenario(), 60))
    (seen,) = server.connections[0].engine.observations.generated_replies
    assert seen.abandoned, (seen.total, seen.sent)
    assert seen.sent < 16 * 1024 * 1024, seen.sent
