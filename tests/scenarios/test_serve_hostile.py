"""``smtp-hil serve`` facing clients that log in, misbehave or vanish, over real loopback
sockets: credentials hidden in what it prints, bounded memory (message size, line
length, idle time, concurrent connections), no traceback whatever a client does.

Each test starts ``serve`` as a process of its own (its stderr is part of what is
checked) and talks to it with raw sockets or smtplib.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import queue
import re
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scenarios.outside.serve import storage_check
from scenarios.server.asyncdriver import AsyncConnection
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.limits import ConnectionLimits, StorageShortfall
from scenarios.server.rules import Rule, ServerConfig

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 20.0  # hang guards only
PLAIN_BLOB = base64.b64encode(b"\0pump7\0s3cret-pump7").decode()
LOGIN_LINES = [base64.b64encode(b"pump7").decode(), base64.b64encode(b"s3cret-pump7").decode()]


@dataclass
class Serve:
    """A running ``smtp-hil serve``: its port and its output lines as they come."""

    process: subprocess.Popen[bytes]
    port: int = 0
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def next_line(self) -> str:
        line = self.lines.get(timeout=GUARD_S)
        self.seen.append(line)
        return line

    def wait_for(self, text: str) -> str:
        """The next output line containing ``text`` (the lines before it are kept)."""
        while True:
            line = self.next_line()
            if text in line:
                return line

    def stop(self) -> tuple[str, str]:
        """SIGTERM, then everything it printed and its standard error."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=GUARD_S)
        assert self.process.stderr is not None
        err = self.process.stderr.read().decode()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen), err


@contextmanager
def serving(scenario: str, *options: str) -> Iterator[Serve]:
    """``serve SCENARIO --listen 127.0.0.1:0 OPTIONS``; the port is known on entry."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "serve", scenario, "--listen", "127.0.0.1:0",
         "--max-delay", "0.05", *options], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    serve = Serve(process)

    def pump() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            serve.lines.put(raw.decode())

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = serve.next_line()
        if first.startswith("{"):
            serve.port = json.loads(first)["port"]
        else:
            serve.port = int(first.split()[3].rsplit(":", 1)[1])
        yield serve
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------
# Credentials


def _log_in(port: int, scenario: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com",
                      timeout=GUARD_S) as client:
        client.login("pump7", "s3cret-pump7")


@pytest.mark.parametrize("json_output", [False, True])
@pytest.mark.parametrize(("scenario", "secrets"), [("auth-plain", [PLAIN_BLOB]),
                                                   ("auth-login", LOGIN_LINES)])
def test_serve_hides_credentials_unless_asked(scenario: str, secrets: list[str],
                                              json_output: bool) -> None:
    options = ["--once", *(["--json"] if json_output else [])]
    with serving(scenario, *options) as hidden:
        _log_in(hidden.port, scenario)
        out, err = hidden.stop()
    assert not any(s in out + err for s in secrets) and "s3cret" not in out + err
    assert "<credentials hidden, " in out
    with serving(scenario, *options, "--show-secrets") as shown:
        _log_in(shown.port, scenario)
        out, _ = shown.stop()
    assert all(s in out for s in secrets)


# ----------------------------------------------------------------------------------------
# Clients that reset


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before {marker!r}; got {data!r}"
        data += chunk
    return data


def _reset_after_connect(port: int) -> None:
    _reset(_connect(port))


def _reset_after_greeting(port: int) -> None:
    sock = _connect(port)
    _read_until(sock, b"220 ")
    _reset(sock)


def _reset_mid_command(port: int) -> None:
    sock = _connect(port)
    _read_until(sock, b"220 ")
    sock.sendall(b"EHLO dev.exa")
    _reset(sock)


def _reset_after_quit(port: int) -> None:
    """QUIT and RST at once: the server's 221 and FIN meet a socket already reset."""
    sock = _connect(port)
    _read_until(sock, b"220 ")
    sock.sendall(b"QUIT\r\n")
    _reset(sock)


def _reset_mid_data(port: int) -> None:
    sock = _connect(port)
    _read_until(sock, b"220 ")
    for command in (b"EHLO dev.example.com", b"MAIL FROM:<a@example.com>",
                    b"RCPT TO:<b@example.net>", b"DATA"):
        sock.sendall(command + b"\r\n")
        _read_until(sock, b"\r\n")
    sock.sendall(b"Subject: x\r\n\r\n" + b"y" * 100_000)
    _reset(sock)


def _reset_mid_tls_handshake(port: int) -> None:
    sock = _connect(port)
    _read_until(sock, b"220 ")
    sock.sendall(b"EHLO dev.example.com\r\n")
    _read_until(sock, b"250 ")
    sock.sendall(b"STARTTLS\r\n")
    _read_until(sock, b"220 ")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    sock.sendall(outgoing.read())  # the ClientHello
    sock.recv(65536)  # part of the server's answer
    _reset(sock)


