"""The server-side verdict: what a scripted server can judge alone, facing a real client.

Against a real client (a program, a board, an emulator) there is no simulated device to
ask for its events, RTC, buffer pool or watchdog: only what the scripted server saw. So
each expectation of the scenario is either judged from the server's engines (its mailbox
and observations) or reported as "not observable", never as passed. Which is which comes
from :data:`scenarios.format.SERVER_OBSERVABLE`. The judging itself is
:mod:`scenarios.verdict.serverchecks`' (the same words as the run's verdict), one
expectation at a time so that each gets its own line.

Besides the scenario's expectations the verdict lists notes: everything the server
noticed that a careful client would not do (bare line endings, unstuffed dots, RFC 2920
group rules broken, an EHLO name that is not a domain, a Date header that does not parse
or is far from the server's clock, AUTH outside TLS,
commands after a refused STARTTLS, plaintext sent after STARTTLS, SMTP-smuggling
shapes), and, when the scenario's device wants TLS (``security`` ``starttls`` or
``required``), a mail sent in plaintext because STARTTLS was not offered or was refused.
Notes inform; they do not fail a verdict unless the scenario expects the same thing.

This module knows the scenario's expectations and the engine's records; it reads no
clock (``now`` comes from the caller) and runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias

from scenarios.format import SERVER_OBSERVABLE, Expect, Scenario, ServerExpect
from scenarios.record import ServerSide
from scenarios.server.authmask import hide_credentials
from scenarios.server.engine import ServerEngine
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.server.names import ehlo_name_acceptable
from scenarios.server.spool import MailContent
from scenarios.verdict.serverchecks import (
    body_problem,
    headers_problem,
    mailbox_count_problem,
    server_problem,
)
from smtp.rtcdate import parse_date_header

Status: TypeAlias = Literal["pass", "fail", "not observable"]
DATE_TOLERANCE: Final = timedelta(hours=24)
"""A Date header further than this from the server's clock gets a note."""

WHY_NOT_OBSERVABLE: Final[dict[str, str]] = {
    "event": "the client's own outcome",
    "command": "the command the client's event names",
    "reply_code": "the reply the client's event carries",
    "error_kind": "the kind of error the client reports",
    "recipients_rejected": "what the client reports as rejected",
    "events_include": "the client's own events",
    "date_matches_rtc": "needs the device's RTC",
    "max_virtual_s": "virtual time exists in the simulation only",
    "pool_never_exhausted": "the device's buffer pool",
    "tx_allocations_never_failed": "the device's buffer pool",
    "pool_returns_to_full": "the device's buffer pool",
    "no_watchdog_reset": "the device's watchdog",
}


@dataclass(frozen=True)
class CheckResult:
    """One expectation (dotted name as in ``Expect.checks()``) and what became of it."""

    name: str
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class ServerVerdict:
    """The checks, in the scenario's order, and the notes; passed when none failed."""

    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [c.detail for c in self.checks if c.status == "fail"]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "as expected"

    def not_observable(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "not observable"]

    def replace(self, name: str, check: CheckResult) -> None:
        """Put ``check`` in place of the check called ``name`` (appended if absent)."""
        for i, existing in enumerate(self.checks):
            if existing.name == name:
                self.checks[i] = check
                return
        self.checks.append(check)

    def as_dict(self) -> dict[str, object]:
        return {"verdict": "pass" if self.passed else "fail", "reasons": self.reasons,
                "checks": [c.as_dict() for c in self.checks], "notes": list(self.notes)}


def _only(scenario: Scenario, name: str, value: object) -> Expect:
    """``scenario``'s expectations with ``name`` as the only one (besides the event)."""
    if name.startswith("server."):
        return Expect(event=scenario.expect.event,
                      server=ServerExpect.model_validate({name[len("server."):]: value}))
    return Expect.model_validate({"event": scenario.expect.event, name: value})


def _judge_one(scenario: Scenario, side: ServerSide, name: str, value: object) -> str | None:
    expect = _only(scenario, name, value)
    if name == "mailbox_count":
        return mailbox_count_problem(expect, side.mailbox)
    if name == "body_exact":
        return body_problem(expect, scenario.to_job(), side.mailbox)
    if name in ("headers_present", "headers_absent", "headers_match"):
        return headers_problem(expect, side.mailbox)
    return server_problem(expect.server, side, side.mailbox)


def _passed_detail(name: str, value: object, engines: Sequence[ServerEngine]) -> str:
    if name == "mailbox_count":
        return f"{len([m for e in engines for m in e.mailbox])} mail(s) in the mailbox"
    return f"{name} = {value!r} holds"


