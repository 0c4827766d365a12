"""The Robot keyword library (scenarios/robotlib): keywords called as Python, its libdoc,
and the Robot suites under robot/ run through robot.run.

The library must work without Robot running: every keyword is a method, its failures are
AssertionErrors with sentences, bad arguments ValueErrors naming the argument.
"""

from __future__ import annotations

import base64
import io
import json
import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import robot

from emulator import serialurl
from scenarios.format import FAULT_NAMES
from scenarios.robotlib import SmtpHilLibrary

ROOT = Path(__file__).resolve().parents[2]
REPORT = "Pump 7 daily report.\n\nPressure: nominal.\nTemperature: 41 C."


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[SmtpHilLibrary]:
    library = SmtpHilLibrary(output_dir=str(tmp_path))
    yield library
    library.close()


def _send_report(lib: SmtpHilLibrary) -> None:
    lib.send_mail("pump7@example.com", "ops@example.net", subject="Daily", body=REPORT)


# ---- keywords as plain Python ------------------------------------------------------------

def test_blank_line_body_whole_on_current_and_cut_on_2_4(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("blank-line-truncation")
    lib.boot_emulated_board(profile="current")
    _send_report(lib)
    assert lib.wait_for_device_event("sent", timeout="10 min").startswith("sent 250")
    lib.mail_body_should_be(REPORT)
    assert lib.get_mail_body() == REPORT

    lib.shut_down_emulated_board()
    lib.boot_emulated_board(profile="2.4")
    _send_report(lib)
    lib.wait_for_device_event("sent")
    with pytest.raises(AssertionError, match="22 of 62 body bytes: the body was cut at the "
                                             "first blank line"):
        lib.mail_body_should_be(REPORT)


def test_mail_body_should_be_is_exact_about_trailing_blank_lines(lib: SmtpHilLibrary) -> None:
    # 2.4 cuts "Report.\n\n\n" at its first blank line: the two trailing empty lines are
    # lost, and a body of nothing but blank lines arrives empty.
    lib.start_scenario_server("blank-line-truncation")
    for body, received in (("Report.\n\n\n", "Report.\n"), ("\n\n", "")):
        lib.boot_emulated_board(profile="2.4")
        lib.send_mail("pump7@example.com", "ops@example.net", subject="Daily", body=body)
        lib.wait_for_device_event("sent")
        assert lib.get_mail_body() == received
        with pytest.raises(AssertionError, match="the body was cut at the first blank line"):
            lib.mail_body_should_be(body)
        lib.shut_down_emulated_board()
        lib.boot_emulated_board(profile="current")
        lib.send_mail("pump7@example.com", "ops@example.net", subject="Daily", body=body)
        lib.wait_for_device_event("sent")
        lib.mail_body_should_be(body)
        lib.shut_down_emulated_board()


def test_waiting_runs_virtual_time_and_reports_what_came(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("silent-server-under-tls")
    lib.boot_emulated_board(profile="current")
    lib.send_scenario_job()
    assert lib.wait_for_device_event("timeout", timeout=timedelta(minutes=10)) == \
        "timeout MAIL after 300 s"
    assert lib.get_virtual_time() >= 300

    lib.shut_down_emulated_board()
    lib.boot_emulated_board(profile="2.5")
    lib.send_scenario_job()
    lib.no_outcome_should_be_reported_within("1 hour")
    assert lib.get_virtual_time() >= 3600
    with pytest.raises(AssertionError, match=r"no 'timeout' event within 600 s of virtual "
                                             r"time .* it reported: connected"):
        lib.wait_for_device_event("timeout", timeout=600)


def test_each_event_is_waited_for_once(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("vrfy")
    lib.boot_emulated_board()
    lib.send_vrfy("ops@example.net")
    lib.send_etrn("example.com")
    assert lib.wait_for_device_event("vrfy_result").startswith("vrfy_result 250")
    assert lib.wait_for_device_event("etrn_result").startswith("etrn_result 250")
    with pytest.raises(AssertionError, match="no 'vrfy_result' event"):
        lib.wait_for_device_event("vrfy_result", timeout=60)


def test_pool_and_watchdog_assertions(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("buffer-exhaustion-during-content")
    lib.boot_emulated_board(profile="current", pool_buffers=6)
    lib.send_scenario_job()
    lib.wait_for_device_event("sent", timeout="15 min")
    lib.watchdog_should_not_have_reset_the_board()
    lib.pool_should_return_to_full()
    assert lib.get_pool_statistics()["count"] == 6

    lib.shut_down_emulated_board()
    lib.boot_emulated_board(profile="2.0", pool_buffers=6)
    lib.send_scenario_job()
    lib.let_virtual_time_pass("15 min")
    with pytest.raises(AssertionError, match="busy-waiting for a free TX buffer"):
        lib.watchdog_should_not_have_reset_the_board()
    with pytest.raises(AssertionError, match="pool ran dry"):
        lib.pool_should_never_have_run_dry()


def test_rtc_and_config_version_at_boot(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("date-header")
    lib.boot_emulated_board(rtc="2024-02-29 12:00:00", config_version=2)
    assert lib.get_board_rtc() == "2024-02-29T12:00:00Z"
    lib.send_mail("pump7@example.com", "ops@example.net", body="x")
    assert "config_version: file has version 2" in lib.wait_for_device_event("error")
    lib.mailbox_should_be_empty()

    lib.shut_down_emulated_board()
    lib.boot_emulated_board(rtc="unset")
    assert lib.get_board_rtc() == "1970-01-01T00:00:00Z"
    lib.set_board_rtc("2024-12-31T23:59:59")
    lib.send_mail("pump7@example.com", "ops@example.net", body="x")
    lib.wait_for_device_event("sent")
    lib.mail_header_should_be("Date", "Tue, 31 Dec 2024 23:59:59 +0000")


def test_link_faults(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("date-header")
    lib.boot_emulated_board()
    lib.partition()
    lib.send_mail("pump7@example.com", "ops@example.net", body="x")
    with pytest.raises(AssertionError, match="reported: nothing"):
        lib.wait_for_device_event("sent", timeout=10)
    lib.repair()
    lib.wait_for_device_event("sent", timeout=60)

    lib.shut_down_emulated_board()
    lib.boot_emulated_board()
    lib.send_mail("pump7@example.com", "ops@example.net", body="x")
    lib.wait_for_device_event("connected")
    lib.inject_rst("device")
    assert lib.wait_for_device_event("error").startswith("error connection_lost")


def test_hold_keywords_release_only_the_hold_they_name(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("date-header")
    lib.boot_emulated_board()
    from_device = lib.hold("device")
    from_server = lib.hold("server")
    assert (from_device, from_server) == (1, 2)
    lib.send_mail("pump7@example.com", "ops@example.net", body="x")
    lib.release(from_server)  # the device's frames are still held
    with pytest.raises(AssertionError, match="reported: nothing"):
        lib.wait_for_device_event("connected", timeout=1)
    with pytest.raises(ValueError, match="hold: hold 2 is not active on link link "
                                         r"\(active: 1\)"):
        lib.release(from_server)
    lib.release(from_device)
    lib.wait_for_device_event("sent", timeout=60)
    lib.hold()
    lib.hold("server")
    lib.release_all_holds()
    assert lib.ctx.world.link.holds == []


def test_whole_scenario_verdicts(lib: SmtpHilLibrary) -> None:
    assert lib.run_scenario("dsn", profile="1.0") == "fail"
    lib.scenario_should_fail(containing="command_abort MAIL 555")
    with pytest.raises(AssertionError, match=r"Scenario dsn on release 1\.0 .* failed: "):
        lib.scenario_should_pass()
    assert lib.run_scenario("dsn") == "pass"
    lib.scenario_should_pass()
    lib.server_observation_should_be("mail_count", 1)


def test_server_observations(lib: SmtpHilLibrary) -> None:
    lib.start_scenario_server("starttls")
    lib.boot_emulated_board(profile="1.0")
    lib.send_scenario_job()
    lib.wait_for_device_event("sent")
    lib.server_should_have_observed("auth_in_plaintext")
    with pytest.raises(AssertionError, match="did not observe tls established"):
        lib.server_should_have_observed("tls_established")
    with pytest.raises(ValueError, match="name: expected an observation"):
        lib.get_server_observation("tls_establised")


def test_an_attachment_that_is_no_proper_file_fails_the_keyword(
        lib: SmtpHilLibrary, tmp_path: Path) -> None:
    """Checked when the keyword runs, not when the client builds the mail (a missing file
    raised FileNotFoundError inside the client task; a FIFO hung it)."""
    fifo = tmp_path / "report.csv"
    os.mkfifo(fifo)
    lib.start_scenario_server("date-header")
    lib.boot_emulated_board()
    with pytest.raises(ValueError, match=rf"^attachments: {fifo}: not a regular file \(a FIFO\)$"):
        lib.send_mail("pump7@example.com", "ops@example.net", attachments=[str(fifo)])
    with pytest.raises(ValueError, match=r"^attachments: no such attachment: .*gone\.bin$"):
        lib.send_mail("pump7@example.com", "ops@example.net",
                      attachments=str(tmp_path / "gone.bin"))


def test_bad_arguments_name_the_argument(lib: SmtpHilLibrary) -> None:
    with pytest.raises(ValueError, match=r"profile: unknown release '9\.9'"):
        lib.boot_emulated_board(profile="9.9")
    with pytest.raises(ValueError, match=r"pool_buffers: expected an integer 2\.\.65536, got 1$"):
        lib.boot_emulated_board(pool_buffers=1)
    with pytest.raises(ValueError, match=r"pool_buffers: expected an integer 2\.\.65536, got 10+$"):
        lib.boot_emulated_board(pool_buffers=10**26)
    with pytest.raises(ValueError, match="rtc: expected a date and time"):
        lib.boot_emulated_board(rtc="yesterday")
    lib.boot_emulated_board()
    with pytest.raises(ValueError, match="kind: expected one of"):
        lib.wait_for_device_event("snet")
    with pytest.raises(ValueError, match="timeout: expected a time"):
        lib.wait_for_device_event("sent", timeout="soon")
    with pytest.raises(ValueError, match="src: expected device or server"):
        lib.drop_nth(1, src="both")
    with pytest.raises(RuntimeError, match="start the scenario server before"):
        lib.start_scenario_server("starttls")


# ---- console ------------------------------------------------------------------------------

def test_console_keywords_over_hil(lib: SmtpHilLibrary) -> None:
    url = lib.boot_emulated_board(console="pytest-robotlib")
    assert url == "hil://pytest-robotlib"
    lib.open_console(url)
    lib.write_console_line("version")
    fields = lib.get_console_fields(lib.wait_for_console_line("^VERSION:"))
    assert fields == {"release": "current", "ip_stack": "6.02"}
    line = lib.run_console_command("smtp send --from a@example.com --to b@example.net "
                                   "--body hi", "^OK: queued=", fail_on="^ERR:")
    assert line.startswith("OK:")
    lib.wait_for_console_line("^SMTP: sent 250", timeout="10 min")
    lib.mail_count_should_be(1)
    with pytest.raises(AssertionError, match="answered \"ERR: unknown command 'bogus'"):
        lib.run_console_command("bogus", "^OK:", fail_on="^ERR:")
    before = lib.get_virtual_time()
    with pytest.raises(AssertionError, match="No line matching '\\^NEVER' came from console "
                                             "hil://pytest-robotlib within 3600 s"):
        lib.wait_for_console_line("^NEVER", timeout="1 hour")
    assert lib.get_virtual_time() >= before + 3600  # virtual: the test took milliseconds
    lib.close_console()
    lib.shut_down_emulated_board()
    assert "pytest-robotlib" not in serialurl.published()


# ---- a scripted server on a real socket -----------------------------------------------------

def test_socket_server_faces_a_real_client(lib: SmtpHilLibrary) -> None:
    address = lib.start_scenario_server("blank-line-truncation", transport="socket")
    host, port = address.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=10) as client:
        client.sendmail("pump7@example.com", ["ops@example.net"],
                        b"Subject: report\r\n\r\nline one\r\n\r\nline three\r\n")
    lib.wait_until_mailbox_has(1, timeout=10)
    lib.mail_body_should_be("line one\n\nline three")
    lib.mail_recipients_should_be("ops@example.net")
    lib.transcript_should_contain(r"C: (?i:ehlo) ")
    assert "BEGIN CERTIFICATE" in lib.get_socket_server_ca()
    with pytest.raises(RuntimeError, match="the emulated board cannot reach"):
        lib.boot_emulated_board()
    lib.stop_scenario_server()
    lib.start_scenario_server("blank-line-truncation")  # simulated, once the socket is gone


# ---- artifacts ----------------------------------------------------------------------------

def test_artifacts_are_written_under_the_output_dir(lib: SmtpHilLibrary,
                                                    tmp_path: Path) -> None:
    lib.run_scenario("starttls")
    folder = Path(lib.save_artifacts("starttls-run"))
    assert folder == tmp_path / "artifacts" / "starttls-run"
    transcript = (folder / "transcript.txt").read_text()
    assert "C: STARTTLS" in transcript and "C: AUTH" in transcript
    assert (folder / "capture.pcap").read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    assert (folder / "trace.jsonl").stat().st_size > 0
    assert '"verdict": "pass"' in (folder / "result.json").read_text()
    assert "CLIENT_TRAFFIC_SECRET_0" in (folder / "keylog.txt").read_text()


@pytest.mark.parametrize("show", [False, True])
def test_credentials_are_hidden_in_transcripts_and_artifacts_unless_asked(
        tmp_path: Path, show: bool) -> None:
    blob = base64.b64encode(b"\0pump7\0s3cret-pump7")
    library = SmtpHilLibrary(output_dir=str(tmp_path), show_secrets=show)
    try:
        library.run_scenario("auth-plain")
        folder = Path(library.save_artifacts("auth"))
        lines = library.get_transcript()
    finally:
        library.close()
    written = b"".join(p.read_bytes() for p in folder.iterdir())
    if show:
        assert f"C: AUTH PLAIN {blob.decode()}" in "\n".join(lines)
        assert blob in (folder / "capture.pcap").read_bytes()
    else:
        assert any(line.endswith("C: AUTH PLAIN <credentials hidden, 28 bytes>")
                   for line in lines)
        assert blob not in written and blob.hex().encode() not in written


def test_a_socket_server_transcript_hides_credentials(lib: SmtpHilLibrary) -> None:
    address = lib.start_scenario_server("auth-plain", transport="socket")
    host, port = address.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=10) as client:
        client.login("pump7", "s3cret-pump7")
    lib.transcript_should_contain(r"C: AUTH PLAIN <credentials hidden, 28 bytes>$")
    assert "AHB1bXA3" not in "\n".join(lib.get_transcript())


# ---- the library as Robot sees it ---------------------------------------------------------

def test_every_keyword_is_documented_with_an_example() -> None:
    library = SmtpHilLibrary()
    names = library.get_keyword_names()
    assert len(names) >= 60
    for name in names:
        doc = getattr(library, name).__doc__ or ""
        assert "| `" in doc or "| ${" in doc or "| @{" in doc, f"{name}: no example table"


def test_libdoc_builds_the_manual(tmp_path: Path) -> None:
    out = tmp_path / "libdoc.html"
    done = subprocess.run([sys.executable, "-m", "robot.libdoc",
                           "scenarios.robotlib.SmtpHilLibrary", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    html = out.read_text()
    assert len(html) > 100_000
    for keyword in ("Boot Emulated Board", "Wait For Device Event", "Open Console",
                    "Mail Body Should Be", "Save Artifacts", "Drop Nth"):
        assert keyword in html


def test_libdoc_tags_every_keyword_with_the_area_of_its_module(tmp_path: Path) -> None:
    spec = tmp_path / "libdoc.json"
    done = subprocess.run([sys.executable, "-m", "robot.libdoc", "--format", "JSON",
                           "scenarios.robotlib.SmtpHilLibrary", str(spec)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    keywords = json.loads(spec.read_text())["keywords"]
    library = SmtpHilLibrary()
    areas = {"board", "server", "network", "console", "mailbox", "artifacts", "explore"}
    for keyword in keywords:
        method = getattr(library, keyword["name"].lower().replace(" ", "_"))
        module_area = type(method.__self__).__module__.rpartition(".")[2]
        assert [t for t in keyword["tags"] if t in areas] == [module_area], keyword["name"]
    assert {t for k in keywords for t in k["tags"]} >= areas


def test_every_fault_verb_of_the_scenario_format_is_a_network_keyword() -> None:
    library = SmtpHilLibrary()
    for verb in FAULT_NAMES:
        method = getattr(library, verb)
        assert type(method.__self__).AREA == "network", verb


def test_robot_suites_pass(tmp_path: Path) -> None:
    console = io.StringIO()
    rc = robot.run(str(ROOT / "robot"), outputdir=str(tmp_path), stdout=console,
                   stderr=console)
    assert rc == 0, console.getvalue()[-3000:]
    assert "0 failed" in console.getvalue()
    assert (tmp_path / "artifacts" / "body-with-a-blank-line-arrives-whole" /
            "capture.pcap").is_file()
    assert "robot-console" not in serialurl.published()  # the library cleaned up
