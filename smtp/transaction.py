"""One mail transaction of the client core: MAIL FROM to the reply after the content.

:func:`compose` builds the message as the session's release would (the job as that
release sends it, its Date header and Message-ID) and :class:`MailTransaction` carries it
through the server: MAIL, one RCPT per envelope recipient, then DATA and the content or
BDAT chunks (RFC 3030). With PIPELINING (RFC 2920) MAIL, every RCPT and DATA (or the
first BDAT) go out as one group and the replies are judged when the last one arrives;
without it, one command at a time. Every transaction ends its job with exactly one
terminal event (``sent``, or ``command_abort`` on the command that failed), except where
release 2.0 lost a job whose pipelined MAIL failed (``pipelined_mail_failure_is_silent``).

The transaction sees the session that runs it only through :class:`TransactionSession`, a small
public protocol :class:`~smtp.client.ClientCore` satisfies: send commands (awaiting
their replies through :mod:`smtp.expectations`), tell the application an event, end the
job, stream the content, lose the job. The profile flags read here are read nowhere else.

This module never touches sockets, clocks or random numbers (the time comes from the
porting layer's RTC).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from smtp import commands
from smtp.datastream import bdat_stream, message_size, stuffed_stream
from smtp.events import ClientError, ClientEvent, CommandAbort, ErrorKind, RecipientRejected, Sent
from smtp.expectations import Expect, Handler
from smtp.extensions import size_limit
from smtp.message import MailJob, MessageBuilder, MessageInputError, truncate_at_first_blank_line
from smtp.outputs import MessageComposed, Output
from smtp.phases import CloseMode
from smtp.profiles import Profile
from smtp.replies import Reply
from smtp.replycodes import accepts
from smtp.rtcdate import FIXED_1_0_DATE, RtcFields, format_date_header, format_date_header_2_3
from smtp.settings import ClientSettings, Porting


class TransactionSession(Protocol):
    """What a mail transaction needs from the session that runs it."""

    @property
    def settings(self) -> ClientSettings: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def porting(self) -> Porting: ...

    @property
    def extensions(self) -> dict[str, str]:
        """What the server's EHLO reply offered (name -> parameters)."""
        ...

    def send(self, data: bytes, label: str, *expects: Expect,
             content: bool = False) -> list[Output]:
        """Write ``data`` (``content``: it carries message content, a BDAT chunk) and
        await one reply per expectation, in order."""
        ...

    def notify(self, event: ClientEvent) -> list[Output]:
        """Tell the application ``event`` (not terminal)."""
        ...

    def end_job(self, event: ClientEvent, *, rset: bool,
                close: CloseMode | None = None) -> list[Output]:
        """End the job with ``event``; then RSET (``rset``) and go on with the next job,
        or end the session (``close``)."""
        ...

    def stream_content(self, chunks: Iterator[bytes], on_reply: Handler) -> list[Output]:
        """354 to DATA: stream ``chunks`` (dot-stuffed and terminated); ``on_reply``
        handles the reply after the content."""
        ...

    def quit_after_data(self) -> list[Output]:
        """The end of the mail data is out: QUIT right behind it, when the session
        pipelines QUIT (else nothing)."""
        ...

    def lose_job(self) -> list[Output]:
        """Drop the job without any event (release 2.0's bug): the session goes silent."""
        ...


def offers(session: TransactionSession, extension: str) -> bool:
    """Whether the server offers ``extension`` and this release knows it (2.0 on)."""
    return session.profile.has_2_0_features and extension in session.extensions


# ---- composing the message -----------------------------------------------------------------

def historical_job(job: MailJob, profile: Profile) -> MailJob:
    """The job as an older release would have sent it."""
    if not profile.has_2_0_features:
        # 1.0: no Cc/Bcc/Reply-To, attachments or DSN ("Added new recipients CC, BCC,
        # REPLY-TO", "Added sending of attachments", "Added delivery status
        # notification" all came with 2.0).
        job = dataclasses.replace(job, cc=(), bcc=(), reply_to=(), attachments=(),
                                  dsn_notify=None, dsn_ret=None, dsn_envid=None,
                                  dsn_orcpt=False)
    if profile.truncates_body_at_blank_line:
        body = job.body.encode("utf-8") if isinstance(job.body, str) else bytes(job.body)
        job = dataclasses.replace(job, body=truncate_at_first_blank_line(body))
    return job


def date_header(now: RtcFields, profile: Profile) -> str:
    if not profile.has_2_0_features:
        return FIXED_1_0_DATE
    if profile.misconverts_date_month_day:
        return format_date_header_2_3(now)
    return format_date_header(now)


