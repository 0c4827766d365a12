"""The verdict's checks, each on real runs: a sentence when it fails, None when it holds.

Every result here comes from running a small scenario (parsed from TOML text) through
:func:`scenarios.runner.run`; nothing stands in for the client, the stack or the server.
"""

from __future__ import annotations

import dataclasses

import pytest

from scenarios.format import Scenario, parse_scenario
from scenarios.runner import RunResult, run
from scenarios.server.spool import MailContent
from scenarios.verdict import (
    CHECKS,
    Verdict,
    check_body,
    check_date,
    check_event,
    check_events_include,
    check_headers,
    check_pool,
    check_server,
    judge,
)

BODY_WITH_BLANK_LINE = "Para one.\\n\\nPara two.\\n"
"""TOML-escaped: 9 + 2 + 2 + 9 + 2 = 24 bytes once the line ends are CRLF."""
LONG_BODY = "\n".join(f"line {i:04d} " + "x" * 60 for i in range(120))
MAIL_REFUSED = """
[[server.rules]]
verb = "MAIL"
reply = "550 5.7.1 Sender address rejected"
"""
SILENT_GREETING = """
[[server.rules]]
verb = "GREETING"
action = "silent"
"""
AUTH_PLAIN_SERVER = """
capabilities = ["AUTH PLAIN", "SIZE 1000000"]
require_auth = true
credentials = { pump7 = "pw" }
"""
AUTH_DEVICE = """
[device.config.auth]
username = "pump7"
password = "pw"
"""


def _scenario(expect: str, *, server: str = "starttls = false", device: str = "",
              security: str = "none", body: str = BODY_WITH_BLANK_LINE,
              time_limit_s: int = 600) -> Scenario:
    body_toml = f'"""\n{body}\n"""' if "\n" in body else f'"{body}"'
    text = f"""
[scenario]
name = "probe"
title = "probe"
time_limit_s = {time_limit_s}

{device}

[device.config.server]
security = "{security}"

[server]
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Daily report"
body = {body_toml}

[expect]
{expect}
"""
    return parse_scenario(text, source="probe.toml")


def _run(expect: str, profile: str = "current", *, server: str = "starttls = false",
         device: str = "", security: str = "none", body: str = BODY_WITH_BLANK_LINE,
         time_limit_s: int = 600) -> RunResult:
    scenario = _scenario(expect, server=server, device=device, security=security, body=body,
                         time_limit_s=time_limit_s)
    return run(scenario, profile)


# ---- check_events_include ---------------------------------------------------------------


def test_check_events_include_passes_when_each_named_event_came() -> None:
    result = _run('event = "sent"\nevents_include = ["tls_downgraded", "connected"]',
                  security="starttls")
    assert check_events_include(result) is None


def test_check_events_include_names_the_missing_events_and_what_came() -> None:
    result = _run('event = "sent"\nevents_include = ["tls_downgraded", "tls_established"]',
                  security="none")
    assert check_events_include(result) == (
        "expected event(s) tls_downgraded, tls_established, the client reported "
        "connected, sent")


# ---- check_event -----------------------------------------------------------------------


def test_check_event_passes_the_expected_event() -> None:
    result = _run('event = "sent"\nreply_code = 250')
    assert check_event(result) is None


def test_check_event_names_the_event_it_got_instead() -> None:
    result = _run('event = "sent"', server=f"starttls = false\n{MAIL_REFUSED}")
    assert check_event(result) == (
        "expected sent, got command_abort MAIL 550 5.7.1 Sender address rejected")


def test_check_event_compares_the_reply_code_and_the_command() -> None:
    assert check_event(_run('event = "sent"\nreply_code = 251')) == (
        "expected reply 251, got sent 250 2.0.0 OK queued as HIL000001")
    result = _run('event = "timeout"\ncommand = "MAIL"',
                  server=f"starttls = false\n{SILENT_GREETING}")
    assert check_event(result) == "expected timeout on MAIL, got timeout GREETING after 300 s"


