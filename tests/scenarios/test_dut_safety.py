"""What a DUT run hands a client program: no scenario value read as an option, no password
on a command line.

Every shipped DUT file (``scenarios/outside/dut/*.toml``) is tried with the real program when it
is installed; a program that is not installed skips with the reason.
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from scenarios.cli.main import main
from scenarios.format import parse_scenario
from scenarios.outside.dut import run_dut, run_dut_async
from scenarios.outside.dutfile import DutError, DutFile, shipped_dut_files
from scenarios.outside.dutsecrets import hide_known_secrets, netrc_entry, scenario_secrets
from scenarios.runner import resolve_scenario
from scenarios.server.asyncdriver import Pacing
from scenarios.server.transcript import TranscriptLine
from smtp.inputwording import toml_repr

SHIPPED = sorted(shipped_dut_files())
INJECTED = "--output=owned@example.net"

_SCENARIO = """
[scenario]
name = "probe"
title = "probe"
time_limit_s = 10

[device]
{device}

[device.config.server]
security = "none"

[device.config.auth]
username = "{username}"
password = "s3cret-probe"

[server]
starttls = false
capabilities = ["AUTH PLAIN LOGIN"]
credentials = {{ "{username}" = "s3cret-probe" }}

[job]
from = "{sender}"
to = ["{to}"]
cc = ["{cc}"]
subject = "hi"
body = "Hello.\\n"

