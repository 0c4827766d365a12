"""Auditing a board through its console: each case served on real sockets where the
board connects, its job given over the console, judged as a client program is.

The board's settings are its own (:mod:`scenarios.audit.boardconfig` says what they
are), so a case applies only when the board holds what the case's device would: the
same security mode, credentials when (and only when) the case logs in, the audit's CA
as its trust anchor for a TLS case, and a job the console's ``smtp send`` can carry (no
CR or LF in an address or a header field, no bare CR in the body, no CRLF in a
smuggling probe's body, no attachment; a line the console refuses with ``ERR:`` makes
the case not applicable too, with the console's answer). Everything a client program
is not given is not applicable here either (:mod:`scenarios.outside.dutapplicability`).
The board's credentials stand in for the case's: the scripted server knows the board's
user, and the verdict hides the board's password.

For each case: the scripted server listens on the board config's ``server.listen``
(:class:`~scenarios.server.asyncdriver.AsyncServer`, the one ``smtp-hil serve`` runs),
its certificate issued by the audit's kept CA for the board's server name;
:meth:`RealBoard.send_mail` types ``smtp send`` on the console and waits for the job's
terminal event. The event stands where a program's exit status stands
(:func:`scenarios.audit.programs.judge_outcome`): ``sent`` is "delivered", any other
terminal event a refusal, no event within the case's time a hang. A ``timeouts`` case's
delays are scaled by the board's own command timer over the device's 300 s. When the
board gave no ending in time, the server is closed and the board gets as long again to
end the job; if it still does not, its console is busy and the remaining cases are not
run (each says so).

Ctrl-C: each case's event loop takes SIGINT itself
(:func:`scenarios.outside.interruptible.run_interruptibly`) and the console is read in a
worker thread; cancelled, the wait cancels the console read
(:meth:`RealBoard.cancel`), so the audit stops at once (within
:data:`~emulator.backends.serialboard.CANCEL_POLL_S`), not when the read's time runs
out, and :class:`KeyboardInterrupt` leaves :func:`audit_board`.

This module reads the wall clock, opens sockets and a serial port; it prints nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from emulator.backends.serialboard import ConsoleTimeout, RealBoard, send_command
from emulator.console import parse_mail_options
from emulator.consoleshell import CommandError
from emulator.userinput import UserInputError
from scenarios.audit.boardconfig import BoardConfig
from scenarios.audit.cases import CaseResult, CheckLine
from scenarios.audit.programs import (
    DEVICE_COMMAND_TIMER_S,
    judge_outcome,
    judge_outcome_and_checks,
)
from scenarios.format import Scenario
from scenarios.format.vocabulary import LINE_BREAKS
from scenarios.outside.dutapplicability import device_reasons, link_reasons
from scenarios.outside.dutfile import LOOPBACK, has_credentials
from scenarios.outside.dutsecrets import hide_known_secrets, scenario_secrets
from scenarios.outside.interruptible import run_interruptibly
from scenarios.outside.serve import host_port
from scenarios.outside.tls import scenario_tls
from scenarios.server.asyncdriver import AsyncConnection, Pacing, host_clock
from scenarios.server.asyncserver import AsyncServer
from scenarios.verdict.server import ServerVerdict, judge_server
from smtp.message import MailJob
from stack.tls.certs import CertAuthority

BOARD: Final = "the board"
CLOSE_GRACE_S: Final = 2.0
"""After the job's terminal event, how long the board may take to close its connection."""


@dataclass
class BoardRun:
    """One case against the board: what it reported and what the server saw."""

    scenario: Scenario
    event: str | None
    """The job's terminal event line (``sent 250 2.0.0 OK``); None: none in time."""
    time_limit_s: float
    wall_s: float
    verdict: ServerVerdict
    connections: list[AsyncConnection]
    late_event: str | None = None
    """The event that came after the server was closed, when none came in time."""

    @property
    def delivered(self) -> bool:
        return self.event is not None and self.event.split(" ", 1)[0] == "sent"

    def hide_secrets(self, text: str) -> str:
        return hide_known_secrets(text, scenario_secrets(self.scenario, LOOPBACK))


