"""Auditing a client program: each case against the scripted server on real sockets.

A program cannot be judged on the modelled client's exact events (correct clients end
differently: one aborts at injected plaintext, another discards it and delivers), so a
case says what ANY correct client must reach (``[scenario.audit] outcome``) and the
program is judged on that and on every check the server can make:

- ``refuse``: it ends by itself, reporting a failure (an exit status that does not mean
  delivered), within the run's time limit; a program killed at the time cap never gave
  up and fails ("no ending of its own within N s");
- ``deliver``: it delivers (a success exit status);
- ``either``: it ends by itself either way;

then the server-side checks of ``[expect]`` (mailbox, body, ``[expect.server]``), except
those the case lists as ``advisory``, which become notes. A case the program cannot be
given is not applicable (:mod:`scenarios.outside.dutapplicability`), with the reason.

Timeouts. The audit sets the program's own timeout to ``client_timeout_s`` through its
DUT file's ``timeout_args``; a program without them keeps its own
(``default_timeout_s``, when known), and a ``timeouts`` case is not applicable when that
lies beyond the time cap. The server's delays in a ``timeouts`` case are scaled by the
client's timeout over the device's 300 s command timer, so a trickle that outlasts a
per-command timer of the device outlasts the program's too: a program whose timer is
re-armed on every byte waits the whole trickle out and delivers, and fails.

Ctrl-C. Each program runs in an event loop that takes SIGINT itself
(:func:`scenarios.outside.interruptible.run_interruptibly`), so a Ctrl-C stops the
program that runs at once (its whole process group is killed), whichever thread of the
process receives the signal, and :class:`KeyboardInterrupt` leaves
:func:`audit_program`; the cases judged before it were reported through ``progress``.

This module runs programs through :mod:`scenarios.outside.dut`; it prints nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Final

from scenarios.audit.cases import CaseResult, CaseStatus, CheckLine
from scenarios.format import AuditSection, Scenario
from scenarios.outside.dut import DutRun, run_dut_async
from scenarios.outside.dutapplicability import device_reasons, dut_reasons, link_reasons
from scenarios.outside.dutfile import DEFAULT_TIME_CAP_S, DutFile
from scenarios.outside.interruptible import run_interruptibly
from scenarios.server.realtime import Pacing
from scenarios.verdict.server import ServerVerdict

DEFAULT_CLIENT_TIMEOUT_S: Final = 10.0
DEVICE_COMMAND_TIMER_S: Final = 300.0
"""The device's per-command timer (RFC 5321 4.5.3.2's 5 minutes) the catalog's delays are
set against."""


def audit_program(cases: Sequence[Scenario], dut: DutFile, *,
                  time_cap_s: float = DEFAULT_TIME_CAP_S,
                  client_timeout_s: float = DEFAULT_CLIENT_TIMEOUT_S,
                  progress: Callable[[CaseResult], object] | None = None) -> list[CaseResult]:
    """Every case against ``dut``, in order (see the module docstring); Ctrl-C raises
    :class:`KeyboardInterrupt` at once, the program that ran killed."""
    dut.require_installed()
    results = []
    for scenario in cases:
        result = _one(scenario, dut, time_cap_s, client_timeout_s)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _one(scenario: Scenario, dut: DutFile, time_cap_s: float,
         client_timeout_s: float) -> CaseResult:
    audit = scenario.audit
    assert audit is not None
    reasons = [*link_reasons(scenario), *device_reasons(scenario), *dut_reasons(scenario, dut)]
    settable = dut.timeout_args is not None
    timeout = client_timeout_s if settable else dut.default_timeout_s
    if audit.group == "timeouts" and not settable and timeout is not None \
            and timeout >= time_cap_s:
        reasons.append(f"{dut.name}'s own timeout ({timeout:g} s, which its DUT file cannot "
                       f"set) lies beyond the time cap ({time_cap_s:g} s)")
    if reasons:
        return CaseResult(scenario, "not_applicable", reasons[0], tuple(reasons))
    scale = (timeout or client_timeout_s) / DEVICE_COMMAND_TIMER_S \
        if audit.group == "timeouts" else 1.0
    run = run_interruptibly(functools.partial(
        run_dut_async, dut, scenario, time_cap_s=time_cap_s, pacing=Pacing(time_scale=scale),
        client_timeout_s=client_timeout_s if settable else None))
    return judge_program(scenario, run)


def judge_program(scenario: Scenario, run: DutRun) -> CaseResult:
    """The case's result from a program's run: its outcome, then the server's checks."""
    return judge_outcome_and_checks(scenario, outcome_check(_audit(scenario).outcome, run),
                                    run.verdict, run.hide_secrets, exit_status=run.exit_status,
                                    wall_s=run.wall_s, run=run)


def judge_outcome_and_checks(scenario: Scenario, ending: CheckLine, verdict: ServerVerdict,
                             hide: Callable[[str], str], *, exit_status: int | None,
                             wall_s: float, run: object) -> CaseResult:
    """The case's result from how the client ended (``ending``) and the server's checks
    of ``verdict`` (its ``event`` left out: ``ending`` stands for it; the case's
    ``advisory`` checks become notes); ``hide`` hides the credentials in what is shown."""
    audit = _audit(scenario)
    advisory = set(audit.advisory)
    if "body_exact" in advisory:
        advisory.add("content_exact")  # the same body, byte for byte
    checks = [ending]
    notes = list(verdict.notes)
    for check in verdict.checks:
        if check.name == "event":
            continue
        detail = hide(check.detail)
        if check.name in advisory and check.status == "fail":
            checks.append(CheckLine(check.name, "advisory", detail))
            notes.append(f"advisory {check.name}: {detail}")
        else:
            checks.append(CheckLine(check.name, check.status, detail))
    failed = tuple(c.detail for c in checks if c.status == "fail")
    status: CaseStatus = "fail" if failed else "pass"
    reason = failed[0] if failed else f"{audit.claim} ({ending.detail})"
    return CaseResult(scenario, status, reason, failed, tuple(checks),
                      tuple(hide(n) for n in notes), exit_status=exit_status, wall_s=wall_s,
                      run=run)


def judge_outcome(outcome: str, *, delivered: bool, ended: str,
                  detail: str | None = None) -> CheckLine:
    """A client's ending against the case's ``outcome``: ``delivered`` says whether it
    reports the mail delivered, ``ended`` how it ended (``exit 0``, ``sent 250 OK``),
    ``detail`` what it said when it did not deliver (default: ``ended``)."""
    if outcome == "refuse" and delivered:
        return CheckLine("outcome", "fail", f"it claims it delivered ({ended})")
    if outcome == "deliver" and not delivered:
        return CheckLine("outcome", "fail", f"it did not deliver ({detail or ended})")
    return CheckLine("outcome", "pass", ended)


def outcome_check(outcome: str, run: DutRun) -> CheckLine:
    """How the program ended, against the case's ``outcome``."""
    if run.killed:
        return CheckLine("outcome", "fail", f"no ending of its own within "
                                            f"{run.time_limit_s:g} s: it was killed at the "
                                            "time cap")
    status = run.exit_status
    said = run.stderr_tail(1)
    said = f": {run.hide_secrets(said)}" if said else ""
    return judge_outcome(outcome, delivered=status in run.dut.success_exit_codes,
                         ended=f"exit {status}", detail=f"exit {status}{said}")


def _audit(scenario: Scenario) -> AuditSection:
    audit = scenario.audit
    assert audit is not None
    return audit
