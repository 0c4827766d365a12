"""``smtp-hil audit --board``: a board audited through its console, on real sockets.

The device under test is ``smtp-hil board --pty --network host``: the console protocol
on an OS pty, the modelled client on the host's sockets, in its own process. The audit
serves each case where the board's configuration points it, types ``smtp send`` on the
pty and judges the board's event and what the server saw. ``current`` passes every
applicable STARTTLS case; 2.5 fails the one whose weakness it has ("Timeout test is
executed only when no TLS connection is active": it waits forever for an EHLO reply
inside TLS). Also: the board configuration's errors (exit 2, file and key), the audit's
CA workflow, and which cases a board's configuration makes not applicable, and why.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.backends.serialboard import RealBoard
from scenarios.audit.board import board_reasons
from scenarios.audit.boardconfig import BoardConfig
from scenarios.audit.cases import select_cases
from scenarios.catalog import load_catalog
from scenarios.cli.main import main
from scenarios.outside.dut import free_port
from smtp.config import CONFIG_VERSION

CASES = {s.name: s for s in select_cases(load_catalog())}
TIMER_S = 2  # the board's every timeout, so a silent server costs 2 s
CASE_S = 6  # how long a case may take before the board counts as hanging
DOWNGRADE_CASES = (
    "starttls-stripped-opportunistic-credentials", "starttls-refused-502",
    "starttls-refused-454", "starttls-answered-221", "starttls-answered-250",
    "starttls-answered-421", "starttls-refused-354", "starttls-refused-500",
    "starttls-refused-501", "starttls-refused-530", "starttls-stripped-cram-md5")
INJECTION_CASES = ("--case", "starttls-injection-ehlo-ignored", "--case",
                   "starttls-injection-own-segment", "--case", "starttls-response-injection",
                   "--case", "starttls-pipelined-fake-replies")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["audit", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _device_toml(folder: Path, port: int, security: str) -> Path:
    timers = "".join(f"{name} = {TIMER_S}\n" for name in (
        "connect", "greeting", "ehlo", "starttls", "tls_handshake", "auth", "mail", "rcpt",
        "data_init", "data_block", "data_term", "rset", "quit"))
    path = folder / "device.toml"
    path.write_text(f'config_version = {CONFIG_VERSION}\n[device]\ndomain = '
                    f'"device.example.com"\n[server]\nhost = "127.0.0.1"\nport = {port}\n'
                    f'security = "{security}"\n[auth]\nusername = "pump7"\npassword = '
                    f'"board-secret-7"\n[tls]\nca_file = "audit-ca/ca.pem"\n'
                    f"[timeouts]\n{timers}")
    return path


def _board_toml(folder: Path, port: int, security: str, extra: str = "") -> Path:
    path = folder / "board.toml"
    path.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nsecurity = "{security}"\n'
                    f'server_name = "localhost"\n[auth]\nusername = "pump7"\n'
                    f'password = "board-secret-7"\n[timeouts]\ncommand_s = {TIMER_S}\n'
                    f"case_s = {CASE_S}\n{extra}")
    return path


class HostBoardProcess:
    """``smtp-hil board --pty --network host`` in a process of its own."""

    def __init__(self, config: Path, profile: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scenarios.cli", "board", "--pty", "--network", "host",
             "--config", str(config), "--profile", profile, "--duration", "300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("PTY: "), (line, self.process.stderr and
                                          self.process.stderr.read())
        self.pty = line.removeprefix("PTY: ").strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def starttls_setup(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A board config (starttls, logs in) whose audit CA exists, and the device config
    that trusts it."""
    port = free_port()
    board = _board_toml(tmp_path, port, "starttls")
    code, _, err = _cli("--board", "loop://", "--board-config", str(board))
    assert code == 2 and "the audit's CA was just made: install" in err, err
    assert (tmp_path / "audit-ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    yield board, _device_toml(tmp_path, port, "starttls")


def _audit_board(profile: str, board_config: Path, device: Path,
                 *selection: str) -> tuple[int, dict[str, dict[str, object]]]:
    board = HostBoardProcess(device, profile)
    report = board_config.parent / "audit.html"
    try:
        code, out, err = _cli("--board", board.pty, "--board-config", str(board_config),
                              "--json", "--report", str(report), *selection)
        assert err == ""
        card = json.loads(out)
        assert f"release={profile} ip_stack=host" in card["client"]
        with RealBoard(board.pty) as console:  # the board is idle again, and honest
            assert console.command("rtc set 2030-01-01").string.startswith(
                "ERR: rtc set: the RTC of a host-network board is the host's clock")
    finally:
        board.stop()
    cases = {c["scenario"]: c for c in card["cases"]}
    page = report.read_text()
    for name, case in cases.items():  # each case that ran links to what the server saw
        assert (f"{name}--board--" in page) == (case["status"] != "not_applicable"), name
    return code, cases


def test_a_current_board_passes_every_applicable_downgrade_case(
        starttls_setup: tuple[Path, Path]) -> None:
    names = [*DOWNGRADE_CASES, "starttls-stripped", "tls-dropped-rst"]
    code, cases = _audit_board("current", *starttls_setup, *INJECTION_CASES,
                               *(arg for name in names for arg in ("--case", name)))
    outcomes = {name: case["status"] for name, case in cases.items()}
    assert code == 0
    assert "fail" not in outcomes.values()
    applied = sorted(name for name, outcome in outcomes.items() if outcome == "pass")
    assert applied == sorted([*DOWNGRADE_CASES, *INJECTION_CASES[1::2]])
    # the board's own events and the server's checks stand behind each pass
    delivered = cases["starttls-response-injection"]
    assert "sent 250" in str(delivered["reason"])
    checks = {c["name"]: c["status"] for c in delivered["checks"]}  # type: ignore[union-attr]
    assert checks["server.tls_used"] == "pass" and checks["mailbox_count"] == "pass"
    assert "tls_failed" in str(cases["starttls-refused-502"]["reason"])
    # the board's credentials stood in for the case's, and stay hidden
    assert "board-secret-7" not in json.dumps(cases)
    assert cases["starttls-stripped"]["reason"] == (
        "the case's device uses security 'required'; the board is configured with "
        "'starttls' (board config server.security)")
    assert cases["tls-dropped-rst"]["reason"] == (
        "the case's device does not log in; the board does ([auth] in the board config)")


def test_a_board_on_release_2_5_fails_its_known_weakness(
        starttls_setup: tuple[Path, Path]) -> None:
    code, cases = _audit_board("2.5", *starttls_setup, *INJECTION_CASES)
    failed = {name: case["reason"] for name, case in cases.items()
              if case["status"] == "fail"}
    assert code == 1
    assert list(failed) == ["starttls-injection-ehlo-ignored"]
    assert str(failed["starttls-injection-ehlo-ignored"]).startswith(
        f"no terminal event within {CASE_S} s (it ended only after the server closed: ")
    assert cases["starttls-injection-own-segment"]["status"] == "pass"  # the rest holds
    assert cases["starttls-response-injection"]["status"] == "pass"
    assert cases["starttls-pipelined-fake-replies"]["status"] == "pass"


# ---- which cases a board's configuration makes not applicable ------------------------------

def _config(security: str = "none", **sections: object) -> BoardConfig:
    return BoardConfig.model_validate(
        {"server": {"listen": "127.0.0.1:2525", "security": security}, **sections})


@pytest.mark.parametrize(("case", "config", "reason"), [
    ("tls-cert-expired", _config("required"),
     "the case's device logs in; the board has no credentials (no [auth] in the board "
     "config)"),
    ("tls-cert-expired", _config("required", auth={"username": "u", "password": "p"},
                                 tls={"trusts": "other"}),
     "the board trusts anchors the audit cannot issue from (board config tls.trusts = "
     "'other')"),
    ("tls-cert-pinned-self-signed", _config("required", auth={"username": "u",
                                                              "password": "p"}),
     "the case's device trusts server_certificate (device.trusts); the board holds the "
     "audit's CA"),
    ("smuggling-lf-dot-lf", _config(),
     "a CR in the body: the console's smtp send --body carries line breaks as \\n only, "
     "so the body would reach the board changed"),
    ("envelope-crlf-in-recipient", _config(),
     "CR or LF in an address: the console's smtp send line cannot carry it"),
    ("header-bare-lf-in-display-name", _config(),
     "the console's smtp send has no option for the job's sender_name"),
    ("drop-fin-mid-body", _config(),
     "the console's smtp send cannot carry the job (job.attachments: expected none; the "
     "console has no attachment option)"),
    ("rst-during-data", _config(),
     "link faults (inject_rst) cannot be applied to the board on real sockets: they have "
     "no link model"),
])
def test_what_the_board_does_not_hold_makes_a_case_not_applicable(
        case: str, config: BoardConfig, reason: str) -> None:
    assert board_reasons(CASES[case], config)[0] == reason


def test_a_case_the_board_holds_applies() -> None:
    config = _config("required", auth={"username": "u", "password": "p"})
    assert board_reasons(CASES["tls-cert-expired"], config) == []
    assert board_reasons(CASES["dot-line-in-body"], _config()) == []


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ('[server]\nlisten = "127.0.0.1:2525"\nsecurity = "starttls"\nport = 25\n',
     "server.port: "),
    ('[server]\nlisten = "127.0.0.1"\nsecurity = "none"\n',
     "server.listen: expected host:port such as 127.0.0.1:2525"),
    ('[server]\nlisten = "127.0.0.1:2525"\nsecurity = "tls13"\n', "server.security: "),
    ('[server]\nlisten = "mail.example.com:2525"\nsecurity = "none"\n',
     "server.listen: expected an IP address of this machine to listen on, got "
     "'mail.example.com'"),
    ('[server]\nlisten = "127.0.0.1:2525"\nsecurity = "none"\n[timeouts]\ncase_s = 0\n',
     "timeouts.case_s: "),
    ('[tls]\ntrusts = "audit_ca"\n', "[server]: missing"),
])
def test_a_bad_board_config_is_refused_naming_file_and_key(
        tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "board.toml"
    path.write_text(text)
    code, out, err = _cli("--board", "loop://", "--board-config", str(path))
    assert (code, out) == (2, "")
    assert f"{path}: {problem}" in err, err
    assert "Traceback" not in err


def test_board_options_go_together_and_alone(tmp_path: Path) -> None:
    board = _board_toml(tmp_path, 2525, "none")
    code, _, err = _cli("--board", "loop://")
    assert code == 2 and "--board and --board-config go together" in err
    code, _, err = _cli("--board", "loop://", "--board-config", str(board), "--dut", "curl")
    assert code == 2 and "--dut: not with --board" in err


def test_a_console_that_does_not_answer_is_bad_input(tmp_path: Path) -> None:
    # loop:// echoes what is written: no VERSION: line ever comes
    board = _board_toml(tmp_path, free_port(), "none")
    code, _, err = _cli("--board", "loop://", "--board-config", str(board))
    assert code == 2
    assert "--board loop://: no answer to 'version' within 5 s" in err


def test_a_ca_folder_whose_key_is_not_the_cas_is_refused(tmp_path: Path) -> None:
    board = _board_toml(tmp_path, free_port(), "starttls")
    assert _cli("--board", "loop://", "--board-config", str(board))[0] == 2  # made
    other = tmp_path / "other"
    other.mkdir()
    (other / "board.toml").write_text(board.read_text())
    assert _cli("--board", "loop://", "--board-config", str(other / "board.toml"))[0] == 2
    (tmp_path / "audit-ca" / "ca.key").write_bytes((other / "audit-ca" / "ca.key").read_bytes())
    code, _, err = _cli("--board", "loop://", "--board-config", str(board))
    assert code == 2 and "ca.key is not the RSA key of ca.pem" in err, err


def test_case_picks_cases_by_name_and_refuses_an_unknown_one() -> None:
    code, out, _ = _cli("--case", "greeting-221", "--case", "starttls-refused-502", "--json")
    card = json.loads(out)
    assert code == 0
    assert [c["scenario"] for c in card["cases"]] == ["starttls-refused-502", "greeting-221"]
    code, _, err = _cli("--case", "starttls")
    assert code == 2
    assert "--case: 'starttls' is no audit case" in err