def _reset_during_a_server_delay(port: int) -> None:
    """The server is waiting out a delay before its reply when the client resets."""
    sock = _connect(port)
    _read_until(sock, b"220 ")
    sock.sendall(b"NOOP\r\n")
    _reset(sock)


RESETS = [_reset_after_connect, _reset_after_greeting, _reset_mid_command,
          _reset_after_quit, _reset_mid_data, _reset_mid_tls_handshake,
          _reset_during_a_server_delay]

_DELAYED = """
[scenario]
name = "delayed"
title = "replies to NOOP after a delay, then closes"

[server]
starttls = true

[[server.rules]]
verb = "NOOP"
delay_s = 0.2
reply = "421 4.3.2 closing"
action = "reply_then_close"

[job]
from = "a@example.com"
to = ["b@example.net"]

[expect]
event = "sent"
"""


def test_a_fin_to_a_client_that_already_reset_ends_the_connection_quietly() -> None:
    """The client's RST has arrived, but the loop has not read it yet when the server
    closes (a rule closes on NOOP): shutdown() fails with ENOTCONN. That must end the
    connection as reset, not raise out of the protocol callback."""
    config = ServerConfig(starttls=False, rules=(Rule(verb="NOOP", action="close"),))

    async def scenario() -> AsyncConnection:
        server = AsyncServer(config, gather_s=0)
        _, port = await server.start("127.0.0.1", 0)
        client = await asyncio.to_thread(_connect, port)
        await asyncio.to_thread(_read_until, client, b"220 ")
        connection = server.connections[0]
        _reset(client)
        time.sleep(0.05)  # the RST arrives while the loop is busy: nothing reads it
        connection.data_received(b"NOOP\r\n")  # as the loop would hand it over
        await asyncio.wait_for(connection.finished.wait(), GUARD_S)
        await server.close()
        return connection

    connection = asyncio.run(scenario())
    assert connection.close_reason == "peer reset"


def _quit_and_reset_at_once(port: int) -> None:
    try:
        sock = _connect(port)
        _read_until(sock, b"220 ")
        sock.sendall(b"NOOP\r\nQUIT\r\n")
        _reset(sock)
    except OSError:
        pass  # the server may be the first to go: that is its business


def test_no_reset_at_any_point_gives_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "delayed.toml"
    scenario.write_text(_DELAYED)
    burst = 200
    with serving(str(scenario), "--max-delay", "0.2") as serve:
        for attempt in range(3):  # the timing of a reset varies: try each a few times
            for index, client in enumerate(RESETS, 1):
                client(serve.port)
                serve.wait_for(f"(server side, connection {attempt * len(RESETS) + index} ")
        with ThreadPoolExecutor(max_workers=20) as pool:  # races between RST and replies
            list(pool.map(_quit_and_reset_at_once, [serve.port] * burst))
        serve.wait_for(f"(server side, connection {3 * len(RESETS) + burst} ")
        out, err = serve.stop()
    assert serve.process.returncode in (0, 1)
    assert "Traceback" not in err and "Exception in callback" not in err, err
    total = 3 * len(RESETS) + burst  # nothing but the summary of what was judged
    assert re.fullmatch(rf"smtp-hil serve: stopped: {total} connection\(s\) judged, "
                        rf"\d+ failed\n", err), err
    assert out.count("-- closed reason=peer reset") >= len(RESETS)


# ----------------------------------------------------------------------------------------
# Bounds


def _greeted(port: int) -> socket.socket:
    sock = _connect(port)
    _read_until(sock, b"\r\n")
    return sock


def _command(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r\n")
    return _read_until(sock, b"\r\n")


def _envelope(sock: socket.socket) -> None:
    sock.sendall(b"EHLO dev.example.com\r\n")
    reply = b""
    while not re.search(rb"(^|\r\n)250 [^\r\n]*\r\n", reply):
        reply += _read_until(sock, b"\r\n")
    assert _command(sock, b"MAIL FROM:<a@example.com>").startswith(b"250")
    assert _command(sock, b"RCPT TO:<b@example.net>").startswith(b"250")


def test_a_released_connection_leaves_nothing_behind() -> None:
    """What serve does after printing a verdict: once released, the connection, its
    engine and its mailbox can be collected; with keep_lines False no line was kept."""
    async def scenario() -> tuple[weakref.ref[AsyncConnection], int]:
        server = AsyncServer(ServerConfig(starttls=False), keep_lines=False)
        _, port = await server.start("127.0.0.1", 0)

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="dev.example.com",
                              timeout=GUARD_S) as client:
                client.sendmail("a@example.com", ["b@example.net"], b"x" * 100_000)

        await asyncio.to_thread(send)
        connection = await asyncio.wait_for(server.next_finished(), GUARD_S)
        assert connection.lines == [] and len(connection.mailbox) == 1
        server.release(connection)
        gone = weakref.ref(connection)
        del connection
        await server.close()
        return gone, len(server.connections)

    gone, left = asyncio.run(scenario())
    gc.collect()
    assert left == 0 and gone() is None


