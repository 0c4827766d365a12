"""What import makes of a hostile server: each rule on a small input of its own.

The round trip over the catalog (``test_roundtrip.py``) shows the whole chain on every
hostile scenario; these tests pin each piece: the expectation a correct client's opening
gives (odd greetings, a 421 anywhere, EHLO or STARTTLS refused, a challenge too long to
read), the timing and bytes of a trickled or odd reply, the end of TLS records with
plaintext after them, a handshake the server stopped in, a reply too large to write out
recognised as a generated one, and a certificate the client refused read back as its kind.
"""

from __future__ import annotations

import io
import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scenarios.capture.certificate import certificate_finding
from scenarios.capture.generated import LARGE, generate_keys, recognise
from scenarios.capture.importer import import_scenario
from scenarios.capture.tlsflight import records_end, stall_of
from scenarios.cli.main import main
from scenarios.format import parse_scenario
from scenarios.server.generated import CHUNK, GeneratedReply
from stack.tls.badcerts import CertificateKind, CertificateSpec, server_certificate
from stack.tls.certs import make_ca

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark is not installed (Debian: apt-get install "
                                         "tshark; .ci/run does)")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


OPENING = ("S: 220 mail.example.net ESMTP\n"
           "C: EHLO pump7.example.com\n")
MAIL = ("C: MAIL FROM:<pump7@example.com>\n"
        "S: 250 ok\n"
        "C: RCPT TO:<ops@example.net>\n")


def imported(tmp_path: Path, text: str, name: str = "dialogue.txt") -> dict[str, Any]:
    source = tmp_path / name
    source.write_text(text)
    scenario, _ = import_scenario(source, input_format="transcript")
    parse_scenario(scenario, source="imported")
    return tomllib.loads(scenario)


@pytest.mark.parametrize(("dialogue", "expected"), [
    ("S: 554 no service here\nC: QUIT\n",
     {"event": "error", "error_kind": "service_unavailable", "reply_code": 554}),
    ("S: 500 Syntax error\n", {"event": "error", "error_kind": "protocol"}),
    ("S: 221 Bye\n", {"event": "error", "error_kind": "protocol"}),
    (OPENING + "S: 421 4.3.0 shutting down\n",
     {"event": "command_abort", "command": "EHLO", "reply_code": 421}),
    (OPENING + "S: 354 go ahead\n",
     {"event": "command_abort", "command": "EHLO", "reply_code": 354}),
    (OPENING + "S: 502 5.5.2 not recognized\nC: HELO pump7.example.com\nS: 220 HELO client!\n",
     {"event": "command_abort", "command": "HELO", "reply_code": 220}),
    (OPENING + "S: 250-mail.example.net\nS: 250 PIPELINING\n" + MAIL
     + "S: 421 4.3.0 shutting down\n",
     {"event": "command_abort", "command": "RCPT", "reply_code": 421}),
    (OPENING + "S: 250-mail.example.net\nS: 250 STARTTLS\nC: STARTTLS\n"
     "S: 454 4.7.0 TLS not available\nC: QUIT\nS: 221 Bye\n",
     {"event": "error", "error_kind": "tls_failed"}),
    (OPENING + "S: 250-mail.example.net\nS: 250 STARTTLS\nC: STARTTLS\n"
     "S: 250 2.0.0 OK\n", {"event": "error", "error_kind": "tls_failed"}),
    (OPENING + "S: 250-mail.example.net\nS: 250 STARTTLS\nC: STARTTLS\n"
     "S: 421 4.3.0 shutting down\n",
     {"event": "command_abort", "command": "STARTTLS", "reply_code": 421}),
    (OPENING + "S: 502 5.5.2 not recognized\nC: QUIT\nS: 221 Bye\n",
     {"event": "error", "error_kind": "tls_required"}),
    (OPENING + "S: 250-mail.example.net\nS: 250 AUTH LOGIN\nC: AUTH LOGIN\nS: 334 "
     + "A" * 20000 + "\nC: *\nS: 501 cancelled\n",
     {"event": "error", "error_kind": "auth_failed"}),
])
def test_the_expectation_is_what_the_clients_opening_does(
        tmp_path: Path, dialogue: str, expected: dict[str, Any]) -> None:
    expect = imported(tmp_path, dialogue)["expect"]
    assert {key: expect.get(key) for key in expected} == expected, expect