def test_check_event_a_silent_server_and_no_event_is_a_hang_within_the_time_limit() -> None:
    result = _run('event = "timeout"', server=f"starttls = false\n{SILENT_GREETING}",
                  device="[device.config.timeouts]\ngreeting = 3600", time_limit_s=600)
    assert result.terminal is None
    assert check_event(result) == "no terminal event within 600 s: the job hangs"


def test_check_event_a_hang_after_a_reply_quotes_the_servers_last_reply() -> None:
    # 2.0: "event command_abort was not sent when mail failed" (pipelined MAIL refused).
    expect = 'event = "command_abort"\ncommand = "MAIL"\nreply_code = 550'
    server = f"starttls = false\n{MAIL_REFUSED}"
    assert check_event(_run(expect, server=server)) is None
    hung = _run(expect, "2.0", server=server)
    assert check_event(hung) == (
        "no terminal event 599 s after the server's last reply "
        "(503 5.5.1 Error: need MAIL command): the job hangs")


def test_check_event_a_hang_mentions_watchdog_resets() -> None:
    # 1.0 busy-waits for a TX buffer while streaming content: the watchdog fires.
    result = _run('event = "sent"', "1.0", device="[device]\npool_buffers = 2")
    reason = check_event(result)
    assert reason is not None
    assert reason.startswith("no terminal event ")
    assert reason.endswith(": the job hangs (the board was reset 1 time(s) by the watchdog)")


# ---- check_body ------------------------------------------------------------------------


def test_check_body_passes_a_body_delivered_whole() -> None:
    assert check_body(_run('event = "sent"\nbody_exact = true')) is None


def test_check_body_says_where_release_2_4_cut_the_body() -> None:
    result = _run('event = "sent"\nbody_exact = true', "2.4")
    assert check_body(result) == (
        "server received 11 of 24 body bytes: the body was cut at the first blank line")


def test_check_body_with_no_mail_says_so() -> None:
    result = _run('event = "sent"\nbody_exact = true', server=f"starttls = false\n{MAIL_REFUSED}")
    assert check_body(result) == "body_exact: the server received no mail"


def test_check_body_not_asked_is_not_checked() -> None:
    assert check_body(_run('event = "sent"', "2.4")) is None


def test_check_body_fails_a_body_that_lost_its_trailing_blank_lines() -> None:
    # 2.4 cuts "Report.\n\n\n" at its first blank line: "Report.\r\n" arrives, and the
    # two empty lines the job ends with are lost. Exact means byte for byte.
    result = _run('event = "sent"\nbody_exact = true', "2.4", body="Report.\\n\\n\\n")
    assert result.mailbox[0].body == b"Report.\r\n"
    assert check_body(result) == (
        "server received 9 of 13 body bytes: the body was cut at the first blank line")
    assert check_body(_run('event = "sent"\nbody_exact = true', body="Report.\\n\\n\\n")) \
        is None


def test_check_body_fails_a_body_of_blank_lines_cut_to_nothing() -> None:
    result = _run('event = "sent"\nbody_exact = true', "2.4", body="\\n\\n\\n")
    assert result.mailbox[0].body == b""
    assert check_body(result) == (
        "server received 0 of 6 body bytes: the body was cut at the first blank line")
    assert check_body(_run('event = "sent"\nbody_exact = true', body="\\n\\n\\n")) is None


def test_check_body_a_last_line_without_line_end_gets_only_the_crlf_data_needs() -> None:
    # RFC 5321 4.1.1.4: DATA ends with CRLF "." CRLF, whose first CRLF ends the last line;
    # BDAT carries the content as it is.
    data = _run('event = "sent"\nbody_exact = true', body="No line end",
                server='starttls = false\ncapabilities = ["PIPELINING"]')
    assert data.mailbox[0].via == "DATA" and data.mailbox[0].body == b"No line end\r\n"
    assert check_body(data) is None
    bdat = _run('event = "sent"\nbody_exact = true', body="No line end")
    assert bdat.mailbox[0].via == "BDAT" and bdat.mailbox[0].body == b"No line end"
    assert check_body(bdat) is None



# ---- check_headers ---------------------------------------------------------------------


def test_check_headers_passes_present_and_absent_headers() -> None:
    result = _run('event = "sent"\nheaders_present = ["Subject", "Date"]\n'
                  'headers_absent = ["X-Mailer-Debug"]')
    assert check_headers(result) is None


