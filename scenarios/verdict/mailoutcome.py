"""The mail invariants: what the job's outcome says about the mail the server holds.

A *copy* is a mail the server received whose Message-ID is one the client composed (its
``message_composed`` trace records): an empty message a confused server stores is not a
copy. (A C firmware records no composition: there every mail counts.) Judged against the
**job** (not the bytes the client built: a client that builds an already cut body must
not pass), with the two changes a correct client makes
(:mod:`scenarios.verdict.bodies`):

- ``mail.sent_means_one_exact_copy``: ``sent`` means the server holds exactly one copy,
  its body and attachments exact, its envelope the recipients the event says were
  accepted, and accepted plus rejected the job's envelope recipients;
- ``mail.failure_means_no_copy``: any other terminal event means no copy, except in the
  *third outcome* (Jepsen's ``:info``): the server stored the mail and the client never
  read the server's reply to the content (the connection ended, or the time ran out,
  in between): a note, never a failure. The client read the reply when it took as many
  replies on that connection (its ``matched`` trace records) as the server had written
  up to and including that one (the server's reply ledger, :mod:`scenarios.server.
  ledger`). A client that read the 250 and still reports a failure is broken: a retry
  would deliver the mail twice;
- ``mail.date_is_rtc``: each copy's Date names the RTC reading its composition record
  holds, to the second, with the right weekday (:mod:`scenarios.verdict.datecheck`);
- ``mail.headers_as_job``: each copy's From, To, Cc and Reply-To addresses and Subject
  are the job's, and it has no Bcc header.

Only a *consistent* server lets a client know the outcome: one that answered every
command with exactly one clean reply (none left unanswered before a later reply, none
injected, glued or doubled, nothing unsolicited during the content) and acted on each
command exactly when its reply is a success by the client's table
(:mod:`smtp.replycodes`: a 251 to MAIL is not success; a 250 the server does not act on
is a lie). With any other server, copy counts and envelopes are notes
(``inconsistent_server``); body, headers and Date of a copy are still judged.

One policy this makes visible and keeps: with CHUNKING and PIPELINING, MAIL, RCPT and
``BDAT ... LAST`` leave in one group, so the content is committed before the replies
come back. A server that answers MAIL with an odd 2xx (251) and then stores the mail
gets ``command_abort`` from the client (only 250 is success to MAIL), and a retry
would send the mail twice. That is the inconsistent server's doing (real servers do not
answer MAIL with 251): a note, never a failure.

This module knows the record, the server's ledger and the client's matched replies; it
runs nothing.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from emulator.trace import TraceRecord
from scenarios.format.vocabulary import InvariantName
from scenarios.record import RunRecord
from scenarios.server.ledger import ANSWER_KIND, Answer
from scenarios.server.mailbox import Observations, ReceivedMail
from scenarios.verdict.bodies import (
    attachments_difference,
    body_difference,
    expected_text_body,
    received_text_body,
)
from scenarios.verdict.datecheck import COMPOSED_KIND, date_difference, rtc_reading
from scenarios.verdict.findings import Finding, Note, Violation
from scenarios.verdict.mimeskeleton import Skeleton, skeleton
from smtp.events import Sent, describe
from smtp.message import MailJob
from smtp.replycodes import SUCCESS

MATCHED_KIND: Final = "matched"
"""The client's trace kind for a reply it took as the answer to a command."""
_AUTH_CODES: Final = frozenset({235, 334})
_KINDS_READ: Final = frozenset({"accept", ANSWER_KIND, COMPOSED_KIND, MATCHED_KIND})
"""The trace kinds :meth:`MailFacts.of` reads."""
_SERVER: Final = "server."


@dataclass(frozen=True)
class Copy:
    """A copy of the job's message: the connection it came on (0-based, in the order
    the server accepted them), its place in that connection's mailbox, the mail."""

    connection: int
    index: int
    mail: ReceivedMail