def test_ehlo_refused_and_no_helo_is_a_device_that_requires_tls(tmp_path: Path) -> None:
    scenario = imported(tmp_path, OPENING + "S: 502 5.5.2 not recognized\nC: QUIT\n"
                                            "S: 221 Bye\n")
    assert scenario["device"]["config"]["server"]["security"] == "required"


def test_a_starttls_never_answered_keeps_the_device_on_starttls(tmp_path: Path) -> None:
    scenario = imported(tmp_path, OPENING + "S: 250-mail.example.net\nS: 250 STARTTLS\n"
                                            "C: STARTTLS\n")
    assert scenario["device"]["config"]["server"]["security"] == "starttls"
    assert scenario["server"]["replay"][-1] == {"on": "STARTTLS", "then": "silent"}
    assert scenario["expect"]["event"] == "timeout"


def imported_run(tmp_path: Path, name: str) -> dict[str, Any]:
    """The scenario import makes of a catalog scenario's capture."""
    status, _, err = cli("run", name, "--artifacts", str(tmp_path / "runs"))
    assert status in (0, 1), err
    recorded = tmp_path / "runs" / f"{name}--current--seed0"
    scenario, _ = import_scenario(recorded / "capture.pcap",
                                  keylog=recorded / "keylog.txt")
    return tomllib.loads(scenario)


@needs_tshark
def test_a_jittered_trickle_keeps_its_gaps_to_the_microsecond(tmp_path: Path) -> None:
    mail = next(step for step in imported_run(tmp_path, "trickle-jitter")["server"]["replay"]
                if step["on"] == "MAIL")
    assert mail["write_size"] == 1
    gaps_us = [round(gap * 1_000_000) for gap in mail["gaps_s"]]
    assert all(20_000_000 <= gap <= 60_000_000 for gap in gaps_us)
    assert any(gap % 10 for gap in gaps_us)  # not rounded to 10 microseconds


@needs_tshark
def test_a_close_before_the_greeting_is_timed_from_the_accept(tmp_path: Path) -> None:
    greeting = imported_run(tmp_path, "drop-fin-after-greeting")["server"]["replay"][0]
    assert greeting == {"on": "GREETING", "then": "close"}


def test_an_empty_last_line_is_kept_raw(tmp_path: Path) -> None:
    transcript = ("0.003138 -- accept peer=192.0.2.10:49152\n"
                  "0.003138 S: 220 smtp.example.com ESMTP\n"
                  "0.005319 C: EHLO device.example.com\n"
                  "0.005319 S: 250-x\n"
                  "0.005319 S: \n"
                  "0.007458 -- closed reason=rst\n")
    ehlo = imported(tmp_path, transcript, "transcript.txt")["server"]["replay"][1]
    assert ehlo["raw"] is True and ehlo["reply"] == "250-x\r\n\r\n"


def record(content_type: int, body: bytes) -> bytes:
    return bytes([content_type, 3, 3]) + len(body).to_bytes(2, "big") + body


def test_tls_records_end_where_plaintext_begins() -> None:
    tls = record(22, b"\x02hello") + record(23, b"secret") + record(21, b"\x01\x00")
    assert records_end(tls + b"250 2.0.0 OK\r\n", 0) == len(tls)
    assert records_end(b"220 ready\r\n" + tls, 0) == 0
    assert records_end(tls + record(23, b"cut")[:6], 0) == len(tls)


HELLO = ((22,), (1,))
SERVER_HELLO = ((22,), (2,))


@pytest.mark.parametrize(("server", "client", "stall"), [
    ([], [HELLO], "before_server_hello"),
    ([SERVER_HELLO], [HELLO], "after_server_hello"),
    ([((22, 22, 22, 22), (2, 11, 12, 14))], [HELLO, ((22, 20, 22), (16,))],
     "after_first_flight"),
    ([((22, 22, 22, 22), (2, 11, 12, 14)), ((20, 22), ())], [HELLO], None),  # it went on
    ([((22, 22, 22, 22), (2, 11, 12, 14))], [HELLO, ((21,), ())], None),  # client refused
    ([((), ())], [HELLO], None),  # plaintext from the server: no TLS at all
    ([SERVER_HELLO], [], None),  # no ClientHello: no handshake to stall in
    ([((22, 20, 22, 23), (2, 8, 11, 15)), ((22, 23), (20,))],  # TLS 1.3: Finished, then
     [HELLO, ((20, 22, 23), (20,)), ((23,), ())], "after_first_flight"),  # nothing more
    ([((22, 20, 22, 23), (2, 8, 11, 15)), ((22, 23), (20,)), ((23,), ())],
     [HELLO, ((20, 22, 23), (20,)), ((23,), ())], None),  # TLS 1.3 answered: no stall
])
def test_a_stall_is_where_the_servers_records_stop(
        server: list[tuple[tuple[int, ...], tuple[int, ...]]],
        client: list[tuple[tuple[int, ...], tuple[int, ...]]], stall: str | None) -> None:
    assert stall_of(server, client) == stall


