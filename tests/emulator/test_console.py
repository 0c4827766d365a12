"""The console shell on the board's UART: every command, line editing, events, reset."""

from __future__ import annotations

import pytest

from emulator.console import HELP_LINES, parse_fields
from emulator.consoleshell import PROMPT
from emulator.units import SECOND
from scenarios.session import DeviceSession, open_session

SEND = ('smtp send --from pump7@example.com --to ops@example.net --subject "Daily report" '
        '--body "Pump 7 daily report.\\n\\nPressure: nominal.\\n"')


def _session(scenario: str = "blank-line-truncation", profile: str = "current",
             **options: bool) -> DeviceSession:
    session = open_session(scenario, profile, **options)
    session.output()  # the boot banner
    return session


def _body(content: bytes) -> bytes:
    return content.split(b"\r\n\r\n", 1)[1]


def test_boot_banner_names_the_boot_and_release_then_prompts() -> None:
    session = open_session("blank-line-truncation", "2.4")
    assert session.output() == ("BOOT: boot=1 reason=power-on\r\n"
                                "VERSION: release=2.4 ip_stack=6.02\r\n" + PROMPT)


def test_help_lists_every_command() -> None:
    lines = _session().command("help")
    assert lines == [f"HELP: {line}" for line in HELP_LINES]
    listed = " ".join(lines)
    for command in ("version", "rtc get", "rtc set", "smtp send", "smtp vrfy", "smtp etrn",
                    "smtp status", "stack stats", "reset"):
        assert command in listed


@pytest.mark.parametrize("profile", ["1.0", "2.4", "current"])
def test_version_is_the_release_profile(profile: str) -> None:
    line, = _session(profile=profile).command("version")
    assert parse_fields(line)["release"] == profile


def test_rtc_get_reads_the_board_clock_and_rtc_set_sets_it() -> None:
    session = _session()
    assert session.command("rtc get") == ["RTC: time=2024-06-03T10:00:00Z valid=true"]
    assert session.command("rtc set 2025-01-31 23:59:58") == [
        "RTC: time=2025-01-31T23:59:58Z valid=true"]
    assert session.board.rtc.now().year == 2025
    session.kernel.run(until_us=session.kernel.now_us + 3 * SECOND)
    assert session.command("rtc get") == ["RTC: time=2025-02-01T00:00:01Z valid=true"]
    assert session.command("rtc set 2025-03-01T12:00:00+02:00") == [
        "RTC: time=2025-03-01T10:00:00Z valid=true"]


def test_rtc_unset_is_a_flat_battery() -> None:
    session = _session()
    assert session.command("rtc unset") == ["RTC: time=1970-01-01T00:00:00Z valid=false"]
    assert not session.board.rtc.valid
    assert session.command("rtc unset now")[0].startswith("ERR:")


def test_rtc_set_refuses_a_bad_time() -> None:
    line, = _session().command("rtc set yesterday")
    assert line == ("ERR: rtc set: expected a time like 2024-05-01T12:00:00 (UTC, or with an "
                    "offset), got 'yesterday'")


def test_unknown_commands_say_so() -> None:
    session = _session()
    assert session.command("frobnicate now") == ["ERR: unknown command 'frobnicate' (try help)"]
    assert session.command("rtc frob") == ["ERR: unknown command 'rtc frob' (try help)"]
    assert session.command("smtp") == ["ERR: unknown command 'smtp' (try help)"]


def test_smtp_send_reports_sent_and_the_server_gets_the_whole_body() -> None:
    session = _session(profile="current")
    lines = session.command(SEND)
    assert lines[0] == "OK: queued=mail job=1"
    assert lines[-1].startswith("SMTP: sent 250 ")
    mail, = session.mailbox
    assert mail.sender == "pump7@example.com"
    assert _body(mail.content) == b"Pump 7 daily report.\r\n\r\nPressure: nominal.\r\n"


def test_smtp_send_on_2_4_truncates_the_body_at_the_blank_line() -> None:
    session = _session(profile="2.4")
    lines = session.command(SEND)
    assert lines[-1].startswith("SMTP: sent 250 ")
    mail, = session.mailbox
    assert _body(mail.content) == b"Pump 7 daily report.\r\n"


