"""Judges a run against its scenario's ``[expect]``: pass, or fail with plain reasons.

Each expectation is one small check returning a sentence when it does not hold, e.g.
"server received 57 of 412 body bytes: the body was cut at the first blank line" or
"no terminal event 3600 s after the last server reply (550 5.1.0 ...): the job hangs".
The checks read only the run's record (:class:`~scenarios.record.RunRecord`): the
client's events, the server's mailbox and observations, the board's pool and watchdog
statistics, the trace, and virtual time; never the world that made it. The checks a
scripted server can make alone are :mod:`scenarios.verdict.serverchecks`', shared with
the server-side verdict.

This module knows the record and the expectations; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.trace import TraceRecord
from emulator.units import format_us
from scenarios.record import RunRecord
from scenarios.verdict.datecheck import COMPOSED_KIND, composition, date_difference, rtc_reading
from scenarios.verdict.firmware import check_firmware
from scenarios.verdict.invariants import check as check_invariant_names
from scenarios.verdict.serverchecks import (
    body_problem,
    headers_problem,
    mailbox_count_problem,
    server_problem,
)
from smtp.events import ClientError, RecipientRejected, describe
from stack.tcp import TX_PURPOSE


@dataclass
class Verdict:
    """``passed`` with the reasons it did not (empty when it passed)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "as expected"


Check = Callable[[RunRecord], str | None]


def reads_record(record: TraceRecord) -> bool:
    """Whether the verdict reads ``record`` whatever comes after it: the client's
    ``message_composed`` records (the Date check). A run that no other view looks into
    keeps only these and the latest record :func:`reads_latest` accepts
    (:func:`scenarios.runner.run` without ``keep_trace``)."""
    return record.kind == COMPOSED_KIND


def reads_latest(record: TraceRecord) -> bool:
    """Whether ``record`` is one of those the verdict reads only the latest of: the
    scripted server's replies (``tx``: the last one a hanging job got)."""
    return record.kind == "tx" and record.source.startswith("server.")


def _last_server_reply(result: RunRecord) -> tuple[int, str] | None:
    records = [r for r in result.trace if r.source.startswith("server.") and r.kind == "tx"]
    if not records:
        return None
    rec = records[-1]
    data = rec.fields.get("data")
    text = data.decode("latin-1").strip() if isinstance(data, bytes) else "?"
    return rec.t_us, text.splitlines()[-1] if text else text


def check_event(result: RunRecord) -> str | None:
    expect = result.scenario.expect
    if result.terminal is None and result.firmware_stopped:
        return None  # check_firmware says why there is no outcome
    if result.terminal is None:
        limit = format_us(result.scenario.time_limit_us).split(".")[0]
        why = f"no terminal event within {limit} s: the job hangs"
        last = _last_server_reply(result)
        if last is not None:
            why = (f"no terminal event {format_us(result.virtual_us - last[0]).split('.')[0]} s "
                   f"after the server's last reply ({last[1]}): the job hangs")
        if result.watchdog_resets:
            why += f" (the board was reset {result.watchdog_resets} time(s) by the watchdog)"
        return why
    event = result.terminal.event
    if event.name != expect.event:
        return f"expected {expect.event}, got {describe(event)}"
    if expect.command is not None:
        command = getattr(event, "command", None)
        if not isinstance(command, str) or command.lower() != expect.command.lower():
            return f"expected {expect.event} on {expect.command}, got {describe(event)}"
    if expect.reply_code is not None:
        reply = getattr(event, "reply", None)
        code = getattr(reply, "code", None)
        if code != expect.reply_code:
            return f"expected reply {expect.reply_code}, got {describe(event)}"
    if expect.error_kind is not None:
        kind = event.kind.value if isinstance(event, ClientError) else None
        if kind != expect.error_kind:
            return f"expected error {expect.error_kind}, got {describe(event)}"
    return None


def check_recipients(result: RunRecord) -> str | None:
    wanted = result.scenario.expect.recipients_rejected
    if wanted is None:
        return None
    got = [e.event.address for e in result.events if isinstance(e.event, RecipientRejected)]
    if sorted(got) != sorted(wanted):
        return f"expected rejected recipients {wanted}, the client reported {got}"
    return None


def check_events_include(result: RunRecord) -> str | None:
    wanted = result.scenario.expect.events_include
    seen = [e.event.name for e in result.events]
    missing = [name for name in wanted if name not in seen]
    if not missing:
        return None
    return (f"expected event(s) {', '.join(missing)}, the client reported "
            f"{', '.join(seen) or 'none'}")


def check_mailbox_count(result: RunRecord) -> str | None:
    return mailbox_count_problem(result.scenario.expect, result.mailbox)


def check_body(result: RunRecord) -> str | None:
    return body_problem(result.scenario.expect, result.scenario.to_job(), result.mailbox)


def check_headers(result: RunRecord) -> str | None:
    return headers_problem(result.scenario.expect, result.mailbox)


def check_date(result: RunRecord) -> str | None:
    if not result.scenario.expect.date_matches_rtc:
        return None
    if not result.mailbox:
        return "date: the server received no mail"
    mail = result.mailbox[0]
    board = result.board_name
    records = [r for r in result.trace if r.source == board or r.source.startswith(board + ".")]
    composed = composition(records, mail.header("Message-ID"))
    if composed is None:
        return "the client left no record of building the message: its Date cannot be judged"
    return date_difference(mail.header("Date"), rtc_reading(composed))


def check_time(result: RunRecord) -> str | None:
    limit = result.scenario.expect.max_virtual_us
    if limit is None or result.terminal is None:
        return None
    if result.terminal.t_us > limit:
        return (f"the job took {format_us(result.terminal.t_us)} s of virtual time, "
                f"more than the {format_us(limit)} s allowed")
    return None


def check_pool(result: RunRecord) -> str | None:
    expect = result.scenario.expect
    problems = []
    stats = result.pool
    if expect.pool_never_exhausted and stats.frames_dropped:
        problems.append(f"the buffer pool ran dry: {stats.frames_dropped} received frame(s) "
                        f"dropped for want of an IP buffer")
    tx_failed = stats.failed_by_purpose.get(TX_PURPOSE, 0)
    if expect.tx_allocations_never_failed and tx_failed:
        problems.append(f"the stack found the IP buffer pool empty {tx_failed} time(s) when "
                        f"it needed a buffer to send a segment")
    if expect.pool_returns_to_full and result.pool_in_use_at_end:
        problems.append(f"{result.pool_in_use_at_end} pool buffer(s) still in use at the end")
    if expect.no_watchdog_reset and result.watchdog_resets:
        problems.append(f"the watchdog reset the board: {result.watchdog_reset_reasons[0]}")
    return "; ".join(problems) or None


def check_invariants(result: RunRecord) -> str | None:
    """``invariants``: each named invariant holds (:mod:`scenarios.verdict.invariants`,
    the very definitions and words ``smtp-hil explore`` judges by)."""
    names = result.scenario.expect.invariants
    if not names:
        return None
    return "; ".join(check_invariant_names(result, names).lines()) or None


def check_server(result: RunRecord) -> str | None:
    return server_problem(result.scenario.expect.server, result.server_side, result.mailbox)


CHECKS: tuple[Check, ...] = (check_firmware, check_event, check_recipients, check_events_include,
                             check_mailbox_count, check_body, check_headers, check_date,
                             check_time, check_pool, check_invariants, check_server)


def judge(result: RunRecord) -> Verdict:
    reasons = [r for r in (check(result) for check in CHECKS) if r]
    return Verdict(passed=not reasons, reasons=reasons)

