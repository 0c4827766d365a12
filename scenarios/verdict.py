"""Judges a run against its scenario's ``[expect]``: pass, or fail with plain reasons.

Each expectation is one small check returning a sentence when it does not hold, e.g.
"server received 57 of 412 body bytes: the body was cut at the first blank line" or
"no terminal event 3600 s after the last server reply (550 5.1.0 ...): the job hangs".
The checks read only the run's observables: the client's events, the server's mailbox
and observations, the board's pool and watchdog statistics, and virtual time.

This module knows the result and the expectations; it runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.units import format_us
from scenarios.bodies import body_difference, expected_text_body, received_text_body
from scenarios.datecheck import composition, date_difference, rtc_reading
from scenarios.verdict_firmware import check_firmware, firmware_stopped
from smtp.events import ClientError, ClientEvent, RecipientRejected
from smtp.message import MailJob
from stack.tcp import TX_PURPOSE

if TYPE_CHECKING:
    from scenarios.runner import RunResult
    from scenarios.server.mailbox import Observations


@dataclass
class Verdict:
    """``passed`` with the reasons it did not (empty when it passed)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def pending(cls) -> Verdict:
        return cls(False, ["not judged yet"])

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "as expected"


Check = Callable[["RunResult"], str | None]


def _event_text(event: ClientEvent) -> str:
    from smtp.events import describe

    return describe(event)


def _last_server_reply(result: RunResult) -> tuple[int, str] | None:
    records = [r for r in result.world.kernel.trace.records
               if r.source.startswith("server.") and r.kind == "tx"]
    if not records:
        return None
    rec = records[-1]
    data = rec.fields.get("data")
    text = data.decode("latin-1").strip() if isinstance(data, bytes) else "?"
    return rec.t_us, text.splitlines()[-1] if text else text


def check_event(result: RunResult) -> str | None:
    expect = result.scenario.expect
    if result.terminal is None and firmware_stopped(result):
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
        return f"expected {expect.event}, got {_event_text(event)}"
    if expect.command is not None:
        command = getattr(event, "command", None)
        if not isinstance(command, str) or command.lower() != expect.command.lower():
            return f"expected {expect.event} on {expect.command}, got {_event_text(event)}"
    if expect.reply_code is not None:
        reply = getattr(event, "reply", None)
        code = getattr(reply, "code", None)
        if code != expect.reply_code:
            return f"expected reply {expect.reply_code}, got {_event_text(event)}"
    if expect.error_kind is not None:
        kind = event.kind.value if isinstance(event, ClientError) else None
        if kind != expect.error_kind:
            return f"expected error {expect.error_kind}, got {_event_text(event)}"
    return None


def check_recipients(result: RunResult) -> str | None:
    wanted = result.scenario.expect.recipients_rejected
    if wanted is None:
        return None
    got = [e.event.address for e in result.events if isinstance(e.event, RecipientRejected)]
    if sorted(got) != sorted(wanted):
        return f"expected rejected recipients {wanted}, the client reported {got}"
    return None


def check_events_include(result: RunResult) -> str | None:
    wanted = result.scenario.expect.events_include
    seen = [e.event.name for e in result.events]
    missing = [name for name in wanted if name not in seen]
    if not missing:
        return None
    return (f"expected event(s) {', '.join(missing)}, the client reported "
            f"{', '.join(seen) or 'none'}")


def check_mailbox_count(result: RunResult) -> str | None:
    wanted = result.scenario.expect.mailbox_count
    if wanted is None or len(result.mailbox) == wanted:
        return None
    return f"expected {wanted} mail(s) in the server's mailbox, found {len(result.mailbox)}"


