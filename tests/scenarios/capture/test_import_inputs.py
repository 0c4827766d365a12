"""``smtp-hil import`` on every kind of input, good and bad.

Bad input exits 2 with one line that says which file, what is wrong and what to do:
no SMTP in the capture, a truncated capture, TLS without keys, a file that is not a
capture, several SMTP sessions without ``--stream``. Good input in the three text
notations (this project's transcript, swaks output, a ``C:``/``S:`` dialogue) gives a
scenario whose server answers as recorded.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from scenarios.cli.main import main
from scenarios.format import load_scenario, parse_scenario
from scenarios.runner import run

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None,
                                reason="tshark is not installed (Debian: apt-get install "
                                       "tshark; .ci/run does)")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


def artifacts(name: str, tmp_path: Path) -> Path:
    status, _, err = cli("run", name, "--artifacts", str(tmp_path / "runs"))
    assert status in (0, 1), err
    return tmp_path / "runs" / f"{name}--current--seed0"


def bad(*args: str) -> str:
    status, out, err = cli("import", *args)
    assert status == 2, (out, err)
    assert out == "" and err.count("\n") == 1, err
    return err


def test_a_capture_without_smtp_is_refused(tmp_path: Path) -> None:
    a, b = ("10.0.0.1", 40000), ("10.0.0.2", 80)
    frames = [
        Ether() / IP(src=a[0], dst=b[0]) / TCP(sport=a[1], dport=b[1], flags="S", seq=0),
        Ether() / IP(src=b[0], dst=a[0]) / TCP(sport=b[1], dport=a[1], flags="SA", seq=0, ack=1),
        Ether() / IP(src=a[0], dst=b[0]) / TCP(sport=a[1], dport=b[1], flags="PA", seq=1,
                                               ack=1) / b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Ether() / IP(src=b[0], dst=a[0]) / TCP(sport=b[1], dport=a[1], flags="PA", seq=1,
                                               ack=29) / b"HTTP/1.1 200 OK\r\n\r\n",
    ]
    web = tmp_path / "web.pcap"
    wrpcap(str(web), frames)
    assert "no SMTP in it" in bad(str(web))
    dns = tmp_path / "dns.pcap"
    wrpcap(str(dns), [Ether() / IP(src=a[0], dst=b[0]) / UDP(sport=5353, dport=53) / b"x"])
    assert "no TCP traffic at all, so no SMTP session" in bad(str(dns))


def test_a_truncated_capture_is_refused(tmp_path: Path) -> None:
    whole = (artifacts("starttls", tmp_path) / "capture.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:len(whole) // 2])
    assert "truncated" in bad(str(cut))
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert "empty" in bad(str(empty), "--format", "pcap")


def test_tls_without_keys_is_refused_and_says_to_pass_keylog(tmp_path: Path) -> None:
    recorded = artifacts("starttls", tmp_path)
    line = bad(str(recorded / "capture.pcap"))
    assert "encrypted (after STARTTLS)" in line and "--keylog" in line
    other = artifacts("implicit-tls", tmp_path)
    line = bad(str(recorded / "capture.pcap"), "--keylog", str(other / "keylog.txt"))
    assert "could not decrypt" in line
    junk = tmp_path / "keys.txt"
    junk.write_text("CLIENT_RANDOM nothex secret\n")
    assert "not a key log line" in bad(str(recorded / "capture.pcap"), "--keylog", str(junk))


def test_a_file_that_is_not_a_capture_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200))
    assert "not text" in bad(str(binary))
    text = tmp_path / "notes.txt"
    text.write_text("the customer says mail stopped on Tuesday\n")
    assert "not a pcap or pcapng" in bad(str(text), "--format", "pcap")
    assert "expected 'C: ...' or 'S: ...'" in bad(str(text))
    assert "no such input file" in bad(str(tmp_path / "missing.pcap"))
    assert "not a regular file (a directory)" in bad(str(tmp_path))


def test_several_smtp_sessions_are_listed_to_choose_from(tmp_path: Path) -> None:
    first = artifacts("starttls", tmp_path) / "capture.pcap"
    second = artifacts("vrfy", tmp_path) / "capture.pcap"
    both = tmp_path / "both.pcap"
    from scapy.utils import rdpcap

    frames = list(rdpcap(str(first)))
    for frame in rdpcap(str(second)):
        frame[TCP].sport = 50000  # a second connection
        del frame[TCP].chksum
        frames.append(frame)
    wrpcap(str(both), frames)
    line = bad(str(both))
    assert "2 SMTP sessions" in line and "--stream 0" in line and "--stream 1" in line
    status, out, err = cli("import", str(both), "--stream", "1")
    assert status == 0, err
    assert parse_scenario(out, source="x").to_job().__class__.__name__ == "VrfyJob"
    assert "no TCP stream 7" in bad(str(both), "--stream", "7")


def test_an_existing_output_file_is_kept(tmp_path: Path) -> None:
    recorded = artifacts("vrfy", tmp_path)
    target = tmp_path / "mine.toml"
    target.write_text("precious")
    assert "--force" in bad(str(recorded / "capture.pcap"), "-o", str(target))
    assert target.read_text() == "precious"
    status, _, err = cli("import", str(recorded / "capture.pcap"), "-o", str(target), "--force")
    assert status == 0 and "wrote" in err
    assert load_scenario(target).name == "mine"


def replies_of(result_transcript: list[str]) -> list[str]:
    return [line.split(" S: ", 1)[1] for line in result_transcript if " S: " in line]


def test_the_projects_own_transcript_imports(tmp_path: Path) -> None:
    recorded = artifacts("pipeline-mail-rejected", tmp_path)
    status, out, err = cli("import", str(recorded / "transcript.txt"))
    assert status == 0, err
    scenario = parse_scenario(out, source="x")
    assert scenario.expect.event == "command_abort" and scenario.expect.command == "MAIL"
    again = run(scenario)
    assert again.passed, again.verdict.reasons
    mail = [w for c in again.connections for _, w in c.engine.transcript]
    assert b"550 5.7.1 Sender address rejected: access denied\r\n" in mail


SWAKS = """\
=== Trying 127.0.0.1:2525...
=== Connected to 127.0.0.1.
<-  220 mx.example.net ESMTP Postfix
 -> EHLO device.example.com
