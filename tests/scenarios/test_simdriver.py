"""The scripted server on the simulated host: what reaches the wire, and the server
host's buffers.

Whole runs through the runner (the modelled client on the emulated board against the
scripted server), read back from the trace, the transcript and the pcap: after the
server's own close_notify nothing is processed or sent but what the rule itself writes,
and every way a server connection ends gives every buffer of the server host's pool back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.trace import TraceRecord
from emulator.units import MINUTE
from scenarios.artifacts import transcript_lines, write_artifacts
from scenarios.format import parse_scenario
from scenarios.runner import RunResult, run
from scenarios.world import SERVER_IP
from smtp.events import ClientError, ErrorKind
from stack.pcap import segment_records


def _scenario_text(*, security: str = "starttls", rule: str = "", job: str = "",
                   server: str = "", faults: str = "") -> str:
    return f"""
[scenario]
name = "probe"
title = "probe"
time_limit_s = 1800

[device.config.server]
security = "{security}"

[server]
hostname = "mx.example.net"
starttls = {"true" if security == "starttls" else "false"}
{server}

[[server.rules]]
{rule}

{faults}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Hourly status"
body = "Pressure nominal.\\n"
{job}

[expect]
event = "error"
"""


def _run(**parts: str) -> RunResult:
    return run(parse_scenario(_scenario_text(**parts), source="probe.toml"))


def _server_records(result: RunResult) -> list[TraceRecord]:
    return [r for r in result.world.kernel.trace.records if r.source.startswith("server.")]


def _after(records: list[TraceRecord], kind: str) -> list[TraceRecord]:
    """The records after the first one of ``kind``."""
    index = next(i for i, r in enumerate(records) if r.kind == kind)
    return records[index + 1:]


def _segments_after_drop(result: RunResult) -> list[TraceRecord]:
    """The link's segments (the frames of the pcap, in order) sent after the server's
    drop_tls record."""
    records = result.world.kernel.trace.records
    drop = next(i for i, r in enumerate(records)
                if r.source.startswith("server.") and r.kind == "drop_tls")
    return list(segment_records(records[drop + 1:]))


def _payload(record: TraceRecord) -> bytes:
    payload = record.fields["payload"]
    data = payload if isinstance(payload, bytes) else getattr(payload, "data", b"")
    assert isinstance(data, bytes)
    return data


def _sent_by(segments: list[TraceRecord], ip: str) -> bytes:
    return b"".join(_payload(r) for r in segments
                    if str(r.fields["src"]).startswith(ip + ":"))


def _tls_records(stream: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each whole TLS record in ``stream``."""
    out = []
    while len(stream) >= 5:
        length = int.from_bytes(stream[3:5], "big")
        out.append((stream[0], length))
        stream = stream[5 + length:]
    assert stream == b"", "the stream ends inside a TLS record"
    return out


# ---- after the server's close_notify -----------------------------------------------------

CLOSE_NOTIFY_ON_MAIL = """verb = "MAIL"
in_tls = true
action = "drop_tls"
drop_tls_mode = "close_notify"
"""

NO_PIPELINING = """capabilities_tls = ["SIZE 10485760", "8BITMIME"]"""


@pytest.mark.parametrize("server", ["", NO_PIPELINING], ids=["pipelined", "one-by-one"])
def test_after_its_close_notify_the_server_processes_and_sends_nothing(
        server: str, tmp_path: Path) -> None:
    result = _run(rule=CLOSE_NOTIFY_ON_MAIL, server=server)

    assert result.mailbox == []
    records = _server_records(result)
    later = _after(records, "drop_tls")
    assert [r.kind for r in later if r.kind in ("rx", "tx")] == []
    # The transcript says the same: no line from either side after the drop.
    lines = transcript_lines(result.world.kernel.trace.records)
    drop = next(i for i, line in enumerate(lines) if " -- drop_tls " in line)
    assert not [line for line in lines[drop:] if " S: " in line or " C: " in line]
    assert lines[drop - 1].endswith("S: 250 2.1.0 Sender OK")
    # On the wire (the link's segments, which the pcap is made of): after the drop the
    # server sent one TLS record, its close_notify alert, and nothing else.
    segments = _segments_after_drop(result)
    sent = _sent_by(segments, SERVER_IP)
    assert len(_tls_records(sent)) == 1
    # And the pcap holds the same frames.
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    frames = rdpcap(str(write_artifacts(result, tmp_path) / "capture.pcap"))
    tail = frames[len(frames) - len(segments):]
    assert b"".join(bytes(f[TCP].payload) for f in tail if f[TCP].sport == 25) == sent