def check_body(result: RunResult) -> str | None:
    if not result.scenario.expect.body_exact:
        return None
    job = result.scenario.to_job()
    if not isinstance(job, MailJob):
        return None
    if not result.mailbox:
        return "body_exact: the server received no mail"
    mail = result.mailbox[0]
    why = body_difference(expected_text_body(job.body, mail), received_text_body(mail))
    if why is not None:
        return why
    message = mail.message
    attachments = list(message.iter_attachments()) if message.is_multipart() else []
    sent = [b"".join(a.iter_content()) for a in job.attachments]
    for want, part in zip(sent, attachments, strict=False):
        data = part.get_payload(decode=True)
        if data != want:
            name = part.get_filename()
            got_len = len(data) if isinstance(data, bytes) else 0
            return (f"attachment {name}: server received {got_len} bytes differing from "
                    f"the {len(want)} sent")
    if len(attachments) != len(sent):
        return (f"expected {len(sent)} attachment(s), "
                f"the server received {len(attachments)}")
    return None


def check_headers(result: RunResult) -> str | None:
    expect = result.scenario.expect
    if not (expect.headers_present or expect.headers_absent or expect.headers_match):
        return None
    if not result.mailbox:
        return "headers: the server received no mail"
    mail = result.mailbox[0]
    missing = [h for h in expect.headers_present if mail.header(h) is None]
    extra = [h for h in expect.headers_absent if mail.header(h) is not None]
    problems = []
    if missing:
        problems.append(f"header(s) missing: {', '.join(missing)}")
    if extra:
        problems.append(f"header(s) that must not be there: {', '.join(extra)}")
    for header, pattern in expect.headers_match.items():
        value = mail.header(header)
        if value is None or not re.search(pattern, value):
            problems.append(f"{header} is {value!r}, which does not match {pattern!r}")
    return "; ".join(problems) or None


def check_date(result: RunResult) -> str | None:
    if not result.scenario.expect.date_matches_rtc:
        return None
    if not result.mailbox:
        return "date: the server received no mail"
    mail = result.mailbox[0]
    board = result.world.board.name
    records = [r for r in result.world.kernel.trace.records
               if r.source == board or r.source.startswith(board + ".")]
    composed = composition(records, mail.header("Message-ID"))
    if composed is None:
        return "the client left no record of building the message: its Date cannot be judged"
    return date_difference(mail.header("Date"), rtc_reading(composed))


def check_time(result: RunResult) -> str | None:
    limit = result.scenario.expect.max_virtual_us
    if limit is None or result.terminal is None:
        return None
    if result.terminal.t_us > limit:
        return (f"the job took {format_us(result.terminal.t_us)} s of virtual time, "
                f"more than the {format_us(limit)} s allowed")
    return None


def check_pool(result: RunResult) -> str | None:
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
        reasons = result.world.board.stats.reset_reasons
        problems.append(f"the watchdog reset the board: {reasons[0]}")
    return "; ".join(problems) or None


def _no_ehlo_after_tls(observations: Sequence[Observations]) -> str:
    """What the client did instead of EHLO after the TLS handshake, in plain words."""
    after_tls = [o for o in observations if o.tls_established]
    if not after_tls:
        return "no TLS session was established, so there was no EHLO after STARTTLS"
    first = next((o.first_command_after_tls for o in after_tls
                  if o.first_command_after_tls is not None), None)
    if first is None:
        return "the client closed the connection after the TLS handshake without a command"
    return f"the client's first command after the TLS handshake was {first}, not EHLO"