def test_a_refused_mail_prints_command_abort_with_the_reply() -> None:
    session = _session("pipeline-mail-rejected")
    lines = session.command("smtp send --from pump7@example.com --to ops@example.net")
    assert lines[-1].startswith("SMTP: command_abort MAIL 550 ")
    assert session.mailbox == []


def test_a_stripped_starttls_prints_the_downgrade_before_the_mail_goes() -> None:
    session = _session("starttls-stripped-opportunistic")
    lines = session.command("smtp send --from pump7@example.com --to ops@example.net")
    smtp = [line for line in lines if line.startswith("SMTP: ")]
    assert [line.split()[1] for line in smtp] == ["connected", "tls_downgraded", "sent"]
    assert "SMTP: tls_downgraded not_offered" in smtp


def test_smtp_send_with_several_recipients_and_a_subject_with_spaces() -> None:
    session = _session()
    session.command("smtp send --from pump7@example.com --to ops@example.net "
                    "--to=boss@example.net --cc audit@example.net --subject 'x  y'")
    mail, = session.mailbox
    assert [r.address for r in mail.recipients] == [
        "ops@example.net", "boss@example.net", "audit@example.net"]
    assert mail.message["Subject"] == "x  y"


@pytest.mark.parametrize(("line", "error"), [
    ("smtp send --to ops@example.net", "ERR: smtp send: --from: expected the sender's address"),
    ("smtp send --from a@example.com", "ERR: smtp send: --to: expected at least one recipient"),
    ("smtp send --from a@example.com --to b@example.net --subject",
     "ERR: smtp send: --subject: expected a value"),
    ("smtp send --from a@example.com --to b@example.net --colour red",
     "ERR: smtp send: unknown option '--colour' (known: --from, --to, --cc, --bcc, "
     "--subject, --body)"),
    ('smtp send --from a@example.com --to "b@example.net', None),
    ("smtp send --from not-an-address --to b@example.net", None),
])
def test_smtp_send_refuses_bad_options_and_queues_nothing(line: str, error: str | None) -> None:
    session = _session()
    lines = session.command(line)
    assert len(lines) == 1 and lines[0].startswith("ERR: ")
    if error is not None:
        assert lines == [error]
    assert session.firmware.jobs_submitted == 0


def test_smtp_vrfy_prints_the_servers_answer() -> None:
    session = _session("vrfy")
    lines = session.command("smtp vrfy ops@example.net")
    assert lines[0] == "OK: queued=vrfy job=1"
    assert lines[-1] == "SMTP: vrfy_result 250 2.1.5 Operations Desk <ops@example.net>"
    assert session.command("smtp vrfy") == [
        "ERR: smtp vrfy: expected one address, e.g. smtp vrfy ops@x.net"]


def test_smtp_etrn_prints_the_servers_answer() -> None:
    session = _session("etrn")
    lines = session.command("smtp etrn example.com")
    assert lines[0] == "OK: queued=etrn job=1"
    assert lines[-1] == "SMTP: etrn_result 250 2.0.0 Queuing for node example.com started"


def test_smtp_status_follows_the_client() -> None:
    session = _session()
    line, = session.command("smtp status")
    assert parse_fields(line) == {"state": "idle", "queued": "0", "sessions": "0",
                                  "events": "0", "submitted": "0", "last": "none"}
    session.command(SEND)
    fields = parse_fields(session.command("smtp status")[0])
    assert fields["state"] == "idle" and fields["sessions"] == "1"
    assert fields["submitted"] == "1"
    assert fields["last"].startswith("sent 250 ")


def test_stack_stats_numbers_parse_and_add_up() -> None:
    session = _session()
    session.command(SEND)
    line, = session.command("stack stats")
    assert line.startswith("STACK: ")
    stats = {k: int(v) for k, v in parse_fields(line).items()}
    assert stats["pool_buffers"] == session.board.pool.count == 16
    assert stats["in_use"] + stats["free"] == stats["pool_buffers"]
    assert stats["allocations"] > 0 and stats["frames_received"] > 0
    assert stats["peak_in_use"] >= 1
    assert stats["dropped_no_buffer"] == 0 and stats["watchdog_resets"] == 0
    assert stats["boots"] == 1