def content_check(engines: Sequence[ServerEngine], message: bytes) -> CheckResult:
    """The first mail's content is byte for byte the ``message`` the client was given
    (with the CRLF a client adds before the final dot when the message lacks it)."""
    mails = [m for e in engines for m in e.mailbox]
    if not mails:
        return CheckResult("content_exact", "fail", "content_exact: the server received no mail")
    got = mails[0].stored
    if mails[0].via == "DATA" and message and not message.endswith(b"\r\n"):
        # RFC 5321 4.1.1.4: a client ends the content with CRLF before the final dot; one
        # that adds the missing CRLF is right (body_exact's rule, scenarios/verdict/bodies).
        message += b"\r\n"
    at = first_difference(got, message)
    if at is None:
        return CheckResult("content_exact", "pass",
                           f"the content is the {len(message)}-byte message, byte for byte")
    shown = got.read(at, at + 24)
    return CheckResult("content_exact", "fail",
                       f"the content differs from the message given to the client at byte {at} "
                       f"({len(got)} bytes received, {len(message)} given): "
                       f"received {shown!r}, given {message[at:at + 24]!r}")


def first_difference(got: MailContent, message: bytes) -> int | None:
    """Where ``got`` first differs from ``message`` (the shorter one's length when one
    is the start of the other), or None when they are the same bytes; ``got`` is read
    block by block."""
    at = 0
    for block in got.blocks():
        if block != message[at:at + len(block)]:
            wanted = message[at:at + len(block)]
            return at + next((i for i, (a, b) in enumerate(zip(block, wanted, strict=False))
                              if a != b), min(len(block), len(wanted)))
        at += len(block)
    return None if at == len(message) else at


def judge_server(scenario: Scenario, engines: Sequence[ServerEngine], *,
                 message: bytes | None = None, now: datetime | None = None) -> ServerVerdict:
    """Judge ``scenario``'s expectations from the server's ``engines`` (its connections).

    ``message``: the exact message the client was asked to send; with ``body_exact``
    the content must then equal it byte for byte (``content_exact``). ``now``: the
    server's clock, for the note on Date headers far from it.
    """
    verdict = ServerVerdict()
    side = ServerSide.of(engines)
    for name, value in scenario.expect.checks().items():
        if not SERVER_OBSERVABLE.get(name, False):
            why = WHY_NOT_OBSERVABLE.get(name, "client side")
            verdict.checks.append(CheckResult(name, "not observable", why))
            continue
        problem = _judge_one(scenario, side, name, value)
        if problem is None:
            verdict.checks.append(CheckResult(name, "pass", _passed_detail(name, value, engines)))
        else:
            verdict.checks.append(CheckResult(name, "fail", problem))
        if name == "body_exact" and value and message is not None:
            verdict.checks.append(content_check(engines, message))
    verdict.notes = observation_notes([e.observations for e in engines],
                                      [m for e in engines for m in e.mailbox], now=now)
    security = scenario.device_config(DEVICE_CONFIG_HOST).server.security
    if security in ("starttls", "required"):
        verdict.notes += downgrade_notes([e.observations for e in engines])
    return verdict


#: Any host will do: only the configuration's security mode is read.
DEVICE_CONFIG_HOST: Final = "127.0.0.1"
_DOWNGRADE_NOTES: Final = {
    "starttls_not_offered": "STARTTLS was not offered and the client went on in plaintext "
                            "(MAIL FROM without TLS)",
    "starttls_refused": "STARTTLS was refused or failed and the client went on in "
                        "plaintext (MAIL FROM without TLS)",
}


def downgrade_notes(observations: Sequence[Observations]) -> list[str]:
    """For a scenario whose device wants TLS: a session that sent its mail in plaintext
    because STARTTLS was not offered, or refused (one note per reason)."""
    reasons = dict.fromkeys(o.plaintext_mail for o in observations)
    return [_DOWNGRADE_NOTES[r] for r in reasons if r in _DOWNGRADE_NOTES]


