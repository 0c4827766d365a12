"""The server-side verdict: observable checks judged, client-side ones not observable."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from scenarios.format import Scenario, parse_scenario
from scenarios.server.engine import ServerEngine
from scenarios.server.rules import ServerConfig
from scenarios.verdict.server import content_check, judge_server, observation_notes

NOW = datetime(2024, 6, 3, 10, 0, 0, tzinfo=UTC)
SCENARIO = """
[scenario]
name = "probe"
title = "probe"

[server]
starttls = false

[job]
from = "a@example.com"
to = ["b@example.net"]
subject = "hi"
body = "Hello.\\n"

[expect]
event = "sent"
reply_code = 250
mailbox_count = 1
body_exact = true
headers_present = ["Subject"]

[expect.server]
pipelined = true
mail_count = 1
"""
HEADERS = (b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n"
           b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n\r\n")


def _scenario(text: str = SCENARIO) -> Scenario:
    return parse_scenario(text, source="probe.toml")


def _session(*reads: bytes, config: ServerConfig | None = None) -> ServerEngine:
    engine = ServerEngine(config or ServerConfig(starttls=False))
    engine.on_connect()
    for data in reads:
        engine.on_data(data, now=NOW)
    engine.on_close("peer closed")
    return engine


def _one_at_a_time(content: bytes, ehlo: bytes = b"EHLO dev.example.com") -> ServerEngine:
    return _session(ehlo + b"\r\n", b"MAIL FROM:<a@example.com>\r\n",
                    b"RCPT TO:<b@example.net>\r\n", b"DATA\r\n", content + b".\r\n",
                    b"QUIT\r\n")


def test_each_expectation_gets_its_own_line_and_client_side_ones_are_not_observable() -> None:
    engine = _one_at_a_time(HEADERS + b"Hello.\r\n")
    verdict = judge_server(_scenario(), [engine])
    status = {c.name: c.status for c in verdict.checks}
    assert status == {
        "event": "not observable", "reply_code": "not observable",
        "mailbox_count": "pass", "body_exact": "pass", "headers_present": "pass",
        "no_watchdog_reset": "not observable",
        "server.pipelined": "fail", "server.mail_count": "pass",
    }
    assert not verdict.passed
    assert verdict.reasons == ["the client did not pipeline"]
    assert set(verdict.not_observable()) == {"event", "reply_code", "no_watchdog_reset"}


def test_a_pipelining_client_with_the_whole_body_passes() -> None:
    engine = _session(b"EHLO dev.example.com\r\n",
                      b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
                      HEADERS + b"Hello.\r\n.\r\nQUIT\r\n")
    verdict = judge_server(_scenario(), [engine])
    assert verdict.passed, verdict.reasons
    assert verdict.reason == "as expected"


def test_a_cut_body_fails_body_exact_in_the_verdicts_words() -> None:
    text = SCENARIO.replace('body = "Hello.\\n"', 'body = "Hello.\\n\\nMore.\\n"')
    engine = _one_at_a_time(HEADERS + b"Hello.\r\n")
    verdict = judge_server(_scenario(text), [engine])
    body = next(c for c in verdict.checks if c.name == "body_exact")
    assert body.status == "fail" and "cut at the first blank line" in body.detail


def test_body_exact_counts_trailing_blank_lines_and_nothing_else() -> None:
    text = SCENARIO.replace('body = "Hello.\\n"', 'body = "Hello.\\n\\n\\n"')
    lost = judge_server(_scenario(text), [_one_at_a_time(HEADERS + b"Hello.\r\n")])
    body = next(c for c in lost.checks if c.name == "body_exact")
    assert (body.status, body.detail) == (
        "fail", "server received 8 of 12 body bytes: the body was cut at the first blank line")
    extra = judge_server(_scenario(), [_one_at_a_time(HEADERS + b"Hello.\r\n\r\n")])
    body = next(c for c in extra.checks if c.name == "body_exact")
    assert (body.status, body.detail) == (
        "fail", "server received 10 body bytes, 2 more than the job's 8: it ends with "
                "b'\\r\\n' the job does not have")
    whole = judge_server(_scenario(text), [_one_at_a_time(HEADERS + b"Hello.\r\n\r\n\r\n")])
    assert next(c for c in whole.checks if c.name == "body_exact").status == "pass"


def test_serve_judges_a_login_with_the_configured_credentials() -> None:
    text = SCENARIO.replace("[server]\nstarttls = false",
                            '[server]\nstarttls = false\ncredentials = { pump7 = "pw" }')
    text += 'authenticated_as = "pump7"\n'
    config = ServerConfig(starttls=False, credentials={"pump7": "pw"})
    plain = base64.b64encode(b"\x00pump7\x00pw")
    logged_in = _session(b"EHLO dev.example.com\r\n", b"AUTH PLAIN " + plain + b"\r\n",
                         b"QUIT\r\n", config=config)
    check = next(c for c in judge_server(_scenario(text), [logged_in]).checks
                 if c.name == "server.authenticated_as")
    assert check.status == "pass"
    anonymous = _session(b"EHLO dev.example.com\r\n", b"AUTH ANONYMOUS dGVzdA==\r\n",
                         b"QUIT\r\n", config=config)
    check = next(c for c in judge_server(_scenario(text), [anonymous]).checks
                 if c.name == "server.authenticated_as")
    assert (check.status, check.detail) == (
        "fail", "expected a login as pump7 with the configured credentials, the server saw "
                "a login as anonymous (ANONYMOUS)")


def test_with_the_message_given_the_content_must_match_byte_for_byte() -> None:
    message = HEADERS + b"Hello.\r\n"
    engine = _one_at_a_time(message + b"\r\n")  # one extra empty line at the end
    verdict = judge_server(_scenario(), [engine], message=message)
    content = next(c for c in verdict.checks if c.name == "content_exact")
    assert content.status == "fail"
    assert f"at byte {len(message)}" in content.detail
    assert content_check([_one_at_a_time(message)], message).status == "pass"
    assert content_check([], message).status == "fail"


def test_notes_name_what_a_careful_client_would_not_do() -> None:
    engine = _one_at_a_time(b"Subject: x\r\n\r\n.lonely dot\r\nbare\nLF\r\n",
                            ehlo=b"EHLO 192.0.2.10")
    notes = " | ".join(observation_notes([engine.observations], engine.mailbox, now=NOW))
    assert "not a domain or address literal: ['192.0.2.10']" in notes
    assert "not dot-stuffed" in notes
    assert "bare line endings in content: 1 bare LF" in notes
    assert "has no Date header" in notes


def test_a_date_far_from_the_server_clock_gets_a_note() -> None:
    engine = _one_at_a_time(HEADERS + b"Hello.\r\n")
    later = datetime(2024, 6, 10, tzinfo=UTC)
    notes = observation_notes([engine.observations], engine.mailbox, now=later)
    assert any("h from the server's clock" in n for n in notes)
    assert observation_notes([engine.observations], engine.mailbox, now=NOW) == []


EHLO_AFTER_STARTTLS = SCENARIO.replace("starttls = false", "starttls = true").replace(
    "[expect.server]\npipelined = true\nmail_count = 1",
    "[expect.server]\nehlo_after_starttls = true")


def _after_handshake(*reads: bytes, handshake: bool = True) -> ServerEngine:
    """A STARTTLS session: EHLO, STARTTLS, the handshake (or not), then ``reads``."""
    engine = ServerEngine(ServerConfig())
    engine.on_connect()
    engine.on_data(b"EHLO dev.example.com\r\n", now=NOW)
    engine.on_data(b"STARTTLS\r\n", now=NOW)
    if handshake:
        engine.on_tls_established("TLS_AES_256_GCM_SHA384", "TLSv1.3")
    else:
        engine.on_tls_failed("no shared cipher")
    for data in reads:
        engine.on_data(data, now=NOW)
    engine.on_close("peer closed")
    return engine


def _ehlo_after_starttls(engine: ServerEngine) -> tuple[str, str]:
    verdict = judge_server(_scenario(EHLO_AFTER_STARTTLS), [engine])
    check = next(c for c in verdict.checks if c.name == "server.ehlo_after_starttls")
    return check.status, check.detail


def test_ehlo_after_starttls_says_what_the_client_did_after_the_handshake() -> None:
    assert _ehlo_after_starttls(_after_handshake(b"EHLO dev.example.com\r\n"))[0] == "pass"
    assert _ehlo_after_starttls(_after_handshake()) == (
        "fail", "the client closed the connection after the TLS handshake without a command")
    assert _ehlo_after_starttls(_after_handshake(b"MAIL FROM:<a@example.com>\r\n")) == (
        "fail", "the client's first command after the TLS handshake was MAIL, not EHLO")
    assert _ehlo_after_starttls(_after_handshake(handshake=False)) == (
        "fail", "no TLS session was established, so there was no EHLO after STARTTLS")


def test_the_plaintext_note_hides_credentials_a_client_sent_before_tls() -> None:
    engine = ServerEngine(ServerConfig(starttls=True))
    engine.on_connect()
    engine.on_data(b"EHLO dev.example.com\r\n", now=NOW)
    engine.on_data(b"STARTTLS\r\nAUTH PLAIN AHB1bXA3AHMzY3JldC1wdW1wNw==\r\n", now=NOW)
    notes = observation_notes([engine.observations], [])
    note = next(n for n in notes if "sent after STARTTLS" in n)
    assert "AUTH PLAIN <credentials hidden, " in note and "AHB1bXA3" not in note


# ---- opportunistic STARTTLS that went on in plaintext -----------------------------------

WANTS_TLS = SCENARIO.replace("[server]\n", '[device.config.server]\nsecurity = "starttls"\n\n'
                                           "[server]\n")


def _plaintext_mail(config: ServerConfig, *first: bytes) -> ServerEngine:
    engine = ServerEngine(config)
    engine.on_connect()
    for data in (b"EHLO dev.example.com\r\n", *first, b"MAIL FROM:<a@example.com>\r\n",
                 b"RCPT TO:<b@example.net>\r\n", b"DATA\r\n",
                 HEADERS + b"Hello.\r\n.\r\n", b"QUIT\r\n"):
        engine.on_data(data, now=NOW)
    engine.on_close("peer closed")
    return engine


def test_starttls_not_offered_and_mail_in_plaintext_gets_a_note() -> None:
    engine = _plaintext_mail(ServerConfig(starttls=False))
    notes = judge_server(_scenario(WANTS_TLS), [engine], now=NOW).notes
    assert "STARTTLS was not offered and the client went on in plaintext " \
        "(MAIL FROM without TLS)" in notes


def test_starttls_refused_and_mail_in_plaintext_gets_a_note() -> None:
    refusing = ServerConfig(capabilities=("STARTTLS", "PIPELINING"), starttls=False)
    engine = _plaintext_mail(refusing, b"STARTTLS\r\n")
    notes = judge_server(_scenario(WANTS_TLS), [engine], now=NOW).notes
    assert "STARTTLS was refused or failed and the client went on in plaintext " \
        "(MAIL FROM without TLS)" in notes


def test_no_downgrade_note_when_the_device_does_not_want_tls_or_did_not_go_on() -> None:
    plain = WANTS_TLS.replace('security = "starttls"', 'security = "none"')
    engine = _plaintext_mail(ServerConfig(starttls=False))
    notes = judge_server(_scenario(plain), [engine], now=NOW).notes
    assert not any("went on in plaintext" in n for n in notes)
    offered = _plaintext_mail(ServerConfig(capabilities=("STARTTLS",)))  # offered, unused
    notes = judge_server(_scenario(WANTS_TLS), [offered], now=NOW).notes
    assert not any("went on in plaintext" in n for n in notes)


def test_a_client_that_adds_the_missing_final_crlf_matches_the_message() -> None:
    """RFC 5321 4.1.1.4: a message that does not end with CRLF gets one before the final
    dot. content_exact once failed curl, msmtp and smtplib for doing just that
    ("received b'\\r\\n', given b''"), while body_exact (the same rule) passed them."""
    message = HEADERS + b"no line end at the end"
    assert content_check([_one_at_a_time(message + b"\r\n")], message).status == "pass"
    other = content_check([_one_at_a_time(message + b"X\r\n")], message)
    assert other.status == "fail"
    assert content_check([_one_at_a_time(message + b"\r\n")], message + b"\r\n").status \
        == "pass"


def _auth_outside_tls(mechanism: str, first_line: bytes) -> ServerEngine:
    config = ServerConfig(starttls=False, credentials={"pump7": "s3cret"})
    return _session(b"EHLO dev.example.com\r\n", first_line, b"QUIT\r\n", config=config)


def test_the_note_on_auth_outside_tls_says_what_crossed_the_wire() -> None:
    """It once said "the credentials crossed the wire in plaintext" for every mechanism,
    CRAM-MD5 too, where the password itself does not."""
    plain = base64.b64encode(b"\0pump7\0s3cret")
    cases = {
        "PLAIN": (b"AUTH PLAIN " + plain + b"\r\n",
                  "AUTH PLAIN sent outside TLS: the user name and password crossed the wire "
                  "in plaintext"),
        "CRAM-MD5": (b"AUTH CRAM-MD5\r\n",
                     "AUTH CRAM-MD5 sent outside TLS: the user name and a CRAM-MD5 digest of "
                     "the password crossed the wire in plaintext (not the password itself, but "
                     "a dictionary attack recovers it offline)"),
        "ANONYMOUS": (b"AUTH ANONYMOUS dGVzdA==\r\n",
                      "AUTH ANONYMOUS sent outside TLS: only an anonymous trace string crossed "
                      "the wire (no secret)"),
    }
    for mechanism, (line, note) in cases.items():
        engine = _auth_outside_tls(mechanism, line)
        notes = observation_notes([engine.observations], engine.mailbox, now=NOW)
        assert note in notes, (mechanism, notes)
