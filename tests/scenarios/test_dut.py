"""DUT files (loading, placeholders, argument lists) and running a client program."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.cli.run_dut import run_with_dut
from scenarios.format import Scenario, parse_scenario
from scenarios.outside.dut import exit_check, message_for, run_dut, run_dut_async
from scenarios.outside.dutfile import PLACEHOLDERS, DutError, DutFile, shipped_dut_files
from scenarios.runner import resolve_scenario
from scenarios.server.asyncdriver import Pacing

NOW = datetime(2024, 6, 3, 10, 0, 0, tzinfo=UTC)
GUARD_S = 60.0
VALUES = {"host": "127.0.0.1", "port": "2525", "sender": "a@example.com",
          "recipients": "b@example.net,c@example.net", "message_file": "/tmp/m.eml",
          "ca_file": "/tmp/ca.pem", "password_file": "/tmp/pw", "helo_name": "dev.example.com",
          "python": sys.executable, "dut_dir": "/x", "time_limit_s": "60",
          "username": "pump7", "password": "s3cret"}


def _dut(tmp_path: Path, body: str, name: str = "probe.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _scenario(security: str = "none", auth: bool = False, extra: str = "") -> Scenario:
    creds = '\n[device.config.auth]\nusername = "pump7"\npassword = "s3cret"\n' if auth else ""
    return parse_scenario(f"""
[scenario]
name = "probe"
title = "probe"
time_limit_s = 30
{extra}
[device.config.server]
security = "{security}"
{creds}
[job]
from = "a@example.com"
to = ["b@example.net", "c@example.net"]
subject = "hi"
body = "Hello.\\n"

[expect]
event = "sent"
mailbox_count = 1
body_exact = true
""", source="probe.toml")


PROBE = """
[client]
name = "probe"
command = ["probe", "--from", "{sender}", ["--to", "{recipient}"], "--all", "{recipients}"]
after = ["--", ["{recipient}"]]

[client.security]
none = ["--plain"]
starttls = ["--starttls", "--ca={ca_file}"]