def test_check_headers_names_missing_and_unwanted_headers() -> None:
    result = _run('event = "sent"\nheaders_present = ["X-Missing", "Subject"]\n'
                  'headers_absent = ["Subject"]')
    assert check_headers(result) == (
        "header(s) missing: X-Missing; header(s) that must not be there: Subject")


def test_check_headers_with_no_mail_says_so() -> None:
    result = _run('event = "sent"\nheaders_present = ["Subject"]',
                  server=f"starttls = false\n{MAIL_REFUSED}")
    assert check_headers(result) == "headers: the server received no mail"


# ---- check_date ------------------------------------------------------------------------


def test_check_date_passes_a_date_that_matches_the_rtc_on_a_leap_day() -> None:
    result = _run('event = "sent"\ndate_matches_rtc = true',
                  device="[device]\nrtc = 2024-02-29T12:00:00Z")
    assert check_date(result) is None


def test_check_date_shows_release_2_3s_month_and_day_on_a_leap_day() -> None:
    result = _run('event = "sent"\ndate_matches_rtc = true', "2.3",
                  device="[device]\nrtc = 2024-02-29T12:00:00Z")
    assert check_date(result) == (
        "Date header says 28 Mar 2024 12:00:00, the device RTC read 29 Feb 2024 12:00:00 "
        "when the message was built")


def test_check_date_quotes_a_date_that_does_not_parse() -> None:
    # 2.3 writes the 1st of a month as day "00" and December as "Jan".
    result = _run('event = "sent"\ndate_matches_rtc = true', "2.3",
                  device="[device]\nrtc = 2024-12-01T00:00:00Z")
    assert check_date(result) == (
        "Date header 'Sun, 00 Jan 2024 00:00:00 +0000' does not parse; "
        "the device RTC read 01 Dec 2024 00:00:00 when the message was built")


SLOW_FINAL_REPLY = """starttls = false
capabilities = ["PIPELINING", "SIZE 1000000"]
[[server.rules]]
verb = "DATA_END"
delay_s = 540
"""


def _with_date(result: RunResult, date: str) -> RunResult:
    """``result`` with its first mail's Date header replaced by ``date``: the mail a
    client that wrote that Date would have delivered (the run's own trace unchanged)."""
    mail = result.mailbox[0]
    old = f"Date: {mail.header('Date')}\r\n".encode()
    assert old in mail.content
    forged = dataclasses.replace(mail, stored=MailContent.of(
        mail.content.replace(old, f"Date: {date}\r\n".encode())))
    return dataclasses.replace(result, mailbox=[forged, *result.mailbox[1:]])


def test_check_date_passes_a_correct_date_however_slow_the_server() -> None:
    # The server waits 9 minutes before its reply to the content: the Date was written
    # when the message was built, 9 minutes before the job ended.
    result = _run('event = "sent"\ndate_matches_rtc = true', server=SLOW_FINAL_REPLY,
                  device="[device]\nrtc = 2024-02-29T23:55:00Z")
    assert result.terminal is not None and result.terminal.t_us > 540_000_000
    assert result.mailbox[0].header("Date") == "Thu, 29 Feb 2024 23:55:00 +0000"
    assert check_date(result) is None


def test_check_date_compares_with_the_rtc_when_the_message_was_built() -> None:
    # The client connects 70 s after boot: the Date is the RTC then, not at boot.
    result = _run('event = "sent"\ndate_matches_rtc = true',
                  server='starttls = false\n[[server.rules]]\nverb = "GREETING"\ndelay_s = 70',
                  device="[device]\nrtc = 2024-02-29T12:00:00Z")
    assert result.mailbox[0].header("Date") == "Thu, 29 Feb 2024 12:01:10 +0000"
    assert check_date(result) is None
    assert check_date(_with_date(result, "Thu, 29 Feb 2024 12:00:00 +0000")) == (
        "Date header says 29 Feb 2024 12:00:00, the device RTC read 29 Feb 2024 12:01:10 "
        "when the message was built")


