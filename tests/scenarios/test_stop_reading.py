"""A server that stops reading (``action = "stop_reading"``): its TCP receive window fills
and closes, in the simulation (the simulated TCP advertises window 0 and the client's
TCP probes) and on real sockets (the OS receive buffer fills); after ``stop_reading_s``
it reads again, and what piled up is processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from emulator.units import SECOND
from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import resolve_scenario, run
from scenarios.server.actions import Send, StopReading
from scenarios.server.asyncdriver import Pacing
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.rules import Rule, ServerConfig

BODY_LINES = [f"{i:03d};pressure_bar=4.1;flow_l_min=12.25;temperature_c=41;valve=open;"
              f"vibration_mm_s=1.1;current_a=7.4;voltage_v=398;alarms=none" for i in range(150)]
BODY = "\n".join(BODY_LINES) + "\n"  # about 14 KB: more than the server's 5,840-byte window

SCENARIO = f'''
[scenario]
name = "stop-reading"
title = "the server stops reading after the 354"

[device.config.server]
security = "none"

[server]
starttls = false
capabilities = ["SIZE 10485760", "8BITMIME"]

[[server.rules]]
verb = "DATA"
action = "stop_reading"
{{how_long}}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "log"
body = """
{BODY}"""

[expect]
event = "{{event}}"
'''


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="x.toml")
    return info.value.problems


# ---- the format --------------------------------------------------------------------------

def test_the_rule_reads_with_and_without_a_duration() -> None:
    timed = parse_scenario(SCENARIO.format(how_long="stop_reading_s = 30", event="sent"),
                           source="x.toml")
    rule = timed.server_config().rules[0]
    assert (rule.action, rule.stop_reading_us) == ("stop_reading", 30 * SECOND)
    for_good = parse_scenario(SCENARIO.format(how_long="", event="timeout"), source="x.toml")
    assert for_good.server_config().rules[0].stop_reading_us is None


@pytest.mark.parametrize(("how_long", "action", "problem"), [
    ("stop_reading_s = 30", "reply",
     "x.toml: server.rules[0].stop_reading_s: only used with action 'stop_reading'"),
    ("stop_reading_s = -1", "stop_reading",
     "x.toml: server.rules[0].stop_reading_s: expected a number >= 0, got -1"),
    ('stop_reading_s = "long"', "stop_reading",
     "x.toml: server.rules[0].stop_reading_s: expected a number, got 'long'"),
])
def test_bad_durations_are_named(how_long: str, action: str, problem: str) -> None:
    text = SCENARIO.format(how_long=how_long, event="sent").replace(
        'action = "stop_reading"', f'action = "{action}"')
    assert _problems(text) == [problem]


def test_the_rule_replies_then_stops_reading() -> None:
    rule = Rule(verb="DATA", action="stop_reading", stop_reading_us=5 * SECOND)
    assert rule.answer(b"354 go\r\n", []) == [Send(b"354 go\r\n"), StopReading(5 * SECOND)]
    with pytest.raises(ValueError, match=r"Rule\.stop_reading_us: only used with action "
                                         r"'stop_reading'"):
        Rule(verb="DATA", stop_reading_us=1)
    with pytest.raises(ValueError, match=r"StopReading\.us: expected an integer >= 0 or None"):
        StopReading(-1)


# ---- the simulated driver ----------------------------------------------------------------

def test_the_window_closes_the_client_probes_and_the_mail_arrives_once_the_server_reads() -> None:
    scenario = parse_scenario(SCENARIO.format(how_long="stop_reading_s = 30", event="sent"),
                              source="x.toml")
    result = run(scenario, "current")
    assert result.passed, result.verdict.reasons
    records = result.trace
    server = [r for r in records if r.source == "server.c1"]
    stop = next(r for r in server if r.kind == "stop_reading")
    resume = next(r for r in server if r.kind == "resume_reading")
    assert resume.t_us - stop.t_us == 30 * SECOND
    assert stop.fields["for_us"] == 30 * SECOND
    # nothing was read while the server did not read; the content came after
    assert not [r for r in server if r.kind == "rx" and stop.t_us < r.t_us < resume.t_us]
    # the server's TCP advertised what was left of its 5,840-byte buffer: less than one
    # segment, so the device's TCP sent nothing more (RFC 1122 4.2.3.4) and probed
    links = [r for r in records if r.source.startswith("link") and r.kind == "tx"
             and stop.t_us < r.t_us < resume.t_us]
    to_device = [r for r in links if str(r.fields["src"]).startswith("198.51.100.25")]
    windows = [int(str(r.fields["window"])) for r in to_device]
    assert windows == sorted(windows, reverse=True) and windows[-1] < 1460
    assert resume.fields["unread"] == 5840 - windows[-1]
    closed_at = next(r.t_us for r in to_device if r.fields["window"] == windows[-1])
    late = [r for r in links if r not in to_device and r.t_us > closed_at]
    assert late and all(r.fields["payload"] == b"" for r in late)  # probes only
    probes = [r for r in records if r.kind == "probe" and stop.t_us < r.t_us < resume.t_us]
    assert len(probes) >= 5, "the device never probed the closed window"
    assert result.mailbox[0].content.endswith(BODY_LINES[-1].encode() + b"\r\n")
    assert result.terminal is not None and result.terminal.t_us > resume.t_us


def test_a_server_that_never_reads_again_meets_the_data_block_timeout() -> None:
    # the catalog's scenario: a 6-buffer board cannot hand its 14 KB to the socket
    result = run(resolve_scenario("data-block-timeout"), "current")
    assert result.passed, result.verdict.reasons
    assert result.terminal is not None and result.terminal.event.name == "timeout"
    assert result.terminal.event.command == "data_block"  # the timer that fired
    assert 180 * SECOND <= result.terminal.t_us < 181 * SECOND  # RFC 5321's 3 minutes
    assert not [r for r in result.trace if r.kind == "resume_reading"]


# ---- the asyncio driver (serve) ---------------------------------------------------------

def test_on_a_real_socket_the_os_window_fills_then_the_server_reads_again() -> None:
    config = ServerConfig(starttls=False, rules=(
        Rule(verb="DATA", action="stop_reading", stop_reading_us=2 * SECOND),))
    content = b"x" * 998 + b"\r\n"

    async def scenario() -> tuple[AsyncServer, int, bool, int]:
        server = AsyncServer(config, pacing=Pacing())
        _, port = await server.start("127.0.0.1", 0)

        def client() -> tuple[int, bool, int]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                reader = sock.makefile("rb")

                def reply() -> bytes:
                    line = reader.readline()
                    while line[3:4] == b"-":
                        line = reader.readline()
                    return line

                reply()
                for command in (b"EHLO dev.example.com", b"MAIL FROM:<a@example.com>",
                                b"RCPT TO:<b@example.net>", b"DATA"):
                    sock.sendall(command + b"\r\n")
                    reply()
                # Write without blocking until the OS says no: the server's receive
                # buffer and ours are full, the window is closed.
                sock.setblocking(False)
                sent = 0
                blocked = False
                pending = b""
                while sent < 256 * 1024 * 1024:
                    pending = pending or content
                    try:
                        taken = sock.send(pending)
                    except BlockingIOError:
                        blocked = True
                        break
                    sent += taken
                    pending = pending[taken:]
                # A second later the server still reads nothing: the window stays shut
                # (a server that reads would have drained megabytes of buffers by then).
                time.sleep(1.0)
                more = 0
                with contextlib.suppress(BlockingIOError):
                    while more < 8 * 1024 * 1024:
                        pending = pending or content
                        taken = sock.send(pending)
                        more += taken
                        pending = pending[taken:]
                sent += more
                sock.settimeout(10)
                sock.sendall(pending + b".\r\n")  # the last line whole, then the end
                sent += len(pending)
                accepted = reply()
                assert accepted.startswith(b"250"), accepted
                sock.sendall(b"QUIT\r\n")
                reply()
                return sent, blocked, more

        sent, blocked, more = await asyncio.to_thread(client)
        assert await server.wait_all_closed(10)
        await server.close()
        return server, sent, blocked, more

    server, sent, blocked, more = asyncio.run(scenario())
    # (here about 0.3 MB more as the OS's buffers settle; a server that reads takes MBs)
    assert blocked and more < 2 * 1024 * 1024, (
        f"the window did not stay closed while the server did not read: {more} bytes more")
    lines = server.connections[0].lines
    stop = next(line for line in lines if line.kind == "stop_reading")
    resume = next(line for line in lines if line.kind == "resume_reading")
    assert stop.detail == "for 2 s" and resume.t_s - stop.t_s >= 1.9
    assert not [line for line in lines if line.kind == "C" and stop.t_s < line.t_s < resume.t_s]
    mail = server.mailbox[0]
    assert len(mail.content) == sent  # every byte written while the window was closed