[client.auth]
args = ["--user", "{username}"]
"""


def test_every_shipped_dut_file_loads() -> None:
    shipped = shipped_dut_files()
    assert set(shipped) >= {"curl", "msmtp", "swaks", "smtplib"}
    for path in shipped.values():
        dut = DutFile.load(path)
        assert set(dut.security) == {"none", "starttls", "required", "tls"}
        assert dut.auth is not None


def test_the_argument_list_repeats_groups_per_recipient_and_adds_security_and_auth(
        tmp_path: Path) -> None:
    dut = DutFile.load(_dut(tmp_path, PROBE))
    recipients = ["b@example.net", "c@example.net"]
    assert dut.argv(_scenario(), VALUES, recipients) == [
        "probe", "--from", "a@example.com", "--to", "b@example.net", "--to", "c@example.net",
        "--all", "b@example.net,c@example.net", "--plain", "--", "b@example.net",
        "c@example.net"]
    with_tls = dut.argv(_scenario("starttls", auth=True), VALUES, recipients)
    assert with_tls[9:13] == ["--starttls", "--ca=/tmp/ca.pem", "--user", "pump7"]


def test_a_security_mode_the_file_lacks_is_a_clear_error(tmp_path: Path) -> None:
    dut = DutFile.load(_dut(tmp_path, PROBE))
    with pytest.raises(DutError, match=r"client.security.tls: missing; scenario probe asks"):
        dut.argv(_scenario("tls"), VALUES, ["b@example.net"])


@pytest.mark.parametrize(("body", "message"), [
    ('[client]\nname = "x"\ncommand = ["x", "{hots}"]\n',
     r"client.command\[1\]: unknown placeholder \{hots\}"),
    ('[client]\nname = "x"\ncommand = ["x", "{recipient}"]\n',
     r"client.command\[1\]: \{recipient\} is only known inside a per-recipient list"),
    ('[client]\nname = "x"\ncommand = ["x"]\n[client.security]\nnone = ["{port!r}"]\n',
     r"client.security.none\[0\]: unknown placeholder"),
    ('[client]\nname = "x"\ncommand = ["x", "{"]\n', r"client.command\[1\]: .*braces"),
    ('[client]\nname = "x"\n', r"client.command: missing"),
    ('[client]\nname = "x"\ncommand = ["x"]\nstdin = "file"\n', r"client.stdin: expected"),
    ('[client]\nname = "x"\ncommand = ["x"]\ncolour = 1\n', r"client.colour: unknown key"),
    ('[client]\nname = "x"\ncommand = ["x"]\n[client.security]\nsmtps = []\n',
     r"client.security.smtps: unknown key"),
    ('[client]\nname = "x"\ncommand = ["x"]\nsuccess_exit_codes = [true]\n',
     r"client.success_exit_codes"),
    ('[client\n', r"TOML syntax error"),
    ('[other]\n', r"\(file\).other: unknown key"),
])
def test_bad_dut_files_are_refused_naming_the_file_and_the_key(
        tmp_path: Path, body: str, message: str) -> None:
    path = _dut(tmp_path, body)
    with pytest.raises(DutError, match=message) as info:
        DutFile.load(path)
    assert str(info.value).startswith(str(path))


def test_a_missing_dut_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DutError, match="no such DUT file"):
        DutFile.load(tmp_path / "nope.toml")


def test_every_placeholder_is_documented() -> None:
    assert all(PLACEHOLDERS.values())
    assert {"host", "port", "sender", "recipient", "recipients", "message_file", "username",
            "password", "ca_file"} <= set(PLACEHOLDERS)


def test_the_message_is_the_jobs_message_with_the_given_date() -> None:
    message = message_for(_scenario(), NOW)
    assert b"\r\nDate: Mon, 03 Jun 2024 10:00:00 +0000\r\n" in message
    assert message.endswith(b"\r\n\r\nHello.\r\n")
    vrfy = resolve_scenario("vrfy")
    with pytest.raises(DutError, match="a client program sends mail"):
        message_for(vrfy, NOW)


@pytest.mark.parametrize(("event", "status", "killed", "outcome"), [
    ("sent", 0, False, "pass"),
    ("sent", 1, False, "fail"),
    ("sent", None, True, "fail"),
    ("command_abort", 1, False, "pass"),
    ("command_abort", 0, False, "fail"),
    ("error", 75, False, "pass"),
    ("timeout", None, True, "fail"),
    ("timeout", 1, False, "pass"),
    ("timeout", 0, False, "fail"),
])
def test_the_exit_status_judges_the_expected_event(
        event: str, status: int | None, killed: bool, outcome: str) -> None:
    check = exit_check(event, status, killed, 5.0, frozenset({0}))
    assert check.name == "event" and check.status == outcome
    if killed:
        assert "killed" in check.detail


def test_the_smtplib_client_delivers_a_blank_line_body_whole() -> None:
    dut = DutFile.load(shipped_dut_files()["smtplib"])
    run = run_dut(dut, resolve_scenario("blank-line-truncation"), time_cap_s=20)
    assert run.passed, run.verdict.reasons
    assert run.exit_status == 0 and not run.killed
    checks = {c.name: c.status for c in run.verdict.checks}
    assert checks["event"] == "pass" and checks["content_exact"] == "pass"
    assert checks["pool_returns_to_full"] == "not observable"
    assert run.connections[0].engine.mailbox[0].content == run.message


def test_a_program_that_is_not_installed_is_a_clear_error_naming_the_dut_file(
        tmp_path: Path) -> None:
    path = _dut(tmp_path, '[client]\nname = "ghost"\ncommand = ["smtp-hil-no-such-client"]\n')
    with pytest.raises(DutError) as info:
        run_dut(DutFile.load(path), _scenario())
    assert str(info.value) == f"{path}: the program 'smtp-hil-no-such-client' is not installed"


def test_a_toml_syntax_error_says_where_like_a_scenario_file(tmp_path: Path) -> None:
    path = _dut(tmp_path, '[client]\nname = = "x"\n')
    with pytest.raises(DutError) as info:
        DutFile.load(path)
    assert str(info.value) == f"{path}: line 2, column 8: TOML syntax error: Invalid value"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; only its exit status is left


def test_a_client_that_hangs_fails_and_leaves_no_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = _dut(tmp_path, f"""
[client]
name = "hang"
command = ["sh", "-c", "sleep 30 & echo $! > {pids}; echo $$ >> {pids}; wait"]
""")
    run = run_dut(DutFile.load(path), _scenario(), time_cap_s=0.5,
                  pacing=Pacing(max_delay_s=0.1))
    assert run.killed and run.exit_status is None
    assert not run.passed
    event = next(c for c in run.verdict.checks if c.name == "event")
    assert event.status == "fail" and "killed (it hangs)" in event.detail
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    assert not any(_alive(pid) for pid in started)


def test_a_client_that_hangs_on_a_silent_server_fails_a_timeout_expectation(
        tmp_path: Path) -> None:
    """This test once asserted the opposite: a program killed at the time cap "met" the
    timeout expectation. But a client that never gives up then passes every timeout
    scenario (msmtp, whose timeout is off by default, did): a timeout is the client
    ending by itself, reporting failure, before the cap."""
    path = _dut(tmp_path, '[client]\nname = "nc"\ncommand = ["sleep", "30"]\n')
    scenario = parse_scenario("""