def test_a_client_that_does_not_read_its_replies_is_not_read_either() -> None:
    """Each NOOP gets 4 KiB of reply; the client sends 5,000 and reads nothing. Once
    the replies pile up, the server stops reading, so it has answered far fewer."""
    big = "\n".join(["250-" + "r" * 400] * 10 + ["250 ok"])
    config = ServerConfig(starttls=False, rules=(Rule(verb="NOOP", reply=big),))

    async def scenario() -> int:
        server = AsyncServer(config, gather_s=0)
        _, port = await server.start("127.0.0.1", 0)
        client = await asyncio.to_thread(_greeted, port)
        await asyncio.to_thread(client.sendall, b"NOOP\r\n" * 5000)
        await asyncio.sleep(0.5)
        answered = server.connections[0].engine.observations.commands.count("NOOP")
        _reset(client)
        await server.close()
        return answered

    answered = asyncio.run(scenario())
    assert 0 < answered < 4000, answered


def test_a_mail_over_the_message_cap_gets_552_and_the_session_goes_on() -> None:
    with serving("blank-line-truncation", "--max-message-size", "65536") as serve:
        sock = _greeted(serve.port)
        _envelope(sock)
        assert _command(sock, b"DATA").startswith(b"354")
        sock.sendall((b"x" * 998 + b"\r\n") * 1000 + b"y" * 300_000)  # 1.3 MB, a huge line
        assert _command(sock, b"\r\n.").startswith(b"552 5.3.4")
        assert _command(sock, b"NOOP").startswith(b"250")
        sock.close()
        serve.wait_for("(server side, connection 1 ")
        _out, err = serve.stop()
    assert err == "smtp-hil serve: stopped: 1 connection(s) judged, 1 failed\n", err


KB_LINE = b"k" * 998 + b"\r\n"  # 1,000 bytes of content


def _in_data(port: int) -> socket.socket:
    sock = _greeted(port)
    _envelope(sock)
    assert _command(sock, b"DATA").startswith(b"354")
    return sock


def _mail_reply(sock: socket.socket, kilobytes: int) -> bytes:
    sock.sendall(KB_LINE * kilobytes)
    return _command(sock, b".")


def test_the_memory_budget_is_shared_by_the_connections_and_a_mail_past_it_gets_452() -> None:
    """--memory-budget 100000 and three clients at once: the first keeps a 60 KB mail,
    so the second's 60 KB gets 452 4.3.1 (its session goes on), the third's 30 KB fits.
    Once the first has left and been judged, its share is free: the second's next 60 KB
    mail is kept. The second connection's verdict says the server ran short."""
    with serving("blank-line-truncation", "--memory-budget", "100000") as serve:
        first, second, third = (_in_data(serve.port) for _ in range(3))
        second_port = second.getsockname()[1]
        assert _mail_reply(first, 60).startswith(b"250 ")
        assert _mail_reply(second, 60).startswith(b"452 4.3.1 Insufficient system storage")
        assert _mail_reply(third, 30).startswith(b"250 ")
        assert _command(second, b"NOOP").startswith(b"250")
        first.close()
        serve.wait_for("(server side, connection 1 ")
        _envelope_again(second)
        assert _mail_reply(second, 60).startswith(b"250 ")
        second.close()
        serve.wait_for("(server side, connection 2 ")
        third.close()
        serve.wait_for("(server side, connection 3 ")
        out, err = serve.stop()
    verdicts = {int(m[1]): m[0] for m in re.finditer(
        r"^(?:PASS|FAIL) .*\(server side, connection (\d+) .*$", out, re.M)}
    assert "server_storage" not in verdicts[1] + verdicts[3]
    short = ("the server refused 1 mail(s) with 452 4.3.1 Insufficient system storage (1 "
             "for the memory budget all connections share (--memory-budget 100000 bytes)): "
             "the server ran short, so this connection does not show what the scenario asks")
    assert verdicts[2].startswith("FAIL blank-line-truncation (server side, connection 2 "
                                  f"from 127.0.0.1:{second_port}): {short}; ")
    assert f"  fail            server_storage: {short}\n" in out
    assert err.startswith("smtp-hil serve: stopped: 3 connection(s) judged, "), err