def message_id_domain(session: TransactionSession) -> str:
    if session.profile.ignores_template_hostname:
        return "localhost"
    porting = session.porting
    return porting.host_domain() or session.settings.device_domain \
        or porting.template_hostname()


@dataclass(frozen=True, slots=True)
class Composed:
    """A message built for one job: the job as sent, its builder, the RTC reading."""

    job: MailJob
    builder: MessageBuilder
    rtc: RtcFields


def compose(session: TransactionSession, original: MailJob,
            message_seq: int) -> Composed | ClientError:
    """Build the message of ``original`` (number ``message_seq``), or say why not."""
    job = historical_job(original, session.profile)
    eight_bit_ok = offers(session, "8BITMIME") and session.settings.eight_bit_mime
    now = session.porting.rtc_get()
    try:
        builder = MessageBuilder(job, date_header=date_header(now, session.profile),
                                 message_id_domain=message_id_domain(session),
                                 message_id_seq=message_seq, boundary_seed=message_seq,
                                 eight_bit_ok=eight_bit_ok)
    except MessageInputError as exc:
        return ClientError(ErrorKind.INVALID_INPUT, str(exc))
    return Composed(job, builder, now)


# ---- the transaction -------------------------------------------------------------------

@dataclass(slots=True)
class _Replies:
    """What the server said so far."""

    mail: Reply | None = None
    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str, Reply]] = field(default_factory=list)