@dataclass
class MailFacts:
    """What the mail invariants read of one run (see the module docstring)."""

    job: MailJob
    composed: dict[str, TraceRecord]
    copies: list[Copy]
    ledgers: list[list[Answer]]
    accepted_at: list[int]
    matched_at: list[int]
    observations: list[Observations]
    shapes: dict[tuple[int, int], Skeleton] = field(default_factory=dict, repr=False)
    """Each copy's :func:`~scenarios.verdict.mimeskeleton.skeleton`, parsed once (on
    first use) for every invariant that reads the copy's structure or headers."""

    def shape(self, copy: Copy) -> Skeleton:
        """``copy``'s content parsed (once): its MIME tree and headers, the same as the
        email package's parse of the whole content (the bulk left out)."""
        key = (copy.connection, copy.index)
        found = self.shapes.get(key)
        if found is None:
            found = self.shapes[key] = skeleton(copy.mail.stored)
        return found

    @classmethod
    def of(cls, record: RunRecord) -> MailFacts | None:
        """None when the job is not a mail."""
        job = record.scenario.to_job()
        if not isinstance(job, MailJob):
            return None
        board = record.board_name
        composed: dict[str, TraceRecord] = {}
        sources: dict[str, int] = {}
        ledgers: list[list[Answer]] = []
        accepted_at: list[int] = []
        matched_at: list[int] = []
        for r in record.trace:
            if r.kind not in _KINDS_READ:  # most records are the data path's: skip them
                continue
            source = r.source
            if source.startswith(_SERVER):
                if r.kind == "accept":
                    sources[source] = len(ledgers)
                    ledgers.append([])
                    accepted_at.append(r.t_us)
                elif r.kind == ANSWER_KIND and source in sources:
                    ledgers[sources[source]].append(Answer.from_fields(r.fields))
            elif r.kind == COMPOSED_KIND and (source == board or source.startswith(board + ".")):
                message_id = r.fields.get("message_id")
                if isinstance(message_id, str):
                    composed[message_id] = r
            elif r.kind == MATCHED_KIND and source.startswith(board + "."):
                matched_at.append(r.t_us)
        # A firmware that records no composition (a C firmware) has every mail counted.
        copies = [Copy(number, index, mail)
                  for number, seen in enumerate(record.server_side.connections)
                  for index, mail in enumerate(seen.mailbox)
                  if not composed or mail.header("Message-ID") in composed]
        return cls(job, composed, copies, ledgers, accepted_at, matched_at,
                   record.server_side.observations)

    def server_inconsistency(self) -> str | None:
        """Why the server's answers make the outcome unknowable (the first reason), or
        None when it was consistent on every connection."""
        for number, answers in enumerate(self.ledgers):
            seen = self.observations[number] if number < len(self.observations) else None
            why = _ledger_problem(answers, seen)
            if why is not None:
                return f"connection {number + 1}: {why}"
        return None

    def read_the_content_reply(self, copy: Copy, until_us: int) -> bool | None:
        """Whether the client read the server's reply to this copy's content before
        ``until_us``: it took at least as many replies on that connection as the server
        wrote up to that one. None when the ledger does not show the answer."""
        if copy.connection >= len(self.ledgers):
            return None
        written = [a for a in self.ledgers[copy.connection] if a.replied]
        stored = [place for place, a in enumerate(written, start=1) if a.stored]
        if copy.index >= len(stored):
            return None
        start = self.accepted_at[copy.connection]
        taken = sum(1 for t in self.matched_at if start <= t <= until_us)
        return taken >= stored[copy.index]


_SUCCESS_BY_VERB: Final[dict[str, frozenset[int]]] = {str(k): v for k, v in SUCCESS.items()}
"""The client's success table by verb name (made once: it was made per ledger entry)."""


def _client_takes(verb: str, code: int | None) -> bool | None:
    """Whether the client's success table reads ``code`` as success for ``verb`` (None:
    a verb the client does not send, or no code)."""
    if code is None:
        return None
    if verb in ("AUTH", "AUTH_RESPONSE"):
        return code in _AUTH_CODES
    codes = _SUCCESS_BY_VERB.get(verb)
    return None if codes is None else code in codes


def _ledger_problem(answers: Sequence[Answer], seen: Observations | None) -> str | None:
    if seen is not None and seen.send_during_data_count:
        return "it sent unsolicited bytes during the content (send_during_data)"
    unanswered: str | None = None
    for answer in answers:
        if not answer.replied:
            unanswered = unanswered or answer.verb
            continue
        if unanswered is not None:
            return (f"it left {unanswered} unanswered and then answered {answer.verb}: every "
                    f"later reply answers another command")
        if not answer.clean:
            return f"what it wrote for {answer.verb} was not exactly one clean reply"
        taken = _client_takes(answer.verb, answer.code)
        if taken is not None and taken != answer.acted:
            did = "acted on it" if answer.acted else "did not act on it"
            return f"it answered {answer.verb} with {answer.code} and {did}"
    return None


MailJudge: TypeAlias = Callable[[RunRecord, "MailFacts | None"], list[Finding]]