[expect]
event = "sent"
mailbox_count = 1
"""
_NORMAL = {"device": "", "username": "pump7", "sender": "a@example.com",
           "to": "b@example.net", "cc": "c@example.net"}

# (scenario key as the error names it, the value to put there)
_INJECTIONS = {
    "job.from": {"sender": INJECTED},
    "job.to[0]": {"to": INJECTED},
    "job.cc[0]": {"cc": INJECTED},
    "device.config.auth.username": {"username": "--output=owned"},
}


def _installed(name: str) -> DutFile:
    dut = DutFile.load(shipped_dut_files()[name])
    if dut.installed() is None:
        pytest.skip(f"{dut.program_path} is not installed (apt-get install {name})")
    return dut


_NOT_AN_ARGUMENT = {("curl", "device.config.auth.username")}
"""Values a shipped program does not get as an argument (curl reads the user name from
its netrc file): harmless there, so the run goes ahead."""


@pytest.mark.parametrize("key", sorted(_INJECTIONS))
@pytest.mark.parametrize("name", SHIPPED)
def test_a_scenario_value_that_looks_like_an_option_is_refused(
        name: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(name)
    scenario = tmp_path / "probe.toml"
    scenario.write_text(_SCENARIO.format(**{**_NORMAL, **_INJECTIONS[key]}))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out, err = io.StringIO(), io.StringIO()
    status = main(["run", str(scenario), "--dut", name, "--time-cap", "5"], out=out, err=err)
    assert list(work.iterdir()) == []  # nothing read the value as --output
    if (name, key) in _NOT_AN_ARGUMENT:
        assert status == 0, out.getvalue() + err.getvalue()
        return
    assert status == 2, out.getvalue() + err.getvalue()
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"smtp-hil: {scenario}: {key}: "), lines[0]
    assert "starts with '-'" in lines[0] and name in lines[0]


def _our_command_lines() -> list[bytes]:
    """The /proc/PID/cmdline (readable by every user of the machine) of every process
    descending from this one: the client program and whatever it started. Other users'
    processes are left out, so that a test running elsewhere on the machine cannot
    disturb this one."""
    parents: dict[int, int] = {}
    lines: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            lines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    ours = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        grew = bool(found)
        ours |= found
    return [lines[pid] for pid in ours if pid != os.getpid() and pid in lines]


@pytest.mark.parametrize("name", SHIPPED)
def test_the_password_never_is_on_a_command_line(name: str) -> None:
    """The argument list the runner builds holds no password, and neither does any
    process's /proc/PID/cmdline while the program talks to the server; the program still
    logs in (the password reached it through a file or its environment)."""
    dut = _installed(name)
    scenario = resolve_scenario("starttls")
    password = scenario.device_config("127.0.0.1").auth.password
    assert password
    seen: list[list[bytes]] = []

    def look_while_running(line: TranscriptLine) -> None:
        if line.kind == "C" and not seen:
            seen.append(_our_command_lines())

    run = asyncio.run(run_dut_async(dut, scenario, time_cap_s=15,
                                    pacing=Pacing(max_delay_s=0.05),
                                    on_line=look_while_running))
    assert not any(password in arg for arg in run.argv), run.argv
    assert seen, "the program never sent a command"
    assert any(b"smtp-hil-dut-" in cmdline for cmdline in seen[0]), \
        "the program's own command line was not among those read"
    assert not any(password.encode() in cmdline for cmdline in seen[0])
    users = [c.engine.observations.authenticated_user for c in run.connections]
    assert "pump7" in users, (run.exit_status, run.stderr_tail())


def test_a_password_starting_with_a_dash_is_fine_when_it_goes_through_a_file(
        tmp_path: Path) -> None:
    path = tmp_path / "file.toml"
    path.write_text('[client]\nname = "f"\ncommand = ["f", "--from={sender}"]\n'
                    '[client.auth]\nargs = ["--password-file={password_file}"]\n')
    scenario = parse_scenario(_SCENARIO.format(**_NORMAL).replace(
        '"s3cret-probe"', '"-s3cret"'), source="probe.toml")
    DutFile.load(path).refuse_option_like_values(scenario)  # no error
    argv_path = tmp_path / "argv.toml"
    argv_path.write_text('[client]\nname = "a"\ncommand = ["a"]\n'
                         '[client.auth]\nargs = ["--password", "{password}"]\n')
    with pytest.raises(DutError, match=r"device.config.auth.password: the password starts "
                                       r"with '-'") as info:
        DutFile.load(argv_path).refuse_option_like_values(scenario)
    assert "-s3cret" not in str(info.value)


def test_curl_reads_a_password_with_blanks_quotes_and_backslashes_from_its_netrc(
        tmp_path: Path) -> None:
    dut = _installed("curl")
    password = 'pa ss"w\\ord'
    text = _SCENARIO.format(**_NORMAL).replace('"s3cret-probe"', toml_repr(password))
    run = run_dut(dut, parse_scenario(text, source="probe.toml"), time_cap_s=10,
                  pacing=Pacing(max_delay_s=0.05))
    assert run.exit_status == 0, run.stderr_tail()
    assert [c.engine.observations.authenticated_user for c in run.connections] == ["pump7"]


def test_a_netrc_entry_quotes_only_what_needs_quoting() -> None:
    assert netrc_entry("127.0.0.1", "pump7", "s3cret") == \
        b"machine 127.0.0.1 login pump7 password s3cret\n"
    assert netrc_entry("h", "a b", 'x"y\\z\n') == \
        b'machine h login "a b" password "x\\"y\\\\z\\n"\n'
    assert netrc_entry("h", "u", "") == b'machine h login u password ""\n'
    assert netrc_entry("h", None, "x") == b""


@pytest.mark.parametrize("show", [False, True])
def test_dut_json_hides_credentials_unless_asked(show: bool) -> None:
    _installed("smtplib")
    out, err = io.StringIO(), io.StringIO()
    status = main(["run", "auth-plain", "--dut", "smtplib", "--json", "--time-cap", "15",
                   "--max-delay", "0.05", *(["--show-secrets"] if show else [])],
                  out=out, err=err)
    assert status == 0, err.getvalue()
    blob = "AHB1bXA3AHMzY3JldC1wdW1wNw=="  # base64 of NUL pump7 NUL s3cret-pump7
    if show:
        assert f"AUTH PLAIN {blob}" in out.getvalue()
    else:
        assert blob not in out.getvalue() and "s3cret-pump7" not in out.getvalue()
        assert "AUTH PLAIN <credentials hidden, 28 bytes>" in out.getvalue()


def test_a_password_the_program_prints_is_hidden_in_its_output() -> None:
    secrets = scenario_secrets(resolve_scenario("starttls"), "127.0.0.1")
    text = "login s3cret-pump7 / czNjcmV0LXB1bXA3 / AHB1bXA3AHMzY3JldC1wdW1wNw== failed"
    assert hide_known_secrets(text, secrets) == (
        "login <password hidden> / <password hidden> / <password hidden> failed")