class MailTransaction:
    """One composed message on its way through ``session``."""

    def __init__(self, session: TransactionSession, composed: Composed) -> None:
        self.session = session
        self.job = composed.job
        self.builder = composed.builder
        self.rtc = composed.rtc
        self.recipients = composed.job.envelope_recipients()
        settings = session.settings
        self.chunking = offers(session, "CHUNKING") and settings.chunking
        self.dsn = offers(session, "DSN") and settings.dsn
        self.replies = _Replies()
        self._bdat_chunks: Iterator[tuple[bytes, bool]] | None = None

    def start(self) -> list[Output]:
        """Refuse what the server cannot take, else send MAIL (and, pipelined, the rest)."""
        session, settings, builder, job = self.session, self.session.settings, self.builder, \
            self.job
        composed = MessageComposed(builder.message_id, builder.date_header, self.rtc)
        smtputf8 = builder.needs_smtputf8
        if smtputf8 and not (offers(session, "SMTPUTF8") and settings.smtputf8):
            return session.end_job(ClientError(
                ErrorKind.UNSUPPORTED, "an address needs SMTPUTF8, which the server does not offer"
            ), rset=False)
        size: int | None = None
        if offers(session, "SIZE") and settings.size:
            size = message_size(builder.chunks(), for_data=not self.chunking)
            limit = size_limit(session.extensions["SIZE"])
            if limit and size > limit:
                return session.end_job(ClientError(
                    ErrorKind.SIZE_EXCEEDED,
                    f"message is {size} octets, the server accepts at most {limit}"), rset=False)
        mail = commands.mail_from(
            job.sender, size=size,
            body="8BITMIME" if builder.needs_8bitmime else None,
            smtputf8=smtputf8,
            ret=job.dsn_ret if self.dsn else None,
            envid=job.dsn_envid if self.dsn else None)
        if offers(session, "PIPELINING") and settings.pipelining:
            return [composed, *self._send_pipelined_group(mail)]
        return [composed, *session.send(mail, "MAIL", Expect("MAIL", "mail", self._on_mail))]

    def _rcpt(self, address: str) -> bytes:
        job, dsn = self.job, self.dsn
        return commands.rcpt_to(address, notify=job.dsn_notify if dsn else None,
                                orcpt=address if (dsn and job.dsn_orcpt) else None)

    def _sent(self, reply: Reply) -> list[Output]:
        replies = self.replies
        event = Sent(reply, tuple(replies.accepted), tuple(a for a, _ in replies.rejected))
        return self.session.end_job(event, rset=False)

    def _abort(self, event: ClientEvent, *, rset: bool = True) -> list[Output]:
        return self.session.end_job(event, rset=rset)

    # -- pipelined (RFC 2920): MAIL, every RCPT and DATA/first BDAT in one group
    def _send_pipelined_group(self, mail: bytes) -> list[Output]:
        data = mail + b"".join(self._rcpt(address) for address in self.recipients)
        expects = [Expect("MAIL", "mail", self._record_mail)]
        expects += [Expect("RCPT", "rcpt", self._record_rcpt(a)) for a in self.recipients]
        if self.chunking:
            chunk, last = self._next_bdat()
            data += commands.bdat(len(chunk), last) + chunk
            expects.append(Expect("BDAT", "bdat", self._on_group_bdat(last)))
        else:
            data += commands.data()
            expects.append(Expect("DATA", "data_init", self._on_group_data))
        return self.session.send(data, "MAIL group", *expects, content=self.chunking)

    def _record_mail(self, reply: Reply) -> list[Output]:
        self.replies.mail = reply
        return []

    def _record_rcpt(self, address: str) -> Handler:
        def handler(reply: Reply) -> list[Output]:
            replies = self.replies
            if accepts("RCPT", reply):
                replies.accepted.append(address)
                return []
            replies.rejected.append((address, reply))
            mail = replies.mail
            if mail is not None and not accepts("MAIL", mail):
                return []  # refused because the pipelined MAIL failed: not the recipient
            return self.session.notify(RecipientRejected(address, reply))
        return handler

    def _group_failure(self) -> ClientEvent | None:
        """The event that ends a pipelined transaction whose MAIL or RCPTs failed."""
        replies = self.replies
        assert replies.mail is not None
        if not accepts("MAIL", replies.mail):
            return CommandAbort("MAIL", replies.mail)
        if not replies.accepted:
            return CommandAbort("RCPT", replies.rejected[-1][1])
        return None

    def _loses_failed_mail(self, failure: ClientEvent) -> bool:
        # Before 2.1: "event command_abort was not sent when mail failed".
        return (isinstance(failure, CommandAbort) and failure.command == "MAIL"
                and self.session.profile.pipelined_mail_failure_is_silent)

    def _on_group_data(self, reply: Reply) -> list[Output]:
        failure = self._group_failure()
        if failure is not None:
            if self._loses_failed_mail(failure):
                return self.session.lose_job()
            if accepts("DATA", reply):
                # RFC 2920: every RCPT failed but DATA got 354: send a lone dot.
                return self.session.send(b".\r\n", "DATA end (empty)", Expect(
                    "DATA", "data_term", lambda _reply: self._abort(failure)))
            return self._abort(failure)
        if not accepts("DATA", reply):
            return self._abort(CommandAbort("DATA", reply))
        return self._stream_content()

    def _on_group_bdat(self, last: bool) -> Handler:
        def handler(reply: Reply) -> list[Output]:
            failure = self._group_failure()
            if failure is not None:
                if self._loses_failed_mail(failure):
                    return self.session.lose_job()
                return self._abort(failure)
            return self._on_bdat(last)(reply)
        return handler

    # -- one command at a time
    def _on_mail(self, reply: Reply) -> list[Output]:
        self.replies.mail = reply
        if not accepts("MAIL", reply):
            return self._abort(CommandAbort("MAIL", reply), rset=False)
        return self._send_rcpt(0)

    def _send_rcpt(self, index: int) -> list[Output]:
        if index >= len(self.recipients):
            if not self.replies.accepted:
                return self._abort(CommandAbort("RCPT", self.replies.rejected[-1][1]))
            if self.chunking:
                return self._send_bdat_chunk()
            return self.session.send(commands.data(), "DATA",
                                     Expect("DATA", "data_init", self._on_data))
        address = self.recipients[index]
        record = self._record_rcpt(address)

        def handler(reply: Reply) -> list[Output]:
            return record(reply) + self._send_rcpt(index + 1)
        return self.session.send(self._rcpt(address), "RCPT", Expect("RCPT", "rcpt", handler))

    def _on_data(self, reply: Reply) -> list[Output]:
        if not accepts("DATA", reply):
            return self._abort(CommandAbort("DATA", reply))
        return self._stream_content()

    # -- content
    def _stream_content(self) -> list[Output]:
        return self.session.stream_content(stuffed_stream(self.builder.chunks()),
                                           self._on_data_end)

    def _on_data_end(self, reply: Reply) -> list[Output]:
        if accepts("DATA_END", reply):
            return self._sent(reply)
        return self._abort(CommandAbort("DATA", reply), rset=False)

    def _next_bdat(self) -> tuple[bytes, bool]:
        if self._bdat_chunks is None:
            self._bdat_chunks = bdat_stream(self.builder.chunks(), self.session.settings.chunk_size)
        return next(self._bdat_chunks)

    def _send_bdat_chunk(self) -> list[Output]:
        chunk, last = self._next_bdat()
        out = self.session.send(commands.bdat(len(chunk), last) + chunk, "BDAT",
                                Expect("BDAT", "bdat", self._on_bdat(last)), content=True)
        return out + self.session.quit_after_data() if last else out

    def _on_bdat(self, last: bool) -> Handler:
        def handler(reply: Reply) -> list[Output]:
            if not accepts("BDAT", reply):
                # RFC 3030: after a failed BDAT no further BDAT may be sent.
                return self._abort(CommandAbort("BDAT", reply), rset=not last)
            if last:
                return self._sent(reply)
            return self._send_bdat_chunk()
        return handler