def check_server(result: RunResult) -> str | None:
    wanted = result.scenario.expect.server
    connections = result.connections
    problems: list[str] = []
    observations = [c.engine.observations for c in connections]

    def want(name: str, actual: bool, violation: str, unexpected: str | None = None) -> None:
        """``violation``: what went wrong when the expectation is true and fails;
        ``unexpected``: when it is false and fails (defaults to "not expected: ...")."""
        value = getattr(wanted, name)
        if value is not None and value != actual:
            problems.append(violation if value else (unexpected or f"not expected: {violation}"))

    from scenarios.server.engine import ehlo_name_acceptable

    names = [n for o in observations for n in o.ehlo_names]
    bad_names = [n for n in names if not ehlo_name_acceptable(n)]
    want("ehlo_name_valid", bool(names) and not bad_names,
         f"EHLO name(s) not a domain or address literal: {bad_names or names}")
    want("no_auth_in_plaintext", not any(o.auth_in_plaintext for o in observations),
         "the client sent AUTH in plaintext")
    after = [c for o in observations for c in o.commands_after_failed_starttls
             if c.upper() != "QUIT"]
    want("no_commands_after_failed_starttls", not after,
         f"commands after a failed STARTTLS: {after}")
    want("tls_used", any(o.tls_established for o in observations), "TLS was not used",
         "TLS was used")
    want("pipelined", any(o.pipelined for o in observations), "the client did not pipeline",
         "the client pipelined")
    ehlo_again = any(o.first_command_after_tls == "EHLO" for o in observations)
    want("ehlo_after_starttls", ehlo_again, _no_ehlo_after_tls(observations),
         "the client sent EHLO again after STARTTLS")
    bare = any(o.command_line_endings.bare_lf or o.command_line_endings.bare_cr
               or o.bare_lf_in_data or o.bare_cr_in_data for o in observations)
    want("no_bare_line_endings", not bare, "the client sent a bare CR or LF")
    stuffing = [v for o in observations for v in o.dot_stuffing_violations]
    want("dot_stuffing_correct", not stuffing, f"unstuffed lines starting with '.': {stuffing}")
    unadvertised = [u for o in observations for u in o.used_without_advertisement]
    unadvertised += ["PIPELINING" for o in observations if o.pipelined_without_advertisement]
    want("no_unadvertised_extensions", not unadvertised,
         f"extensions used without being advertised: {unadvertised}")
    logins = [(o.authenticated_user, o.auth_mechanisms[-1]) for o in observations
              if o.authenticated_user is not None and o.auth_mechanisms]
    mechanism = wanted.auth_mechanism
    if mechanism is not None and mechanism not in [m for _, m in logins]:
        seen = [m for o in observations for m in o.auth_mechanisms] or "no AUTH"
        problems.append(f"expected a successful AUTH {mechanism}, the server saw {seen}")
    user = wanted.authenticated_as
    if user is not None and not any(u == user and m != "ANONYMOUS" for u, m in logins):
        seen = ", ".join(f"{u} ({m})" for u, m in logins)
        problems.append(f"expected a login as {user} with the configured credentials, "
                        + (f"the server saw a login as {seen}" if seen
                           else "the client did not log in"))
    if wanted.envelope_recipients is not None or wanted.via is not None:
        mails = result.mailbox
        if not mails:
            problems.append("the server accepted no mail to look at its envelope")
        else:
            first = mails[0]
            got = first.recipient_addresses
            if wanted.envelope_recipients is not None and got != wanted.envelope_recipients:
                problems.append(f"expected envelope recipients {wanted.envelope_recipients}, "
                                f"the server got {got}")
            if wanted.via is not None and first.via != wanted.via:
                problems.append(f"expected the content via {wanted.via}, it came via "
                                f"{first.via}")
    if wanted.commands is not None:
        seen = [verb for o in observations for verb in o.commands]
        if seen != wanted.commands:
            problems.append(f"expected the commands {', '.join(wanted.commands)}; the server "
                            f"received {', '.join(v or '(empty line)' for v in seen)}")
    open_connections = sum(not c.engine.closed for c in connections)
    want("connections_closed", not open_connections,
         f"{open_connections} connection(s) still open at the end of the run")
    if wanted.mail_count is not None:
        count = sum(o.mail_count for o in observations)
        if count != wanted.mail_count:
            problems.append(f"expected the server to receive {wanted.mail_count} mail(s), "
                            f"it received {count}")
    return "; ".join(problems) or None


CHECKS: tuple[Check, ...] = (check_firmware, check_event, check_recipients, check_events_include,
                             check_mailbox_count, check_body, check_headers, check_date,
                             check_time, check_pool, check_server)


def judge(result: RunResult) -> Verdict:
    reasons = [r for r in (check(result) for check in CHECKS) if r]
    return Verdict(passed=not reasons, reasons=reasons)