def test_check_date_fails_a_date_one_second_off() -> None:
    result = _run('event = "sent"\ndate_matches_rtc = true',
                  device="[device]\nrtc = 2024-02-29T12:00:00Z")
    assert check_date(result) is None
    assert check_date(_with_date(result, "Thu, 29 Feb 2024 12:00:01 +0000")) == (
        "Date header says 29 Feb 2024 12:00:01, the device RTC read 29 Feb 2024 12:00:00 "
        "when the message was built")
    assert check_date(_with_date(result, "Thu, 29 Feb 2024 11:59:59 +0000")) is not None


def test_check_date_fails_a_wrong_weekday() -> None:
    result = _run('event = "sent"\ndate_matches_rtc = true',
                  device="[device]\nrtc = 2024-02-29T12:00:00Z")
    assert check_date(_with_date(result, "Fri, 29 Feb 2024 12:00:00 +0000")) == (
        "Date header 'Fri, 29 Feb 2024 12:00:00 +0000' names the weekday Fri, but "
        "29 Feb 2024 is a Thu")


def test_check_date_accepts_the_same_instant_in_another_zone_and_no_weekday() -> None:
    result = _run('event = "sent"\ndate_matches_rtc = true',
                  device="[device]\nrtc = 2024-02-29T23:30:00Z")
    # RFC 5322 3.3: the weekday is optional; the zone says where the time is local.
    assert check_date(_with_date(result, "29 Feb 2024 23:30:00 +0000")) is None
    assert check_date(_with_date(result, "Fri, 01 Mar 2024 01:30:00 +0200")) is None
    assert check_date(_with_date(result, "Thu, 01 Mar 2024 01:30:00 +0200")) is not None


# ---- check_pool ------------------------------------------------------------------------


def test_check_pool_passes_when_the_pool_is_big_enough() -> None:
    result = _run('event = "sent"\npool_never_exhausted = true\npool_returns_to_full = true',
                  device="[device]\npool_buffers = 4", body=LONG_BODY)
    assert result.pool.failed_allocations == 0
    assert check_pool(result) is None


def test_pool_never_exhausted_reports_frames_dropped_for_want_of_a_buffer() -> None:
    # 1.0 busy-waits for a TX buffer while streaming: the ACKs pile up and the NIC
    # finds the pool empty.
    result = _run('event = "sent"\npool_never_exhausted = true\nno_watchdog_reset = false',
                  "1.0", device="[device]\npool_buffers = 6", body=LONG_BODY)
    dropped = result.pool.frames_dropped
    assert dropped > 0
    assert check_pool(result) == (
        f"the buffer pool ran dry: {dropped} received frame(s) dropped for want of an IP "
        f"buffer")


def test_pool_never_exhausted_is_only_about_dropped_frames() -> None:
    # A 2-buffer pool: once, the stack finds no buffer for a segment it wants to send
    # (it tries again later); no received frame is ever dropped. README: "no frame was
    # ever dropped for want of an IP buffer".
    result = _run('event = "sent"\npool_never_exhausted = true',
                  device="[device]\npool_buffers = 2", body=LONG_BODY)
    assert (result.pool.failed_allocations, result.pool.frames_dropped) == (1, 0)
    assert check_pool(result) is None


def test_tx_allocations_never_failed_reports_a_failed_tx_allocation() -> None:
    expect = 'event = "sent"\ntx_allocations_never_failed = true'
    result = _run(expect, device="[device]\npool_buffers = 2", body=LONG_BODY)
    assert check_pool(result) == (
        "the stack found the IP buffer pool empty 1 time(s) when it needed a buffer to send "
        "a segment")
    assert check_pool(_run(expect, device="[device]\npool_buffers = 4", body=LONG_BODY)) is None
    # A frame dropped on receipt is not a failed TX allocation.
    dropped = _run(f"{expect}\nno_watchdog_reset = false", "1.0",
                   device="[device]\npool_buffers = 6", body=LONG_BODY)
    assert dropped.pool.frames_dropped > 0 and check_pool(dropped) is None


