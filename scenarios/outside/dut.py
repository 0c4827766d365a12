"""Running an SMTP client program against a scenario's scripted server, and judging it.

The program is described by a DUT file (:mod:`scenarios.outside.dutfile`).
:func:`run_dut` builds the scenario job's message (:class:`smtp.message.MessageBuilder`,
Date from the host clock), starts the scripted server on a free loopback port
(:mod:`scenarios.server.asyncdriver`, TLS from a throwaway CA whose certificate is the
``{ca_file}``), runs the program with a time limit of ``min(time_limit_s, time_cap_s)``
real seconds (killing its whole process group when it runs over), and judges the run:
the server-side verdict (:mod:`scenarios.verdict.server`) with the scenario's ``event``
judged from the exit status (``sent``: the program must exit with a success status;
``command_abort``/``error``/``timeout``: with any other status, by itself: a program
killed at the time limit never gave up, so it fails a ``timeout`` too).

:func:`dut_run_view` is a run's view in the HTML report: the scripted server's view of
the program's connections (:mod:`scenarios.report.from_server`), with how the program
ended.

This module reads the host clock and runs processes; it knows nothing about the
simulated world or the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from scenarios.format import Scenario
from scenarios.outside.dutfile import DEFAULT_TIME_CAP_S, LOOPBACK, DutError, DutFile
from scenarios.outside.dutsecrets import (
    hide_known_secrets,
    netrc_entry,
    private_file,
    scenario_secrets,
)
from scenarios.outside.tls import scenario_tls
from scenarios.report.from_server import server_run_view
from scenarios.report.model import RunView
from scenarios.server.asyncdriver import AsyncConnection, Pacing
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.transcript import TranscriptSink
from scenarios.verdict.server import CheckResult, ServerVerdict, judge_server, summary
from smtp.message import MailJob, MessageBuilder

OUTPUT_GRACE_S: Final = 2.0
"""After the program ended (or was killed), how long its output may take to drain."""


def message_for(scenario: Scenario, now: datetime, *, raw_body: bool = False) -> bytes:
    """The scenario job's message as the device would build it, dated ``now``. With
    ``raw_body`` the body follows the headers exactly as the job gives it, bare CR and LF
    kept (a smuggling probe for a program that relays what it is given)."""
    job = scenario.to_job()
    if not isinstance(job, MailJob):
        raise DutError(f"scenario {scenario.name}: a client program sends mail; this job is "
                       f"{scenario.job.kind}")
    domain = scenario.device.domain
    if domain is None or domain.startswith("["):
        domain = "device.invalid"
    date = email.utils.format_datetime(now.astimezone(UTC).replace(microsecond=0))
    built = dataclasses.replace(job, body="") if raw_body else job
    if scenario.job.allow_invalid:
        # The program gets the raw addresses as arguments; the message file's headers
        # are the harness's, written without the line breaks.
        built = dataclasses.replace(
            built, sender=_header_address(built.sender),
            to=tuple(map(_header_address, built.to)), cc=tuple(map(_header_address, built.cc)),
            bcc=tuple(map(_header_address, built.bcc)), dsn_envid=None)
    try:
        builder = MessageBuilder(built, date_header=date, message_id_domain=domain,
                                 message_id_seq=1, boundary_seed=0)
    except ValueError as exc:
        raise DutError(f"scenario {scenario.name}: the job cannot be written as a "
                       f"message: {exc}") from None
    message = builder.to_bytes()
    if raw_body:
        body = job.body.encode("utf-8") if isinstance(job.body, str) else bytes(job.body)
        message = message.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    return message


def _header_address(value: str) -> str:
    """An address for the message file's headers: the part before a line break when that
    is a plain address, else a placeholder (the envelope keeps the raw value)."""
    head = re.split(r"[\r\n\0]", value, maxsplit=1)[0]
    if head == value or re.fullmatch(r"[^\s\"@<>]+@[^\s\"@<>]+", head):
        return head
    return "invalid@example.invalid"


# ----------------------------------------------------------------------------------------
# Running


@dataclass
class DutRun:
    """One scenario against one client program: what happened and the verdict."""

    scenario: Scenario
    dut: DutFile
    argv: list[str]
    exit_status: int | None
    killed: bool
    time_limit_s: float
    wall_s: float
    stdout: bytes
    stderr: bytes
    message: bytes
    verdict: ServerVerdict
    connections: list[AsyncConnection]

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def stderr_tail(self, lines: int = 3) -> str:
        text = self.stderr.decode("utf-8", "replace").strip().splitlines()
        return " | ".join(line.strip() for line in text[-lines:])

    def hide_secrets(self, text: str) -> str:
        """``text`` (the program's output, its argument list) with the scenario's
        password and token, and their base64 forms, replaced by ``<password hidden>``."""
        return hide_known_secrets(text, scenario_secrets(self.scenario, LOOPBACK))


def exit_check(event: str, exit_status: int | None, killed: bool, limit_s: float,
               success: frozenset[int], stderr_tail: str = "") -> CheckResult:
    """The scenario's ``event`` judged from how the program ended."""
    said = f" ({stderr_tail})" if stderr_tail else ""
    if killed:
        ended = f"the client was still running after {limit_s:g} s and was killed"
        if event == "timeout":
            # A program that never gives up is no proof of a timeout: it must end by itself.
            return CheckResult("event", "fail", f"expected timeout: the client did not give "
                                                f"up by itself within {limit_s:g} s ({ended})")
        return CheckResult("event", "fail", f"expected {event}: {ended} (it hangs)")
    assert exit_status is not None
    delivered = exit_status in success
    if event == "sent":
        if delivered:
            return CheckResult("event", "pass", f"expected sent: the client exited "
                                                f"{exit_status} (it says it delivered)")
        return CheckResult("event", "fail", f"expected sent: the client exited {exit_status} "
                                            f"(it says it failed){said}")
    if event in ("command_abort", "error", "timeout"):
        if delivered:
            return CheckResult("event", "fail", f"expected {event}: the client exited "
                                                f"{exit_status}, it claims it delivered")
        return CheckResult("event", "pass", f"expected {event}: the client exited "
                                            f"{exit_status} (it reports a failure){said}")
    return CheckResult("event", "not observable", f"{event} is not a mail outcome")


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (for scenarios whose server does not listen)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def _run_program(argv: list[str], stdin: bytes | None, limit_s: float,
                       environment: Mapping[str, str] | None = None
                       ) -> tuple[int | None, bool, bytes, bytes]:
    """Exit status (None when killed), killed, stdout, stderr. The program runs in a
    session of its own; whatever is left of its process group at the end is killed."""
    # The start is never cancelled halfway: asyncio would kill the program's first
    # process only and then wait for its pipes to close, that is for whatever the program
    # started (measured: a Ctrl-C there waited for a `sleep 300` the program had left)
    starting = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else
        asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True, env=environment))
    try:
        process = await asyncio.shield(starting)
    except FileNotFoundError:
        raise DutError(f"{argv[0]}: not installed (not found)") from None
    except PermissionError:
        raise DutError(f"{argv[0]}: cannot be run (permission denied)") from None
    except asyncio.CancelledError:  # cancelled while it starts: it may run already
        with contextlib.suppress(OSError, TimeoutError):
            process = await starting
            _kill_group(process)
            await asyncio.wait_for(process.communicate(), OUTPUT_GRACE_S)  # its pipes end
        raise
    talk = asyncio.ensure_future(process.communicate(stdin))
    ended = asyncio.ensure_future(process.wait())
    try:
        done, _ = await asyncio.wait({ended}, timeout=limit_s)
        killed = not done
    finally:
        _kill_group(process)  # the program if it still runs, and anything it left behind
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ended), OUTPUT_GRACE_S)
    stdout = stderr = b""
    try:
        stdout, stderr = await asyncio.wait_for(talk, OUTPUT_GRACE_S)
    except TimeoutError:  # a descendant outside the group still holds the pipes
        talk.cancel()
    return (None if killed else process.returncode), killed, stdout, stderr