@pytest.mark.parametrize("reply", [
    GeneratedReply("lines", head="250-smtp.example.com", line="250-AUTH X", count=10000,
                   tail="250 8BITMIME"),
    GeneratedReply("lines", head="250-smtp.example.com", line="250-X", count=10000),
    GeneratedReply("long_line", prefix="250 ", size=1_000_000, crlf=False),
    GeneratedReply("challenge", prefix="334 ", decoded_size=1_048_576),
])
def test_a_reply_too_large_to_write_out_is_recognised(reply: GeneratedReply) -> None:
    whole = recognise(reply.start(reply.total), complete=True)
    assert whole is not None and whole.whole and whole.reply == reply
    cut = reply.start(8760)
    found = recognise(cut, complete=False)
    assert found is not None and not found.whole
    assert found.reply.kind == reply.kind
    assert found.reply.start(CHUNK) == reply.start(CHUNK)  # the same bytes went out
    assert len(cut) + CHUNK <= found.reply.total < len(cut) + 2 * CHUNK
    assert generate_keys(found.reply)["kind"] == reply.kind


def test_a_small_or_irregular_reply_is_written_out() -> None:
    assert recognise(b"250-x\r\n" * 100, complete=False) is None  # small
    irregular = b"250-smtp.example.com\r\n" + b"".join(
        f"250-LINE{i}\r\n".encode() for i in range(LARGE // 8))
    assert recognise(irregular, complete=False) is None


CAPTURED_AT = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["valid", "self_signed", "unknown_ca", "expired",
                                  "not_yet_valid", "wrong_name", "weak_key",
                                  "weak_signature"])
def test_a_refused_certificate_is_read_back_as_its_kind(kind: CertificateKind) -> None:
    made = server_certificate(CertificateSpec(kind=kind), ca=make_ca(),
                              names=["smtp.example.test"], reference=CAPTURED_AT)
    der = x509.load_pem_x509_certificate(made.leaf.cert_pem).public_bytes(Encoding.DER)
    found = certificate_finding(der, CAPTURED_AT, "smtp.example.test")
    assert found is not None and found.kind == kind, found
    if kind in ("expired", "not_yet_valid"):  # the kind's own dates, to the day
        expected = {"expired": (-400, -30), "not_yet_valid": (30, 400)}[kind]
        assert (found.keys["valid_from_days"], found.keys["valid_until_days"]) == expected


def test_what_is_not_a_certificate_is_no_finding() -> None:
    assert certificate_finding(b"\x30\x03\x02\x01\x00", CAPTURED_AT, None) is None


def test_a_refusal_during_the_content_aborts_data(tmp_path: Path) -> None:
    expect = imported(tmp_path, OPENING + "S: 250-mail.example.net\nS: 250 PIPELINING\n"
                      + MAIL + "S: 250 ok\nC: DATA\nS: 354 go ahead\n"
                      "S: 421 4.3.0 shutting down\n")["expect"]
    assert (expect["event"], expect["command"], expect["reply_code"]) == \
        ("command_abort", "DATA", 421)


@needs_tshark
def test_a_mail_cut_short_is_grown_to_its_declared_size(tmp_path: Path) -> None:
    scenario = imported_run(tmp_path, "drop-421-mid-body")
    attachment = scenario["job"]["attachments"][-1]
    content = 4995  # what arrived of the 90340 bytes MAIL announced
    assert 90340 * 0.7 < attachment["size"] + content < 90340


def test_content_the_server_stopped_taking_is_a_timeout_at_data(tmp_path: Path) -> None:
    expect = imported(tmp_path, OPENING + "S: 250-mail.example.net\nS: 250 PIPELINING\n"
                      + MAIL + "S: 250 ok\nC: DATA\nS: 354 go ahead\n"
                      "C: Subject: readings\nC: \nC: the first half of the mail\n")["expect"]
    assert (expect["event"], expect["command"]) == ("timeout", "DATA")