<-  250-mx.example.net
<-  250-PIPELINING
<-  250 8BITMIME
 -> MAIL FROM:<pump7@example.com>
<-  250 2.1.0 Ok
 -> RCPT TO:<ops@example.net>
<** 554 5.7.1 <ops@example.net>: Relay access denied
 -> QUIT
<-  221 2.0.0 Bye
=== Connection closed with remote host.
"""


def test_swaks_output_imports(tmp_path: Path) -> None:
    source = tmp_path / "swaks.log"
    source.write_text(SWAKS)
    status, out, err = cli("import", str(source))
    assert status == 0, err
    scenario = parse_scenario(out, source="x")
    assert scenario.server.hostname == "mx.example.net"
    assert scenario.expect.event == "command_abort" and scenario.expect.command == "RCPT"
    result = run(scenario)
    assert result.passed, result.verdict.reasons
    server = [w for c in result.connections for s, w in c.engine.transcript if s == "S"]
    assert b"554 5.7.1 <ops@example.net>: Relay access denied\r\n" in server


def test_a_plain_dialogue_imports(tmp_path: Path) -> None:
    source = tmp_path / "dialogue.txt"
    source.write_text("# from the customer's server log\n"
                      "S: 220 mail.customer.example ESMTP\n"
                      "C: HELO pump7\n"
                      "S: 250 mail.customer.example\n"
                      "C: MAIL FROM:<pump7@example.com>\n"
                      "S: 452 4.3.1 Insufficient system storage\n"
                      "C: QUIT\n"
                      "S: 221 Bye\n")
    status, out, err = cli("import", str(source), "--format", "transcript")
    assert status == 0, err
    scenario = parse_scenario(out, source="x")
    assert scenario.expect.reply_code == 452
    assert "452 4.3.1 Insufficient system storage" in out