def _envelope_again(sock: socket.socket) -> None:
    for command in (b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.net>"):
        assert _command(sock, command).startswith(b"250")
    assert _command(sock, b"DATA").startswith(b"354")


def test_of_two_mails_in_flight_past_the_memory_budget_one_is_kept() -> None:
    """Two 60 KB mails in flight at once against a 100 KB budget: whichever way the
    server interleaved their bytes, one is kept whole and the other gets 452 (the first
    that did not fit gives its share back); without the budget both were kept."""
    with serving("blank-line-truncation", "--memory-budget", "100000", "--json") as serve:
        pair = [_in_data(serve.port) for _ in range(2)]
        for sock in pair:
            sock.sendall(KB_LINE * 60)
        replies = sorted(_command(sock, b".")[:3] for sock in pair)
        for sock in pair:
            sock.close()
        for _ in pair:
            serve.wait_for('"type": "verdict"')
        out, _ = serve.stop()
    assert replies == [b"250", b"452"], replies
    verdicts = [json.loads(line) for line in out.splitlines() if '"type": "verdict"' in line]
    short = [v for v in verdicts if any(c["name"] == "server_storage" and c["status"] == "fail"
                                        for c in v["checks"])]
    assert len(short) == 1


def test_the_storage_check_names_each_cause_and_only_a_shortfall_gives_one() -> None:
    limits = ConnectionLimits(max_connection_bytes=5000, memory_budget_bytes=9000)
    assert storage_check(Counter(), limits) is None
    check = storage_check(Counter({StorageShortfall.SERVER: 2,
                                   StorageShortfall.CONNECTION: 1}), limits)
    assert check is not None and (check.name, check.status) == ("server_storage", "fail")
    assert check.detail == (
        "the server refused 3 mail(s) with 452 4.3.1 Insufficient system storage (1 for the "
        "connection's own cap (--max-connection-size 5000 bytes); 2 for the memory budget "
        "all connections share (--memory-budget 9000 bytes)): the server ran short, so this "
        "connection does not show what the scenario asks")


def test_a_bdat_chunk_over_the_message_cap_gets_552() -> None:
    with serving("chunking", "--max-message-size", "65536") as serve:
        sock = _greeted(serve.port)
        _envelope(sock)
        sock.sendall(b"BDAT 1000000 LAST\r\n" + b"z" * 1_000_000)
        assert _read_until(sock, b"\r\n").startswith(b"552 5.3.4")
        sock.close()
        serve.stop()


def test_a_command_line_over_the_limit_gets_500() -> None:
    with serving("blank-line-truncation") as serve:
        sock = _greeted(serve.port)
        sock.sendall(b"EHLO " + b"a" * 100_000)
        assert _command(sock, b"").startswith(b"500 5.5.2 Error: line too long")
        assert _command(sock, b"NOOP").startswith(b"250")
        sock.close()
        serve.stop()


def test_an_idle_client_is_told_421_and_closed() -> None:
    with serving("blank-line-truncation", "--idle-timeout", "0.5") as serve:
        sock = _greeted(serve.port)
        assert _command(sock, b"EHLO dev.example.com").startswith(b"250")
        started = time.monotonic()
        rest = _read_until(sock, b"\r\n")
        assert rest.startswith(b"421 4.4.2 ") and b"timeout" in rest
        assert sock.recv(100) == b""  # then the server closes
        assert 0.4 < time.monotonic() - started < GUARD_S
        sock.close()
        serve.wait_for("(server side, connection 1 ")
        out, _ = serve.stop()
    assert "-- idle_timeout after 0.5 s" in out


def test_connections_beyond_the_limit_are_told_421_and_closed() -> None:
    with serving("blank-line-truncation", "--max-connections", "2") as serve:
        first, second = _greeted(serve.port), _greeted(serve.port)
        third = _connect(serve.port)
        assert _read_until(third, b"\r\n").startswith(b"421 4.7.0 ")
        assert third.recv(100) == b""
        first.close()
        serve.wait_for("(server side, connection 1 ")
        fourth = _greeted(serve.port)  # a place is free again
        assert _command(fourth, b"NOOP").startswith(b"250")
        for sock in (second, third, fourth):
            sock.close()
        out, _ = serve.stop()
    assert "-- refused too many connections (limit 2)" in out
    assert "(server side, connection 3 " not in out  # a refused connection is not judged


def test_serve_prints_at_most_512_bytes_of_a_line() -> None:
    with serving("blank-line-truncation") as serve:
        sock = _greeted(serve.port)
        sock.sendall(b"NOOP " + b"n" * 5000 + b"\r\n")
        _read_until(sock, b"\r\n")
        sock.close()
        serve.wait_for("(server side, connection 1 ")
        out, _ = serve.stop()
    line = next(li for li in out.splitlines() if "C: NOOP" in li)
    assert line.endswith(" NOOP " + "n" * 507 + "... <4493 bytes elided>")