def test_what_the_client_sends_after_the_close_notify_is_discarded_and_said_so() -> None:
    result = _run(rule=CLOSE_NOTIFY_ON_MAIL, server=NO_PIPELINING)
    later = _after(_server_records(result), "drop_tls")
    discarded = [r for r in later if r.kind == "discarded"]
    assert discarded and all(isinstance(r.fields["length"], int) for r in discarded)
    lines = transcript_lines(result.world.kernel.trace.records)
    assert any(" -- discarded " in line for line in lines)


def test_a_rule_inject_after_close_notify_goes_out_in_plaintext_and_the_client_ignores_it(
        ) -> None:
    rule = CLOSE_NOTIFY_ON_MAIL + 'inject = "250 plaintext after TLS\\r\\n"\n'
    result = _run(rule=rule)

    assert result.mailbox == []
    later = _after(_server_records(result), "drop_tls")
    assert [r.fields["data"] for r in later if r.kind == "tx"] == [
        b"250 plaintext after TLS\r\n"]
    assert not [r for r in later if r.kind == "rx"]
    sent = _sent_by(_segments_after_drop(result), SERVER_IP)
    assert sent.endswith(b"250 plaintext after TLS\r\n")  # on the wire, in the clear
    assert len(_tls_records(sent[:-len(b"250 plaintext after TLS\r\n")])) == 1
    assert result.terminal is not None
    event = result.terminal.event
    assert isinstance(event, ClientError) and event.kind is ErrorKind.CONNECTION_LOST


# ---- the server host's pool, however a connection ends -----------------------------------

BIG_MAIL = 'attachments = [{ filename = "log.bin", size = 20000 }]'

SERVER_ENDINGS = {
    "silent": ('verb = "MAIL"\naction = "silent"', ""),
    "silent, forged client RST": (
        'verb = "MAIL"\naction = "silent"',
        '[[link.faults]]\nfault = "inject_rst"\ntowards = "server"\nat_s = 5'),
    "close": ('verb = "MAIL"\naction = "close"', ""),
    "reset": ('verb = "MAIL"\naction = "reset"', ""),
    "reply_then_close": ('verb = "MAIL"\naction = "reply_then_close"', ""),
    "drop_tls tcp_close": (
        'verb = "MAIL"\nin_tls = true\naction = "drop_tls"\ndrop_tls_mode = "tcp_close"', ""),
    "drop_tls rst": (
        'verb = "MAIL"\nin_tls = true\naction = "drop_tls"\ndrop_tls_mode = "rst"', ""),
    "drop_tls close_notify": (
        'verb = "MAIL"\nin_tls = true\naction = "drop_tls"\ndrop_tls_mode = "close_notify"',
        ""),
}


@pytest.mark.parametrize(("ending", "security"), [
    (ending, security) for ending in SERVER_ENDINGS for security in ("none", "starttls")
    if security == "starttls" or not ending.startswith("drop_tls")])
def test_the_server_host_gets_every_buffer_back_however_the_connection_ends(
        ending: str, security: str) -> None:
    """The client is in the middle of a 20 kB mail (pipelined with MAIL, so part of it is
    on its way or unread) when the server goes silent, closes, resets or drops TLS; the
    client then gives up (RST) or closes. Every buffer of the server host comes back once
    TCP has finished (the run itself may stop while a FIN is still being acknowledged)."""
    rule, faults = SERVER_ENDINGS[ending]
    result = _run(security=security, rule=rule, faults=faults, job=BIG_MAIL)
    kernel = result.world.kernel
    kernel.run(until_us=kernel.now_us + 10 * MINUTE)

    assert result.mailbox == []
    assert result.terminal is not None
    assert [c.closed for c in result.connections] == [True]
    assert result.world.server_host.stack.connections == []
    pool = result.world.server_host.pool
    assert pool.in_use == 0, f"{pool.in_use} server buffer(s) still in use"
    assert result.pool_in_use_at_end == 0


def test_a_handshake_sent_while_a_starttls_reply_is_still_going_out_is_not_read_as_plaintext(
        ) -> None:
    """starttls-injection-own-segment: the 220, a 0.2 s gap, the injection, then TLS. The
    client's ClientHello arrives in the gap: the server must not read it as plaintext
    dialogue (its random bytes made the trace differ from run to run); TLS finds it
    buffered before TLS and discards it by length."""
    from scenarios.runner import resolve_scenario, run

    scenario = resolve_scenario("starttls-injection-own-segment")
    first, second = run(scenario, "current"), run(scenario, "current")
    assert first.trace_sha256 == second.trace_sha256
    server = [r for r in first.trace if r.source.startswith("server.")]
    discarded = [r for r in server if r.kind == "discarded_plaintext"]
    assert len(discarded) == 1 and discarded[0].fields["length"] > 0
    assert not [r for r in server if r.kind == "rx" and r.t_us > discarded[0].t_us - 200_000
                and r.t_us < discarded[0].t_us]