def observation_notes(observations: Sequence[Observations], mails: Sequence[ReceivedMail],
                      *, now: datetime | None = None) -> list[str]:
    """What the server noticed that a careful client would not do, one sentence each."""
    notes: list[str] = []
    names = [n for o in observations for n in o.ehlo_names]
    bad = sorted({n for n in names if not ehlo_name_acceptable(n)})
    if bad:
        notes.append(f"EHLO/HELO name(s) not a domain or address literal: {bad}")
    if any(o.helo_used for o in observations):
        notes.append("the client used HELO, not EHLO")
    for label, attr in (("commands", "command_line_endings"), ("content", "data_line_endings")):
        bare_lf = sum(getattr(o, attr).bare_lf for o in observations)
        bare_cr = sum(getattr(o, attr).bare_cr for o in observations)
        if bare_lf or bare_cr:
            notes.append(f"bare line endings in {label}: {bare_lf} bare LF, {bare_cr} bare CR")
    unstuffed = [v for o in observations for v in o.dot_stuffing_violations]
    if unstuffed:
        notes.append(f"lines starting with '.' not dot-stuffed: {unstuffed[:3]}")
    lookalikes = [v for o in observations for v in o.eod_lookalikes]
    if lookalikes:
        notes.append(f"end-of-data look-alikes in the content (SMTP smuggling shapes): "
                     f"{lookalikes[:3]}")
    violations = [v for o in observations for v in o.pipelining_violations]
    if violations:
        notes.append(f"RFC 2920 pipelining rules broken: {violations}")
    unadvertised = sorted({u for o in observations for u in o.used_without_advertisement})
    if unadvertised:
        notes.append(f"extensions used without being advertised: {unadvertised}")
    outside = list(dict.fromkeys(m for o in observations for m in o.auth_outside_tls))
    if outside:
        notes.append(f"AUTH {', '.join(m or '(no mechanism)' for m in outside)} sent outside "
                     f"TLS: {_exposed(outside)}")
    after = [c for o in observations for c in o.commands_after_failed_starttls if c != "QUIT"]
    if after:
        notes.append(f"commands after a refused or failed STARTTLS: {after}")
    injected = b"".join(o.plaintext_after_starttls for o in observations)
    if injected:
        notes.append(f"{len(injected)} plaintext byte(s) sent after STARTTLS, before TLS "
                     f"(discarded): {hide_credentials(injected[:40])!r}")
    failures = [o.tls_failure for o in observations if o.tls_failure]
    if failures:
        notes.append(f"TLS handshake failed: {failures[0]}")
    unknown = [c for o in observations for c in o.unknown_commands]
    if unknown:
        notes.append(f"unknown commands: {unknown}")
    too_long = sum(o.lines_too_long for o in observations)
    if too_long:
        notes.append(f"{too_long} command line(s) over the server's limit")
    data_too_long = sum(o.data_lines_too_long for o in observations)
    if data_too_long:
        notes.append(f"{data_too_long} content line(s) over 1000 octets (RFC 5321 4.5.3.1.6)")
    notes.extend(_date_notes(mails, now))
    return notes


_EXPOSED: Final = {
    "PLAIN": "the user name and password crossed the wire in plaintext",
    "LOGIN": "the user name and password crossed the wire in plaintext",
    "XOAUTH2": "the bearer token crossed the wire in plaintext",
    "CRAM-MD5": "the user name and a CRAM-MD5 digest of the password crossed the wire in "
                "plaintext (not the password itself, but a dictionary attack recovers it "
                "offline)",
    "ANONYMOUS": "only an anonymous trace string crossed the wire (no secret)",
}


def _exposed(mechanisms: Sequence[str]) -> str:
    """What AUTH outside TLS gave away, in plain words."""
    said = list(dict.fromkeys(_EXPOSED.get(m, "an AUTH exchange crossed the wire in "
                                              "plaintext") for m in mechanisms))
    return "; ".join(said)


def _date_notes(mails: Sequence[ReceivedMail], now: datetime | None) -> list[str]:
    notes: list[str] = []
    for index, mail in enumerate(mails, 1):
        value = mail.date_header
        if value is None:
            notes.append(f"mail {index} has no Date header")
            continue
        parsed = parse_date_header(value)
        if parsed is None:
            notes.append(f"mail {index}: Date header {value!r} does not parse")
            continue
        if now is not None:
            aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            ref = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            if abs(aware - ref) > DATE_TOLERANCE:
                notes.append(f"mail {index}: Date header {value!r} is "
                             f"{abs(aware - ref).total_seconds() / 3600:.1f} h from the "
                             f"server's clock")
    return notes


def summary(engines: Sequence[ServerEngine]) -> dict[str, object]:
    """What the server saw, in short: commands, EHLO names, TLS, mails."""
    obs = [e.observations for e in engines]
    return {
        "connections": len(engines),
        "commands": [c for o in obs for c in o.commands],
        "ehlo_names": [n for o in obs for n in o.ehlo_names],
        "pipelined": any(o.pipelined for o in obs),
        "tls": [f"{o.tls_version} {o.tls_cipher}" for o in obs if o.tls_established],
        "authenticated_user": next((o.authenticated_user for o in obs
                                    if o.authenticated_user), None),
        "mails": [{"sender": m.sender, "recipients": m.recipient_addresses,
                   "size": m.size, "via": m.via, "tls": m.tls}
                  for e in engines for m in e.mailbox],
        "close_reasons": [o.close_reason for o in obs],
    }