[scenario]
name = "silent"
title = "silent"
time_limit_s = 0.5

[device.config.server]
security = "none"

[server]
starttls = false

[[server.rules]]
verb = "GREETING"
action = "silent"

[job]
from = "a@example.com"
to = ["b@example.net"]

[expect]
event = "timeout"
mailbox_count = 0
""", source="silent.toml")
    run = run_dut(DutFile.load(path), scenario)
    assert run.killed and not run.passed
    event = next(c for c in run.verdict.checks if c.name == "event")
    assert event.status == "fail"
    assert event.detail.startswith("expected timeout: the client did not give up by itself "
                                   "within 0.5 s")


def test_a_raw_body_keeps_its_bare_line_ends_and_a_normal_one_does_not() -> None:
    scenario = parse_scenario("""
[scenario]
name = "raw"
title = "raw"

[device.config.server]
security = "none"

[job]
from = "a@example.com"
to = ["b@example.net"]
subject = "probe"
body = "line one\\n.\\nline two\\r.\\r"

[expect]
event = "sent"
""", source="raw.toml")
    raw = message_for(scenario, NOW, raw_body=True)
    assert raw.endswith(b"\r\n\r\nline one\n.\nline two\r.\r")
    assert b"Subject: probe\r\n" in raw
    normal = message_for(scenario, NOW)
    assert b"line one\r\n.\r\nline two\r\n.\r\n" in normal


def test_a_scenario_with_link_faults_is_not_applicable_to_a_program() -> None:
    out = io.StringIO()
    status = run_with_dut(["lossy-link"], "smtplib", out, json_output=False)
    assert status == 1
    assert out.getvalue() == ("N/A  lossy-link [dut smtplib] not applicable: link faults "
                              "(drop_nth) cannot be applied to a client program on real "
                              "sockets: they have no link model; link.loss (0.1) cannot be "
                              "applied to a client program on real sockets\n")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("opportunistic", '"no"', "client.opportunistic: expected true or false"),
    ("timeout_args", '["--timeout"]', r"client.timeout_args: expected \{timeout_s\}"),
    ("default_timeout_s", "-1", "client.default_timeout_s: expected seconds"),
])
def test_the_audit_keys_of_a_dut_file_are_checked(tmp_path: Path, key: str, value: str,
                                                  message: str) -> None:
    path = _dut(tmp_path, f'[client]\nname = "x"\ncommand = ["x"]\n{key} = {value}\n')
    with pytest.raises(DutError, match=message):
        DutFile.load(path)


def test_an_address_with_a_line_break_stays_raw_for_the_program_not_in_the_headers() -> None:
    """The program gets the raw address as an argument (curl takes it as it is); the
    message file's headers are the harness's and carry no line break."""
    scenario = resolve_scenario("envelope-crlf-in-recipient")
    message = message_for(scenario, NOW)
    assert b"To: ops@example.net\r\n" in message
    assert b"RCPT TO" not in message
    quoted = message_for(resolve_scenario("envelope-quoted-local-part"), NOW)
    assert b"To: invalid@example.invalid\r\n" in quoted


def test_timeout_args_come_before_the_positional_arguments(tmp_path: Path) -> None:
    """msmtp's ``--timeout=2`` once came after its ``--``: msmtp took it for a recipient,
    never timed out, and failed every timeouts case of the audit by being killed."""
    path = _dut(tmp_path, '[client]\nname = "x"\ncommand = ["x", "--from={sender}"]\n'
                          'after = ["--", ["{recipient}"]]\n'
                          'timeout_args = ["--timeout={timeout_s}"]\n')
    scenario = _scenario()
    dut = DutFile.load(path)
    values = {"sender": "a@example.com", "timeout_s": "2"}
    assert dut.argv(scenario, values, ["b@example.net"]) == [
        "x", "--from=a@example.com", "--timeout=2", "--", "b@example.net"]
    assert dut.argv(scenario, {"sender": "a@example.com"}, ["b@example.net"]) == [
        "x", "--from=a@example.com", "--", "b@example.net"]


def test_a_run_cancelled_while_the_program_starts_kills_what_it_started_at_once(
        tmp_path: Path) -> None:
    """Ctrl-C (a cancellation) while the program is starting (it runs, asyncio is still
    connecting its pipes): the run ends at once and the program's whole process group
    goes. asyncio, cancelled there, killed the program's first process only and then
    waited for its pipes to close, that is for the ``sleep`` it had started (300 s).

    The event loop is held (a callback that waits) from the first loop turn after the
    program was forked until the program has started its ``sleep``, so the cancellation
    comes while the start is halfway, every time."""
    pids = tmp_path / "pids"
    path = _dut(tmp_path, f"""