async def run_dut_async(dut: DutFile, scenario: Scenario, *,
                        time_cap_s: float = DEFAULT_TIME_CAP_S,
                        pacing: Pacing | None = None,
                        on_line: TranscriptSink | None = None,
                        client_timeout_s: float | None = None) -> DutRun:
    """Run ``scenario`` with ``dut`` as the client (see the module docstring);
    ``client_timeout_s`` sets the program's own timeout through its ``timeout_args``."""
    dut.require_installed()
    dut.refuse_option_like_values(scenario)
    now = datetime.now(UTC)
    audit = scenario.audit
    message = message_for(scenario, now, raw_body=audit is not None and "raw_body" in audit.needs)
    job = scenario.to_job()
    assert isinstance(job, MailJob)
    limit_s = min(scenario.meta.time_limit_s, time_cap_s)
    server_section = scenario.server
    tls, ca_pem = scenario_tls(scenario)
    server = AsyncServer(scenario.server_config(), tls=tls, pacing=pacing or Pacing(),
                         on_line=on_line)
    auth = scenario.device_config(LOOPBACK).auth
    with tempfile.TemporaryDirectory(prefix="smtp-hil-dut-") as tmp:
        folder = Path(tmp)
        (folder / "message.eml").write_bytes(message)
        (folder / "ca.pem").write_bytes(ca_pem)
        password_file = private_file(folder / "password", (auth.password or "").encode())
        netrc_file = private_file(folder / "netrc", netrc_entry(LOOPBACK, auth.username,
                                                                 auth.password))
        if server_section.listen:
            _, port = await server.start(LOOPBACK, 0)
        else:
            port = free_port()
        values = {
            "host": LOOPBACK, "port": str(port), "sender": job.sender,
            "recipients": ",".join(job.envelope_recipients()),
            "message_file": str(folder / "message.eml"), "ca_file": str(folder / "ca.pem"),
            "password_file": str(password_file), "netrc_file": str(netrc_file),
            "helo_name": scenario.device.domain or f"[{LOOPBACK}]",
            "python": sys.executable, "dut_dir": str(dut.path.resolve().parent),
            "time_limit_s": str(max(1, int(limit_s))),
        }
        if client_timeout_s is not None:
            values["timeout_s"] = str(max(1, round(client_timeout_s)))
        if auth.username:
            values["username"] = auth.username
        if auth.password is not None:
            values["password"] = auth.password
        try:
            argv = dut.argv(scenario, values, job.envelope_recipients())
            environment = {**os.environ, **dut.environment(scenario, values)}
            started = time.monotonic()
            status, killed, stdout, stderr = await _run_program(
                argv, message if dut.stdin == "message" else None, limit_s, environment)
            wall = time.monotonic() - started
            await server.wait_all_closed(2.0)
        finally:
            await server.close()
    engines = [c.engine for c in server.connections]
    # A raw body is no byte-for-byte target: a correct client turns its bare CR and LF
    # into CRLF; body_exact judges that.
    raw_body = audit is not None and "raw_body" in audit.needs
    verdict = judge_server(scenario, engines, message=None if raw_body else message,
                           now=datetime.now(UTC))
    run = DutRun(scenario=scenario, dut=dut, argv=argv, exit_status=status, killed=killed,
                 time_limit_s=limit_s, wall_s=wall, stdout=stdout, stderr=stderr,
                 message=message, verdict=verdict, connections=list(server.connections))
    verdict.replace("event", exit_check(scenario.expect.event, status, killed, limit_s,
                                        dut.success_exit_codes, run.stderr_tail(1)))
    return run