def test_check_pool_reports_the_watchdog_reset() -> None:
    result = _run('event = "sent"', "1.0", device="[device]\npool_buffers = 2")
    assert result.watchdog_resets == 1
    assert check_pool(result) == (
        "the watchdog reset the board: task smtp held the CPU for 2.000000 s busy-waiting "
        "for a free TX buffer")


# ---- check_server ----------------------------------------------------------------------


def test_check_server_passes_what_the_server_saw() -> None:
    result = _run('event = "sent"\n[expect.server]\nauth_mechanism = "PLAIN"\n'
                  'envelope_recipients = ["ops@example.net"]\nvia = "DATA"\ntls_used = false',
                  server=f"starttls = false\n{AUTH_PLAIN_SERVER}", device=AUTH_DEVICE)
    assert check_server(result) is None


def test_check_server_words_each_observation_that_differs() -> None:
    result = _run('event = "sent"\n[expect.server]\nauth_mechanism = "CRAM-MD5"\n'
                  'envelope_recipients = ["x@example.net"]\nvia = "BDAT"\ntls_used = true',
                  server=f"starttls = false\n{AUTH_PLAIN_SERVER}", device=AUTH_DEVICE)
    assert check_server(result) == (
        "TLS was not used; "
        "expected a successful AUTH CRAM-MD5, the server saw ['PLAIN']; "
        "expected envelope recipients ['x@example.net'], the server got ['ops@example.net']; "
        "expected the content via BDAT, it came via DATA")


def test_check_server_authenticated_as_demands_a_login_with_the_credentials() -> None:
    expect = 'event = "sent"\n[expect.server]\nauthenticated_as = "pump7"'
    assert check_server(_run(expect, server=f"starttls = false\n{AUTH_PLAIN_SERVER}",
                             device=AUTH_DEVICE)) is None
    anonymous = ('starttls = false\ncapabilities = ["AUTH PLAIN ANONYMOUS"]\n'
                 'credentials = { pump7 = "pw" }')
    device = AUTH_DEVICE + 'mechanism = "ANONYMOUS"\n'
    assert check_server(_run(expect, server=anonymous, device=device)) == (
        "expected a login as pump7 with the configured credentials, the server saw a login "
        "as anonymous (ANONYMOUS)")
    assert check_server(_run(expect, server='starttls = false\ncredentials = { pump7 = "pw" }')
                        ) == ("expected a login as pump7 with the configured credentials, "
                              "the client did not log in")


def test_check_server_tls_used_false_when_the_client_used_tls() -> None:
    result = _run('event = "sent"\n[expect.server]\ntls_used = false',
                  server="starttls = true", security="starttls")
    assert [e.event.name for e in result.events][:2] == ["connected", "tls_established"]
    assert check_server(result) == "TLS was used"
    assert check_server(_run('event = "sent"\n[expect.server]\ntls_used = true',
                             server="starttls = true", security="starttls")) is None


def test_check_server_envelope_with_no_mail_says_so() -> None:
    result = _run('event = "sent"\n[expect.server]\nvia = "DATA"',
                  server=f"starttls = false\n{MAIL_REFUSED}")
    assert check_server(result) == "the server accepted no mail to look at its envelope"


# ---- judge -----------------------------------------------------------------------------


def test_judge_collects_every_failing_check_in_order() -> None:
    result = _run('event = "sent"\nbody_exact = true\nheaders_absent = ["Subject"]', "2.4")
    reasons = [r for r in (check(result) for check in CHECKS) if r]
    verdict = judge(result)
    assert verdict == Verdict(passed=False, reasons=reasons)
    assert verdict.reasons == [
        "server received 11 of 24 body bytes: the body was cut at the first blank line",
        "header(s) that must not be there: Subject"]
    assert verdict.reason == "; ".join(verdict.reasons)


def test_a_passing_verdict_reads_as_expected() -> None:
    verdict = judge(_run('event = "sent"\nbody_exact = true'))
    assert verdict.passed and verdict.reasons == []
    assert verdict.reason == "as expected"


@pytest.mark.parametrize("profile", ["current", "2.5"])
def test_releases_that_fixed_the_blank_line_bug_pass_body_exact(profile: str) -> None:
    assert check_body(_run('event = "sent"\nbody_exact = true', profile)) is None
