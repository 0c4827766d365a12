"""``[expect]``: what a correct client does, and ``[expect.server]``: what the scripted
server must have observed of it.

Only ``event`` is required; an omitted check is not made. :meth:`Expect.checks` lists
the checks a scenario makes by dotted name (``server.tls_used``), and
:data:`SERVER_OBSERVABLE` says which of them a scripted server can judge alone, facing a
real client (``smtp-hil serve``, ``run --dut``). The judging is the verdicts' business
(:mod:`scenarios.verdict`).

This module knows the section's keys; nothing of the other sections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field, model_validator

from scenarios.format.vocabulary import (
    STRICT,
    ErrorKindName,
    EventName,
    InvariantName,
    NonEmpty,
    ProgressEventName,
    seconds_to_us_or_none,
)
from smtp.bounds import Count, PositiveSeconds
from smtp.inputwording import Problem, problems_error

JOB_OF_EVENT: Final = {"sent": "mail", "vrfy_result": "vrfy", "etrn_result": "etrn"}
"""The job kind a terminal event needs (the others end any job)."""


class ServerExpect(BaseModel):
    """``[expect.server]``: what the scripted server must have observed. None (omitted)
    means not checked; ``true``/``false`` is what the observation must be."""

    model_config = STRICT
    ehlo_name_valid: bool | None = None
    no_auth_in_plaintext: bool | None = None
    no_commands_after_failed_starttls: bool | None = None
    tls_used: bool | None = None
    pipelined: bool | None = None
    ehlo_after_starttls: bool | None = None
    no_bare_line_endings: bool | None = None
    dot_stuffing_correct: bool | None = None
    no_unadvertised_extensions: bool | None = None
    mail_count: Count | None = None
    auth_mechanism: Literal["PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS", "XOAUTH2"] | None = None
    """The SASL mechanism of the client's successful AUTH."""
    authenticated_as: NonEmpty | None = None
    """The user (a key of ``server.credentials``) the client logged in as with its
    credentials: a successful AUTH with a mechanism other than ANONYMOUS."""
    envelope_recipients: list[str] | None = None
    """The RCPT TO addresses of the first mail the server accepted, in order."""
    via: Literal["DATA", "BDAT"] | None = None
    """How the first accepted mail's content came: DATA or CHUNKING's BDAT."""
    commands: list[str] | None = None
    """The verb of every command line the server received, in order (upper-case)."""
    connections_closed: bool | None = None
    """Every connection was over by the end of the run (closed by either side)."""
    commands_absent: list[Annotated[str, Field(pattern=r"^[A-Za-z]+$")]] | None = None
    """Verbs the client must never send, on any connection, at any time (``AUTH``,
    ``MAIL``): fail-closed checks that do not pin the exact command list, which differs
    between correct clients."""
    no_unknown_commands: bool | None = None
    """Every command line the server read was a verb it knows (message data sent as
    commands after an unexpected 354 shows up here)."""
    no_long_lines: bool | None = None
    """No content line over 1000 octets including CRLF (RFC 5321 4.5.3.1.6)."""
    reply_abandoned: bool | None = None
    """A generated reply (``[server.rules.generate]``) was not all sent: the client
    closed or reset the connection first instead of reading it to the end."""


_COMMAND_EVENTS: Final = ("command_abort", "timeout")
_LIST_CHECKS: Final = frozenset({"headers_present", "headers_absent", "headers_match",
                                 "events_include", "invariants"})
_NOT_FROM_ONE_RUN: Final = frozenset({"run.deterministic"})
"""Invariants no single run can judge (a second run in a fresh process does)."""