def run_dut(dut: DutFile, scenario: Scenario, *, time_cap_s: float = DEFAULT_TIME_CAP_S,
            pacing: Pacing | None = None) -> DutRun:
    """:func:`run_dut_async` in its own event loop."""
    return asyncio.run(run_dut_async(dut, scenario, time_cap_s=time_cap_s, pacing=pacing))


def dut_run_view(run: DutRun) -> RunView:
    """The run in the HTML report: what the scripted server saw of the program's
    connections (credentials masked), the verdict, and how the program ended."""
    lines = [line for connection in run.connections for line in connection.lines]
    view = server_run_view(run.scenario, lines, run.verdict,
                           run_id=f"{run.scenario.name}--dut-{run.dut.name}",
                           column=f"dut {run.dut.name}")
    ended = (f"killed after {run.time_limit_s:g} s (still running)" if run.killed
             else f"exit status {run.exit_status}")
    view.facts[:0] = [("client program", f"{run.dut.name}: {ended}"),
                      ("wall time", f"{run.wall_s:.3f} s")]
    tail = run.hide_secrets(run.stderr_tail())
    if tail:
        view.facts.append(("its standard error (end)", tail))
    return view


def run_dict(run: DutRun, *, show_secrets: bool = False) -> dict[str, object]:
    """One DUT run as JSON-ready data; credentials hidden unless ``show_secrets`` (in
    the transcript, and the scenario's password wherever the program put it)."""
    def shown(text: str) -> str:
        return text if show_secrets else run.hide_secrets(text)

    return {
        "scenario": run.scenario.name, "client": run.dut.name,
        "argv": [shown(arg) for arg in run.argv],
        **run.verdict.as_dict(),
        "exit_status": run.exit_status, "killed": run.killed,
        "time_limit_s": run.time_limit_s, "wall_s": round(run.wall_s, 3),
        "stderr": shown(run.stderr.decode("utf-8", "replace")[-2000:]),
        "observed": summary([c.engine for c in run.connections]),
        "transcript": [line.as_dict(show_secrets=show_secrets)
                       for c in run.connections for line in c.lines],
    }