def board_reasons(scenario: Scenario, config: BoardConfig) -> list[str]:
    """Why ``scenario`` cannot be put to a board configured as ``config`` (none: it can)."""
    reasons = [*link_reasons(scenario, BOARD), *device_reasons(scenario, BOARD)]
    security = scenario.device_config(LOOPBACK).server.security
    if security != config.server.security:
        reasons.append(f"the case's device uses security {security!r}; the board is "
                       f"configured with {config.server.security!r} (board config "
                       "server.security)")
    logs_in = has_credentials(scenario)
    if logs_in and config.auth is None:
        reasons.append("the case's device logs in; the board has no credentials (no [auth] "
                       "in the board config)")
    if not logs_in and config.auth is not None:
        reasons.append("the case's device does not log in; the board does ([auth] in the "
                       "board config)")
    if security != "none" and config.tls.trusts != "audit_ca":
        reasons.append("the board trusts anchors the audit cannot issue from (board config "
                       "tls.trusts = 'other')")
    if list(scenario.device.trusts) != ["test_ca"]:
        reasons.append(f"the case's device trusts {', '.join(scenario.device.trusts)} "
                       "(device.trusts); the board holds the audit's CA")
    reasons += _console_reasons(scenario)
    return reasons


def _console_reasons(scenario: Scenario) -> list[str]:
    """What the console's ``smtp send`` cannot carry of the case's job: the line must
    hold no CR or LF, and the console's own parser must read back the job (its line
    breaks as ``\\n``: a CRLF is a line break, except in a smuggling probe's body)."""
    job = scenario.to_job()
    if not isinstance(job, MailJob):
        return []  # device_reasons names the job
    addresses = [job.sender, *job.to, *job.cc, *job.bcc]
    if any(ch in value for value in addresses for ch in LINE_BREAKS):
        return ["CR or LF in an address: the console's smtp send line cannot carry it"]
    if any(ch in job.subject for ch in LINE_BREAKS):
        return ["CR or LF in the subject: the console's smtp send line cannot carry it"]
    audit = scenario.audit
    raw = audit is not None and "raw_body" in audit.needs
    body = job.body
    if isinstance(body, str) and "\r" in (body if raw else body.replace("\r\n", "")):
        return ["a CR in the body: the console's smtp send --body carries line breaks as "
                "\\n only, so the body would reach the board changed"]
    try:
        carried = parse_mail_options(shlex.split(send_command(job))[2:])
    except (ValueError, CommandError) as exc:
        return [f"the console's smtp send cannot carry the job ({exc})"]
    wanted = dataclasses.replace(job, body=body.replace("\r\n", "\n")) \
        if isinstance(body, str) else job
    lost = [f.name for f in dataclasses.fields(MailJob)
            if getattr(carried, f.name) != getattr(wanted, f.name)]
    if lost:
        return [f"the console's smtp send has no option for the job's {', '.join(lost)}"]
    return []


def board_scenario(scenario: Scenario, config: BoardConfig) -> Scenario:
    """``scenario`` with the board's credentials in place of its device's (the server
    knows the board's user; the expected login is the board's)."""
    if config.auth is None or not has_credentials(scenario):
        return scenario
    device_auth = scenario.device_config(LOOPBACK).auth
    user, password = config.auth.username, config.auth.password
    auth = {**scenario.device.config.get("auth", {}), "username": user, "password": password}
    device = scenario.device.model_copy(update={"config": {**scenario.device.config,
                                                           "auth": auth}})
    credentials = {(user if name == device_auth.username else name): secret
                   for name, secret in scenario.server.credentials.items()}
    if device_auth.username in scenario.server.credentials:
        credentials[user] = password
    server = scenario.server.model_copy(update={"credentials": credentials})
    expect = scenario.expect
    if expect.server.authenticated_as == device_auth.username:
        expect = expect.model_copy(update={"server": expect.server.model_copy(
            update={"authenticated_as": user})})
    return scenario.model_copy(update={"device": device, "server": server, "expect": expect})