def test_reset_reboots_the_board_and_prints_the_banner_again() -> None:
    session = _session()
    assert session.command("reset") == [
        "OK: resetting", "BOOT: boot=2 reason='console reset'",
        "VERSION: release=current ip_stack=6.02"]
    assert session.board.stats.boots == 2
    assert session.command("version") == ["VERSION: release=current ip_stack=6.02"]
    session.command("reset")
    assert parse_fields(session.command("stack stats")[0])["boots"] == "3"


def test_a_line_ends_at_cr_or_lf_and_crlf_counts_once() -> None:
    session = _session()
    session.uart.feed(b"version\r\nversion\nver")
    session.settle()
    session.uart.feed(b"sion\r")
    session.settle()
    assert session.output() == (
        "\r\nVERSION: release=current ip_stack=6.02\r\n> "
        "\r\nVERSION: release=current ip_stack=6.02\r\n> "
        "\r\nVERSION: release=current ip_stack=6.02\r\n> ")


def test_backspace_edits_and_ctrl_c_drops_the_line() -> None:
    session = _session()
    assert session.command("verx\x7fsion") == ["VERSION: release=current ip_stack=6.02"]
    assert session.command("reset\x03version") == ["VERSION: release=current ip_stack=6.02"]
    assert session.board.stats.boots == 1


def test_echo_is_off_by_default_and_can_be_turned_on() -> None:
    session = _session()
    session.uart.feed(b"echo on\r")
    session.settle()
    assert session.output() == "\r\nOK: echo=on\r\n> "
    session.uart.feed(b"vx\bersion\r")
    session.settle()
    assert session.output() == "vx\b \bersion\r\nVERSION: release=current ip_stack=6.02\r\n> "


def test_an_overlong_line_is_refused() -> None:
    session = _session()
    assert session.command("x" * 2000) == ["ERR: line too long (at most 1024 characters)"]
    assert session.command("version") == ["VERSION: release=current ip_stack=6.02"]


def test_events_printed_while_the_prompt_waits_start_on_a_line_of_their_own() -> None:
    session = _session()
    session.uart.feed(SEND.encode() + b"\r")
    session.kernel.run(until_us=session.kernel.now_us)
    assert session.output() == "\r\nOK: queued=mail job=1\r\n> "
    session.settle()
    raw = session.output()
    assert raw.startswith("\r\nSMTP: connected ")
    assert raw.endswith(PROMPT)
    for line in raw.split("\r\n"):
        assert line in ("", PROMPT) or line.startswith("SMTP: ")


def test_every_job_gets_its_events_in_order_across_jobs() -> None:
    session = _session()
    first = session.command(SEND)
    second = session.command(SEND)
    assert [line.split()[1] for line in first + second] == [
        "queued=mail", "connected", "sent", "queued=mail", "connected", "sent"]
    assert len(session.mailbox) == 2


def test_parse_fields_reads_quoted_values() -> None:
    assert parse_fields("STATUS: state=idle last='sent 250 2.0.0 OK'") == {
        "state": "idle", "last": "sent 250 2.0.0 OK"}


def test_a_watchdog_reset_prints_the_banner_with_its_reason() -> None:
    session = _session("buffer-exhaustion-during-content", "2.0")
    session.firmware.submit(session.world.scenario.to_job())
    session.settle()
    lines = session.output_lines()
    boot = next(line for line in lines if line.startswith("BOOT: "))
    fields = parse_fields(boot)
    assert fields["boot"] == "2"
    assert fields["reason"].startswith("task smtp held the CPU")
    stats = parse_fields(session.command("stack stats")[0])
    assert stats["watchdog_resets"] == "1" and int(stats["dropped_no_buffer"]) > 0


def test_the_same_console_session_gives_the_same_trace() -> None:
    hashes = []
    for _ in range(2):
        session = _session()
        for line in ("rtc set 2025-01-01T00:00:00", SEND, "stack stats", "reset", SEND):
            session.command(line)
        hashes.append(session.kernel.trace.sha256())
    assert hashes[0] == hashes[1]