[client]
name = "hang"
command = ["sh", "-c", "sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"]
""")
    children = Path(f"/proc/self/task/{threading.get_native_id()}/children")

    def the_program_forked() -> bool:
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                if str(pids) in Path(f"/proc/{pid}/cmdline").read_text():
                    return True
        return False

    async def cancelled_while_it_starts() -> bool:
        run = asyncio.create_task(run_dut_async(DutFile.load(path), _scenario(),
                                                time_cap_s=300))
        loop = asyncio.get_running_loop()

        def watch() -> None:
            if not the_program_forked():
                loop.call_soon(watch)
                return
            deadline = time.monotonic() + GUARD_S  # the loop is held: the start stays halfway
            while not (pids.exists() and len(pids.read_text().split()) == 2):
                assert time.monotonic() < deadline, "the program never started its sleep"
                time.sleep(0.01)
            run.cancel()

        loop.call_soon(watch)
        finished, _ = await asyncio.wait({run}, timeout=GUARD_S)
        if not finished:  # free the run, so that the test ends
            for pid in pids.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(asyncio.CancelledError):
            await run
        return bool(finished)

    ended = asyncio.run(cancelled_while_it_starts())
    started = [int(p) for p in pids.read_text().split()]
    assert ended, f"the cancelled run did not end within {GUARD_S:g} s"
    assert len(started) == 2 and not any(_alive(pid) for pid in started)