def audit_board(cases: Sequence[Scenario], board: RealBoard, config: BoardConfig,
                ca: CertAuthority | None, *,
                progress: Callable[[CaseResult], object] | None = None) -> list[CaseResult]:
    """Every case against the board, in order (see the module docstring); Ctrl-C raises
    :class:`KeyboardInterrupt` at once, the console read in progress stopped."""
    results: list[CaseResult] = []
    busy: str | None = None
    for scenario in cases:
        if busy is not None:
            result = CaseResult(scenario, "not_applicable", busy, (busy,))
        else:
            result = _one(scenario, board, config, ca)
            run = result.run
            if isinstance(run, BoardRun) and run.event is None and run.late_event is None:
                busy = (f"not run: the board did not end case {scenario.name}'s job, even "
                        "after the server closed, so its console is still busy")
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _one(scenario: Scenario, board: RealBoard, config: BoardConfig,
         ca: CertAuthority | None) -> CaseResult:
    audit = scenario.audit
    assert audit is not None
    reasons = board_reasons(scenario, config)
    timer = config.timeouts.command_s
    limit = min(scenario.meta.time_limit_s, config.timeouts.case_s)
    if audit.group == "timeouts" and timer >= limit:
        reasons.append(f"the board's own timeout ({timer:g} s, board config "
                       f"timeouts.command_s) lies beyond the case's time ({limit:g} s, "
                       "timeouts.case_s)")
    if reasons:
        return CaseResult(scenario, "not_applicable", reasons[0], tuple(reasons))
    adapted = board_scenario(scenario, config)
    scale = timer / DEVICE_COMMAND_TIMER_S if audit.group == "timeouts" else 1.0
    try:
        run = run_interruptibly(functools.partial(
            _run, adapted, board, config, ca, Pacing(time_scale=scale), limit))
    except ValueError as exc:  # the console answered ERR: the job could not be given
        why = str(exc)  # "the board refused the job: ERR: line too long ..."
        return CaseResult(scenario, "not_applicable", why, (why,))
    return judge_board(scenario, run)


async def _run(scenario: Scenario, board: RealBoard, config: BoardConfig,
               ca: CertAuthority | None,
               pacing: Pacing, limit_s: float) -> BoardRun:
    tls, _ = scenario_tls(scenario, names=config.tls_names(), ca=ca)
    server = AsyncServer(scenario.server_config(), tls=tls, pacing=pacing)
    job = scenario.to_job()
    assert isinstance(job, MailJob)
    host, port = config.server.host, config.server.port
    late = None
    try:
        if scenario.server.listen:
            try:
                await server.start(host, port)
            except OSError as exc:
                raise UserInputError(f"cannot listen on {host_port(host, port)} (board config "
                                     f"server.listen): {exc.strerror or exc}") from None
        started = time.monotonic()
        event = await _on_console(board, functools.partial(_terminal_event, board, job,
                                                           limit_s))
        wall = time.monotonic() - started
        if event is not None:
            await server.wait_all_closed(CLOSE_GRACE_S)
    finally:
        await server.close()
    if event is None:  # the connections are closed now: a board waiting on them ends
        late = await _on_console(board, functools.partial(_late_event, board, limit_s))
    verdict = judge_server(scenario, [c.engine for c in server.connections], now=host_clock())
    return BoardRun(scenario, event, limit_s, wall, verdict, list(server.connections), late)


async def _on_console(board: RealBoard, wait: Callable[[], str | None]) -> str | None:
    """``wait()``, which reads the board's console, in a worker thread. Cancelled (Ctrl-C),
    it cancels the console read too: the event loop's shutdown waits for its worker
    threads, and so would wait for the read's whole time."""
    try:
        return await asyncio.to_thread(wait)
    except asyncio.CancelledError:
        board.cancel()
        raise


def _terminal_event(board: RealBoard, job: MailJob, limit_s: float) -> str | None:
    try:
        return board.send_mail(job, timeout=limit_s)
    except ConsoleTimeout:
        return None


def _late_event(board: RealBoard, limit_s: float) -> str | None:
    try:
        return board.wait_for_event(timeout=limit_s)
    except ConsoleTimeout:
        return None


def judge_board(scenario: Scenario, run: BoardRun) -> CaseResult:
    """The case's result from the board's run: its ending, then the server's checks."""
    audit = scenario.audit
    assert audit is not None
    if run.event is None:
        late = f" (it ended only after the server closed: {run.late_event})" \
            if run.late_event else " (nor after the server closed)"
        ending = CheckLine("outcome", "fail",
                           f"no terminal event within {run.time_limit_s:g} s{late}")
    else:
        ending = judge_outcome(audit.outcome, delivered=run.delivered,
                               ended=run.hide_secrets(run.event))
    return judge_outcome_and_checks(scenario, ending, run.verdict, run.hide_secrets,
                                    exit_status=None, wall_s=run.wall_s, run=run)


def write_ca_instructions(ca_file: Path, made: bool) -> str:
    """What to tell the user about the audit's CA."""
    how = "was just made" if made else "is kept"
    return (f"the audit's CA {how} in {ca_file}: the board must trust it (install it as "
            "the board's trust anchor) for the TLS cases")