def sent_means_one_exact_copy(record: RunRecord, facts: MailFacts | None) -> list[Finding]:
    name: InvariantName = "mail.sent_means_one_exact_copy"
    terminal = record.terminal
    if facts is None or terminal is None or not isinstance(terminal.event, Sent):
        return []
    event = terminal.event
    found: list[Finding] = []
    odd = facts.server_inconsistency()
    copies = facts.copies
    if len(copies) != 1:
        text = f"sent, and the server holds {len(copies)} copies of the mail"
        found.append(Note(name, "inconsistent_server", f"{text}; but {odd}") if odd
                     else Violation(name, "copies", text))
    if copies:
        mail, shape = copies[0].mail, facts.shape(copies[0])
        expected = expected_text_body(facts.job.body, mail, shape)
        got = received_text_body(mail, shape)
        why = body_difference(expected, got)
        if why is not None:
            reason = "body cut" if expected.startswith(got) else "body"
            found.append(Violation(name, reason, f"sent, but {why}"))
        why = attachments_difference(facts.job, mail, shape)
        if why is not None:
            found.append(Violation(name, "attachments", f"sent, but {why}"))
        envelope, accepted = sorted(mail.recipient_addresses), sorted(event.accepted)
        if envelope != accepted:
            text = (f"sent to {accepted} by the client's event, but the server's envelope "
                    f"is {envelope}")
            found.append(Note(name, "inconsistent_server", f"{text}; but {odd}") if odd
                         else Violation(name, "envelope", text))
    wanted = set(facts.job.envelope_recipients())
    reported = set(event.accepted) | set(event.rejected)
    if reported != wanted:
        found.append(Violation(name, "recipients",
                               f"sent, but the event accounts for {sorted(reported)} and the "
                               f"job's recipients are {sorted(wanted)}"))
    return found


def failure_means_no_copy(record: RunRecord, facts: MailFacts | None) -> list[Finding]:
    name: InvariantName = "mail.failure_means_no_copy"
    terminal = record.terminal
    if facts is None or terminal is None or isinstance(terminal.event, Sent):
        return []
    if not facts.copies:
        return []
    what = describe(terminal.event)
    odd = facts.server_inconsistency()
    if odd is not None:
        return [Note(name, "inconsistent_server",
                     f"{what}, and the server holds {len(facts.copies)} copies; but {odd}")]
    if len(facts.copies) > 1:
        return [Violation(name, "copies", f"{what}, and the server holds "
                                          f"{len(facts.copies)} copies of the mail")]
    copy = facts.copies[0]
    read = facts.read_the_content_reply(copy, terminal.t_us)
    if record.firmware != "model" or read is None:
        return [Note(name, "not_judged", f"{what}, and the server holds the mail; whether "
                                         f"the client read the reply to the content is not "
                                         f"on record")]
    if read:
        return [Violation(name, "failed but delivered",
                          f"{what}, but the server stored the mail and the client read its "
                          f"reply to the content: a retry would deliver it twice")]
    return [Note(name, "third_outcome",
                 f"{what}: the server stored the mail and its reply to the content never "
                 f"reached the client (the third outcome)")]


def date_is_rtc(record: RunRecord, facts: MailFacts | None) -> list[Finding]:
    if facts is None:
        return []
    found: list[Finding] = []
    for copy in facts.copies:
        composed = facts.composed.get(str(copy.mail.header("Message-ID")))
        if composed is None:
            found.append(Note("mail.date_is_rtc", "not_judged", "the client left no record "
                                                                "of building the message"))
            continue
        why = date_difference(copy.mail.header("Date"), rtc_reading(composed))
        if why is not None:
            found.append(Violation("mail.date_is_rtc", "date", why))
    return found


def _addresses(values: Sequence[str]) -> list[str]:
    return [address for _name, address in email.utils.getaddresses(list(values))]


def headers_as_job(record: RunRecord, facts: MailFacts | None) -> list[Finding]:
    if facts is None:
        return []
    job = facts.job
    found: list[Finding] = []
    for copy in facts.copies:
        mail = copy.mail
        problems = [f"{header} is {got}, the job says {list(want)}"
                    for header, want in (("From", (job.sender,)), ("To", job.to),
                                         ("Cc", job.cc), ("Reply-To", job.reply_to))
                    if (got := _addresses(mail.headers(header))) != list(want)]
        subject = facts.shape(copy).message["Subject"]  # as mail.message's, unparsed twice
        if (str(subject) if subject is not None else None) != job.subject:
            problems.append(f"Subject is {subject!r}, the job says {job.subject!r}")
        if mail.headers("Bcc"):
            problems.append("the mail has a Bcc header")
        if problems:
            found.append(Violation("mail.headers_as_job", "headers", "; ".join(problems)))
    return found


MAIL_INVARIANTS: Final[dict[InvariantName, MailJudge]] = {
    "mail.sent_means_one_exact_copy": sent_means_one_exact_copy,
    "mail.failure_means_no_copy": failure_means_no_copy,
    "mail.date_is_rtc": date_is_rtc,
    "mail.headers_as_job": headers_as_job,
}