class Expect(BaseModel):
    """``[expect]``: what a correct client does. Only ``event`` is required; an omitted
    check (None, or an empty list) is not made."""

    model_config = STRICT
    event: EventName
    command: NonEmpty | None = None
    """For ``command_abort`` and ``timeout``: the command, compared without case."""
    reply_code: Annotated[int, Field(ge=200, le=599)] | None = None
    error_kind: ErrorKindName | None = None
    recipients_rejected: list[str] | None = None
    events_include: list[ProgressEventName] = Field(default_factory=list)
    """Progress events the client must have reported (each at least once)."""
    mailbox_count: Count | None = None
    body_exact: bool | None = None
    headers_present: list[NonEmpty] = Field(default_factory=list)
    headers_absent: list[NonEmpty] = Field(default_factory=list)
    headers_match: dict[str, str] = Field(default_factory=dict)
    """Header name -> regular expression searched in its value as the client wrote it."""
    date_matches_rtc: bool | None = None
    max_virtual_s: PositiveSeconds | None = None
    pool_never_exhausted: bool | None = None
    """No received frame was dropped for want of an IP buffer."""
    tx_allocations_never_failed: bool | None = None
    """The stack never found the pool empty when it needed a buffer to send a segment."""
    pool_returns_to_full: bool | None = None
    no_watchdog_reset: bool = True
    invariants: list[InvariantName] = Field(default_factory=list)
    """Invariants (:mod:`scenarios.verdict.invariants`) this run must keep, judged with
    the same definitions and words as ``smtp-hil explore`` uses."""
    server: ServerExpect = Field(default_factory=ServerExpect)

    @property
    def max_virtual_us(self) -> int | None:
        return seconds_to_us_or_none(self.max_virtual_s)

    @model_validator(mode="after")
    def _check_expect(self) -> Expect:
        problems: list[Problem] = []
        if self.command is not None and self.event not in _COMMAND_EVENTS:
            problems.append((("command",), f"only used with event command_abort or timeout, "
                                           f"not {self.event}"))
        if self.error_kind is not None and self.event != "error":
            problems.append((("error_kind",), f"only used with event error, not {self.event}"))
        if self.reply_code is not None and self.event == "timeout":
            problems.append((("reply_code",), "a timeout has no reply"))
        for header, pattern in self.headers_match.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append((("headers_match", header),
                                 f"not a regular expression: {exc}"))
        problems += [(("invariants", i), f"{name} is judged by running again "
                                           f"(smtp-hil run --check-determinism), not by "
                                           f"one run's verdict")
                     for i, name in enumerate(self.invariants) if name in _NOT_FROM_ONE_RUN]
        if problems:
            raise problems_error(problems)
        return self

    def checks(self) -> dict[str, object]:
        """Every expectation this scenario makes, by dotted name (``server.tls_used``)."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            if name == "server":
                continue
            value = getattr(self, name)
            if value is None or (name in _LIST_CHECKS and not value):
                continue  # recipients_rejected = [] is a check: nobody was rejected
            out[name] = value
        for name in ServerExpect.model_fields:
            value = getattr(self.server, name)
            if value is not None:
                out[f"server.{name}"] = value
        return out

    def server_side_checks(self) -> dict[str, object]:
        """The expectations a scripted server can check on its own (real clients)."""
        return {k: v for k, v in self.checks().items() if SERVER_OBSERVABLE[k]}


SERVER_OBSERVABLE: Final[Mapping[str, bool]] = {
    "event": False,  # the client's own terminal event
    "command": False,
    "reply_code": False,  # the reply the client's event carries
    "error_kind": False,
    "recipients_rejected": False,  # what the client reports as rejected
    "events_include": False,  # the client's own events
    "mailbox_count": True,
    "body_exact": True,
    "headers_present": True,
    "headers_absent": True,
    "headers_match": True,
    "date_matches_rtc": False,  # needs the device's RTC
    "max_virtual_s": False,  # virtual time exists in the simulation only
    "pool_never_exhausted": False,
    "tx_allocations_never_failed": False,
    "pool_returns_to_full": False,
    "no_watchdog_reset": False,
    "invariants": False,  # they read the client's events and the device
    **{f"server.{name}": True for name in ServerExpect.model_fields},
}
"""For each expectation (dotted name): can the server side alone check it? A later
feature runs scenarios against real clients, where only those checks apply."""
