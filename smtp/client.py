"""The SMTP client protocol core: replies in, commands and events out. Sans-I/O.

``ClientCore`` runs one SMTP session for a queue of jobs. Its driver (the client task,
:mod:`smtp.task`) feeds it what happened (connected, bytes received, TLS up or failed,
the connection lost, the timer expired, the content handed to the socket) and carries
out what it returns: a list of :data:`Output` (send these bytes, stream this content,
start TLS, arm the per-command timer, tell the application this event, close).

Replies are matched to commands through a queue of expectations, one per command sent,
so a pipelined group (RFC 2920) and a lone command are handled by the same code. Every
job ends with exactly one terminal event (:mod:`smtp.events`).

The historical releases differ from ``current`` in small, named places: each reads one
:class:`~smtp.profiles.Profile` flag, and nowhere else is a profile consulted.

This module never touches sockets, clocks or random numbers: the time comes from the
porting layer's RTC, and timeouts are requests to the driver.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from smtp import commands
from smtp.auth import Mechanism, choose_mechanism, decode_challenge
from smtp.datastream import bdat_stream, message_size, stuffed_stream
from smtp.errors import RemoteProtocolError, SmtpInputError
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    DowngradeReason,
    ErrorKind,
    EtrnResult,
    RecipientRejected,
    Sent,
    Timeout,
    TlsDowngraded,
    TlsEstablished,
    VrfyResult,
    describe,
)
from smtp.extensions import parse_extensions, size_limit
from smtp.jobs import EtrnJob, Job, MailJob, VrfyJob
from smtp.message import MessageBuilder, MessageInputError, truncate_at_first_blank_line
from smtp.outputs import (
    ArmTimer,
    CancelTimer,
    Close,
    Log,
    MessageComposed,
    Notify,
    Output,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.phases import Phase, PhaseMachine
from smtp.profiles import Profile
from smtp.replies import Reply, ReplyParser
from smtp.replycodes import accepts
from smtp.rtcdate import FIXED_1_0_DATE, RtcFields, format_date_header, format_date_header_2_3
from smtp.settings import ClientSettings, Porting


@dataclass(slots=True)
class _Expect:
    command: str
    timer: str
    handler: Callable[[Reply], list[Output]]


@dataclass(slots=True)
class _Transaction:
    job: MailJob
    builder: MessageBuilder
    recipients: tuple[str, ...]
    chunking: bool
    mail_reply: Reply | None = None
    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str, Reply]] = field(default_factory=list)
    bdat_chunks: Iterator[tuple[bytes, bool]] | None = None


# Mechanisms each release can speak; XOAUTH2 only where the profile has it.
_MECHANISMS_2_0 = ("CRAM-MD5", "PLAIN", "LOGIN", "ANONYMOUS")
_MECHANISMS_1_0 = ("LOGIN",)
#: Phases in which the head of the expectation queue has the timer.
_AWAITING_REPLIES = frozenset({Phase.SESSION, Phase.QUITTING})
_HELO_FALLBACK_CODES = frozenset({500, 502, 504, 550})
#: Mechanisms that put the password (or a bearer token) on the wire as it is.
_SECRET_IN_CLEAR = frozenset({"PLAIN", "LOGIN", "XOAUTH2"})


class ClientCore:
    """One SMTP session working through a queue of jobs."""

    def __init__(self, settings: ClientSettings, profile: Profile, porting: Porting,
                 jobs: Sequence[Job], *, first_message_seq: int = 1) -> None:
        self.settings = settings
        self.profile = profile
        self.porting = porting
        self._phases = PhaseMachine()
        self.parser = ReplyParser()
        self.extensions: dict[str, str] = {}
        self.tls_active = False
        self.events: list[ClientEvent] = []
        self._queue: deque[Job] = deque(jobs)
        self._current: Job | None = None
        self._expect: deque[_Expect] = deque()
        self._txn: _Transaction | None = None
        self._needs_rset = False
        self._message_seq = first_message_seq
        self._mechanism: Mechanism | None = None
        self._timer_command: str | None = None
        self._timer_us = 0
        self._answerable_by_partial: int | None = None

    # ---- queries ----------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self._phases.phase

    @property
    def transitions(self) -> list[tuple[Phase, Phase]]:
        """Every phase transition so far, in order (each one checked against
        :data:`smtp.phases.TRANSITIONS`)."""
        return self._phases.transitions

    @property
    def finished(self) -> bool:
        return self._phases.phase is Phase.DONE

    @property
    def next_message_seq(self) -> int:
        return self._message_seq

    @property
    def jobs_open(self) -> int:
        return len(self._queue) + (1 if self._current is not None else 0)

    def ehlo_name(self) -> str:
        """The EHLO argument: the device's domain, else an address literal."""
        if self.profile.ehlo_uses_bare_ip:
            # Before psp_get_host_domain(): the bare address, which strict servers refuse.
            return self.porting.host_address()
        domain = self.porting.host_domain() or self.settings.device_domain
        return domain if domain else f"[{self.porting.host_address()}]"

    # ---- inputs from the driver -------------------------------------------------
    def start(self) -> list[Output]:
        """Check the jobs, then ask for a connection (or finish if nothing is left)."""
        out: list[Output] = []
        valid: deque[Job] = deque()
        for job in self._queue:
            problem = self._input_problem(job)
            if problem is None:
                valid.append(job)
            else:
                out += self._notify(ClientError(ErrorKind.INVALID_INPUT, problem))
        self._queue = valid
        if not self._queue:
            self._phases.enter(Phase.DONE)
            return out
        self._phases.enter(Phase.CONNECTING)
        return [*out, *self._arm("connect")]

    def connected(self, host: str, port: int) -> list[Output]:
        if self._phases.phase is not Phase.CONNECTING:
            return []  # too late: the connect timer fired
        out = self._notify(Connected(host, port))
        if self.settings.security == "tls" and self.profile.has_2_0_features:
            self._phases.enter(Phase.TLS_HANDSHAKE)
            return [*out, StartTls(), *self._arm("tls_handshake")]
        self._phases.enter(Phase.SESSION)
        self._expect.append(_Expect("GREETING", "greeting", self._on_greeting))
        return [*out, *self._arm_head()]

    def connect_failed(self, refused: bool, detail: str) -> list[Output]:
        if self._phases.phase is not Phase.CONNECTING:
            return []  # too late: the connect timer fired
        if not refused:
            return self.timer_expired()  # no answer: as when the connect timer fires
        return self._fail_all(ClientError(ErrorKind.CONNECTION_REFUSED, detail), close=None)

    def receive(self, data: bytes) -> list[Output]:
        """Bytes from the server (plaintext, or decrypted under TLS)."""
        phases = self._phases
        if phases.phase in (Phase.DONE, Phase.STUCK, Phase.IDLE):
            return []
        self.parser.feed(data)
        out: list[Output] = []
        # Every reply completed by these bytes was on the wire before any command sent
        # while handling them: it can only answer a command already waiting for one. A
        # reply begun in an earlier read can only answer what was waiting then.
        answerable = len(self._expect)
        if self._answerable_by_partial is not None:
            answerable = min(answerable, self._answerable_by_partial)
            self._answerable_by_partial = None
        while phases.phase not in (Phase.DONE, Phase.STUCK):
            try:
                reply = self.parser.next_reply()
            except RemoteProtocolError as exc:
                return out + self._fail_all(
                    ClientError(ErrorKind.PROTOCOL, f"malformed reply: {exc.reason}"),
                    close="abort")
            if reply is None:
                if self.parser.pending_bytes():
                    self._answerable_by_partial = answerable
                break
            if answerable == 0 and self._expect:
                return out + self._fail_all(ClientError(
                    ErrorKind.PROTOCOL,
                    f"unsolicited reply: {reply} arrived before {self._expect[0].command} "
                    "was sent", reply), close="abort")
            answerable = max(0, answerable - 1)
            out += self._dispatch(reply)
            if phases.phase is Phase.TLS_HANDSHAKE:
                break  # 220 to STARTTLS: what follows is TLS's (and was discarded)
        return out

    def tls_established(self, cipher: str, version: str) -> list[Output]:
        if self._phases.phase is not Phase.TLS_HANDSHAKE:
            return []  # too late: the job already ended (timer, connection lost)
        self.tls_active = True
        # RFC 3207 4.2: forget everything learnt before TLS.
        self.extensions = {}
        out = self._notify(TlsEstablished(cipher, version))
        self._phases.enter(Phase.SESSION)
        if self.settings.security == "tls":
            self._expect.append(_Expect("GREETING", "greeting", self._on_greeting))
            return [*out, *self._arm_head()]
        # RFC 3207 4.2: EHLO again, under its own timer like every command.
        return out + self._send_ehlo() + self._arm_head()

    def tls_failed(self, detail: str) -> list[Output]:
        if self._phases.phase is not Phase.TLS_HANDSHAKE:
            return []
        return self._fail_all(ClientError(ErrorKind.TLS_FAILED, detail), close="abort")

    def connection_lost(self, detail: str) -> list[Output]:
        if self._phases.phase in (Phase.DONE, Phase.STUCK):
            return []  # over already, or a historical release that lost track of its job
        if self._phases.phase is Phase.QUITTING:
            self._phases.enter(Phase.DONE)
            return [CancelTimer()]
        return self._fail_all(ClientError(ErrorKind.CONNECTION_LOST, detail), close=None)

    def timer_expired(self) -> list[Output]:
        command = self._timer_command or "?"
        after = self._timer_us
        self._timer_command = None
        if self._phases.phase in (Phase.DONE, Phase.STUCK):
            return []
        if self._phases.phase is Phase.QUITTING:
            self._phases.enter(Phase.DONE)
            return [Close(abort=True)]
        return self._fail_all(Timeout(command, after), close="abort")

    def content_sent(self) -> list[Output]:
        """The driver has handed the whole content to the socket."""
        if self._phases.phase is not Phase.CONTENT:
            return []
        self._phases.enter(Phase.SESSION)
        self._expect.append(_Expect("DATA", "data_term", self._on_data_end))
        return self._arm_head()

    def block_sent(self) -> list[Output]:
        """A content block was accepted by the socket: re-arm the data-block timer."""
        if self._phases.phase is Phase.CONTENT:
            return self._arm("data_block")
        return []

    # ---- plumbing ---------------------------------------------------------------
    def _dispatch(self, reply: Reply) -> list[Output]:
        if not self._expect:
            if self._phases.phase is Phase.CONTENT and not reply.is_positive_completion:
                # An early final reply while we stream the content: the server gave up.
                self._phases.enter(Phase.SESSION)
                return self._abort_transaction(CommandAbort("DATA", reply), close="abort")
            return self._fail_all(
                ClientError(ErrorKind.PROTOCOL, f"unsolicited reply: {reply}", reply),
                close="abort")
        expect = self._expect.popleft()
        if reply.code == 421 and expect.command not in ("GREETING", "QUIT"):
            # RFC 5321 3.8: the server is shutting down the channel; whatever the command,
            # the transaction is over. Report it on the command it answered.
            return self._fail_all(CommandAbort(expect.command, reply), close="abort")
        out = expect.handler(reply)
        if self._phases.phase in _AWAITING_REPLIES:
            out += self._arm_head()
        return out

    def _send(self, data: bytes, label: str, *expects: _Expect,
              content: bool = False) -> list[Output]:
        self._expect.extend(expects)
        return [SendBytes(data, label, content)]

    def _timers_enabled(self) -> bool:
        # Known issue of every historical release with TLS: "Timeout test is executed
        # only when no TLS connection is active."
        return not (self.tls_active and self.profile.no_timeout_while_tls_active)

    def _arm(self, command: str) -> list[Output]:
        if not self._timers_enabled():
            self._timer_command = None
            return [CancelTimer()]
        self._timer_command = command
        self._timer_us = self.settings.timeout_us(command)
        return [ArmTimer(command, self._timer_us)]

    def _arm_head(self) -> list[Output]:
        if self._expect:
            head = self._expect[0]
            out = self._arm(head.timer)
            if self._timer_command is not None:
                self._timer_command = head.command
            return out
        if self._phases.phase is Phase.CONTENT:
            return []
        self._timer_command = None
        return [CancelTimer()]

    def _notify(self, event: ClientEvent) -> list[Output]:
        self.events.append(event)
        return [Notify(event)]

    def _finish_job(self, event: ClientEvent) -> list[Output]:
        self._current = None
        self._txn = None
        return self._notify(event)

    def _fail_all(self, event: ClientEvent, *, close: str | None) -> list[Output]:
        """End the current job with ``event`` and every queued one; then close.

        A failure before any job started (greeting, EHLO, TLS, AUTH) or a session-wide
        one (a ClientError) is every queued job's failure too. A failure of the current
        job's own command (CommandAbort, Timeout) is not: queued jobs that were never
        attempted get a connection_lost error that says so.
        """
        out: list[Output] = []
        queued: ClientEvent = event
        if self._current is not None:
            out += self._finish_job(event)
            if not isinstance(event, ClientError):
                queued = ClientError(ErrorKind.CONNECTION_LOST,
                                     f"not attempted: the session ended ({describe(event)})")
        while self._queue:
            self._queue.popleft()
            out += self._notify(queued)
        self._expect.clear()
        if close == "quit":
            return out + self._send_quit()
        self._phases.enter(Phase.DONE)
        self._timer_command = None
        out.append(CancelTimer())
        if close is not None:
            out.append(Close(abort=(close == "abort")))
        return out

    # ---- greeting, EHLO/HELO, STARTTLS, AUTH -------------------------------------
    def _on_greeting(self, reply: Reply) -> list[Output]:
        if accepts("GREETING", reply):
            return self._send_ehlo()
        if reply.code in (421, 554):
            close = "quit" if reply.code == 554 else "abort"
            return self._fail_all(
                ClientError(ErrorKind.SERVICE_UNAVAILABLE, f"greeting {reply}", reply),
                close=close)
        return self._fail_all(ClientError(ErrorKind.PROTOCOL, f"unexpected greeting {reply}",
                                          reply), close="abort")

    def _send_ehlo(self) -> list[Output]:
        return self._send(commands.ehlo(self.ehlo_name()), "EHLO",
                          _Expect("EHLO", "ehlo", self._on_ehlo))

    def _on_ehlo(self, reply: Reply) -> list[Output]:
        if accepts("EHLO", reply):
            self.extensions = parse_extensions(reply)
            return self._after_hello()
        if reply.code == 421:
            return self._fail_all(ClientError(ErrorKind.SERVICE_UNAVAILABLE, str(reply), reply),
                                  close="abort")
        if reply.code in _HELO_FALLBACK_CODES:
            if self._tls_required_but_missing():
                return self._fail_all(ClientError(
                    ErrorKind.TLS_REQUIRED,
                    f"EHLO refused ({reply}) and TLS is required: no HELO fallback", reply),
                    close="quit")
            return self._send(commands.helo(self.ehlo_name()), "HELO",
                              _Expect("HELO", "ehlo", lambda r: self._on_helo(r, reply)))
        return self._fail_all(CommandAbort("EHLO", reply), close="quit")

    def _on_helo(self, reply: Reply, ehlo_refusal: Reply) -> list[Output]:
        if accepts("HELO", reply):
            self.extensions = {}
            return self._after_hello(ehlo_refusal)
        return self._fail_all(CommandAbort("HELO", reply), close="quit")

    def _tls_required_but_missing(self) -> bool:
        return (self.settings.security == "required" and not self.tls_active
                and self.profile.has_2_0_features)

    def _after_hello(self, ehlo_refusal: Reply | None = None) -> list[Output]:
        wants_tls = (self.settings.security in ("starttls", "required")
                     and self.profile.has_2_0_features and not self.tls_active)
        if wants_tls:
            if "STARTTLS" in self.extensions:
                return self._send(commands.starttls(), "STARTTLS",
                                  _Expect("STARTTLS", "starttls", self._on_starttls))
            if self.settings.security == "required":
                return self._fail_all(ClientError(
                    ErrorKind.TLS_REQUIRED,
                    "the server does not offer STARTTLS and the device requires TLS"),
                    close="quit")
            if not self.profile.downgrades_tls_silently:
                reason = (DowngradeReason.NOT_OFFERED if ehlo_refusal is None
                          else DowngradeReason.EHLO_REFUSED)
                return self._notify(TlsDowngraded(reason, ehlo_refusal)) + self._start_auth()
        return self._start_auth()

    def _on_starttls(self, reply: Reply) -> list[Output]:
        if not accepts("STARTTLS", reply):
            # A refused STARTTLS is a downgrade: no credentials or mail in plaintext.
            return self._fail_all(ClientError(ErrorKind.TLS_FAILED,
                                              f"STARTTLS refused: {reply}", reply), close="quit")
        out: list[Output] = []
        discarded = self.parser.discard_buffer()
        if discarded:
            out.append(Log("discarded_plaintext",
                           f"{discarded} bytes received after 220 to STARTTLS were discarded"))
        self._phases.enter(Phase.TLS_HANDSHAKE)
        self._expect.clear()
        return [*out, StartTls(), *self._arm("tls_handshake")]

    def _allowed_mechanisms(self) -> tuple[str, ...]:
        if not self.profile.has_2_0_features:
            return _MECHANISMS_1_0
        if self.profile.has_xoauth2:
            return ("XOAUTH2", *_MECHANISMS_2_0)
        return _MECHANISMS_2_0

    def _opportunistic_without_tls(self) -> bool:
        """``starttls`` mode on a connection that stayed plaintext (no STARTTLS offered)."""
        return (self.settings.security == "starttls" and not self.tls_active
                and self.profile.has_2_0_features)

    def _wants_auth(self) -> bool:
        creds = self.settings.credentials
        return bool(creds.username or creds.oauth_token or creds.anonymous_trace
                    or self.settings.mechanism)

    def _start_auth(self) -> list[Output]:
        if not self._wants_auth():
            return self._next_job()
        offered = self.extensions.get("AUTH", "").split()
        allowed = self._allowed_mechanisms()
        plaintext_only = self._opportunistic_without_tls()
        if plaintext_only:
            # STARTTLS was wanted but not offered (stripped?): no secret goes out in clear.
            allowed = tuple(m for m in allowed if m not in _SECRET_IN_CLEAR)
        try:
            mechanism = choose_mechanism(offered, self.settings.credentials,
                                         configured=self.settings.mechanism, allowed=allowed)
        except SmtpInputError as exc:
            return self._fail_all(ClientError(ErrorKind.AUTH_FAILED, str(exc)), close="quit")
        if mechanism is None:
            what = " ".join(offered) if offered else "none"
            if plaintext_only:
                return self._fail_all(ClientError(
                    ErrorKind.TLS_REQUIRED,
                    f"the server offers no STARTTLS; refusing to send credentials in "
                    f"plaintext (server offers: {what})"), close="quit")
            return self._fail_all(ClientError(
                ErrorKind.AUTH_FAILED,
                f"no usable AUTH mechanism (server offers: {what})"), close="quit")
        self._mechanism = mechanism
        return self._send(commands.auth(mechanism.name, mechanism.initial_response()),
                          f"AUTH {mechanism.name}", _Expect("AUTH", "auth", self._on_auth))

    def _on_auth(self, reply: Reply) -> list[Output]:
        mechanism = self._mechanism
        assert mechanism is not None
        if accepts("AUTH", reply):
            return self._notify(Authenticated(mechanism.name)) + self._next_job()
        if reply.code == 334:
            try:
                answer = mechanism.respond(decode_challenge(reply.text))
            except RemoteProtocolError as exc:
                return self._send(commands.auth_cancel(), "AUTH cancel",
                                  _Expect("AUTH", "auth", self._auth_cancelled(exc.reason)))
            return self._send(commands.auth_continue(answer), "AUTH response",
                              _Expect("AUTH", "auth", self._on_auth))
        return self._fail_all(ClientError(ErrorKind.AUTH_FAILED, f"{mechanism.name}: {reply}",
                                          reply), close="quit")

    def _auth_cancelled(self, reason: str) -> Callable[[Reply], list[Output]]:
        def handler(reply: Reply) -> list[Output]:
            return self._fail_all(ClientError(ErrorKind.AUTH_FAILED,
                                              f"exchange cancelled: {reason}", reply),
                                  close="quit")
        return handler

    # ---- jobs ---------------------------------------------------------------------
    def _next_job(self) -> list[Output]:
        if not self._queue:
            self._current = None
            return self._send_quit()
        if self._needs_rset:
            self._needs_rset = False
            return self._send(commands.rset(), "RSET", _Expect("RSET", "rset", self._on_rset))
        job = self._queue.popleft()
        self._current = job
        if isinstance(job, MailJob):
            return self._begin_mail(job)
        if not self.profile.has_2_0_features:
            verb = "VRFY" if isinstance(job, VrfyJob) else "ETRN"
            return self._finish_job(ClientError(
                ErrorKind.UNSUPPORTED, f"{verb} is not available in release 1.0")) \
                + self._next_job()
        if isinstance(job, VrfyJob):
            return self._send(commands.vrfy(job.address), "VRFY",
                              _Expect("VRFY", "vrfy", self._on_vrfy))
        return self._send(commands.etrn(job.node), "ETRN", _Expect("ETRN", "etrn", self._on_etrn))

    def _on_rset(self, reply: Reply) -> list[Output]:
        if not accepts("RSET", reply):
            return self._fail_all(CommandAbort("RSET", reply), close="quit")
        return self._next_job()

    def _send_quit(self) -> list[Output]:
        """Every job has ended: say goodbye; the reply (or its timer) ends the session."""
        self._phases.enter(Phase.QUITTING)
        return self._send(commands.quit(), "QUIT", _Expect("QUIT", "quit", self._on_quit))

    def _on_quit(self, reply: Reply) -> list[Output]:
        self._phases.enter(Phase.DONE)
        self._timer_command = None
        return [CancelTimer(), Close()]

    def _on_vrfy(self, reply: Reply) -> list[Output]:
        event: ClientEvent = VrfyResult(reply) if accepts("VRFY", reply) \
            else CommandAbort("VRFY", reply)
        return self._finish_job(event) + self._next_job()

    def _on_etrn(self, reply: Reply) -> list[Output]:
        event: ClientEvent = EtrnResult(reply) if accepts("ETRN", reply) \
            else CommandAbort("ETRN", reply)
        return self._finish_job(event) + self._next_job()

    # ---- the mail transaction -------------------------------------------------------
    def _historical_job(self, job: MailJob) -> MailJob:
        """The job as an older release would have sent it."""
        if not self.profile.has_2_0_features:
            # 1.0: no Cc/Bcc/Reply-To, attachments or DSN ("Added new recipients CC, BCC,
            # REPLY-TO", "Added sending of attachments", "Added delivery status
            # notification" all came with 2.0).
            job = dataclasses.replace(job, cc=(), bcc=(), reply_to=(), attachments=(),
                                      dsn_notify=None, dsn_ret=None, dsn_envid=None,
                                      dsn_orcpt=False)
        if self.profile.truncates_body_at_blank_line:
            body = job.body.encode("utf-8") if isinstance(job.body, str) else bytes(job.body)
            job = dataclasses.replace(job, body=truncate_at_first_blank_line(body))
        return job

    def _date_header(self, now: RtcFields) -> str:
        if not self.profile.has_2_0_features:
            return FIXED_1_0_DATE
        if self.profile.misconverts_date_month_day:
            return format_date_header_2_3(now)
        return format_date_header(now)

    def _message_id_domain(self) -> str:
        if self.profile.ignores_template_hostname:
            return "localhost"
        return self.porting.host_domain() or self.settings.device_domain \
            or self.porting.template_hostname()

    def _ext(self, name: str) -> bool:
        return self.profile.has_2_0_features and name in self.extensions

    def _begin_mail(self, original: MailJob) -> list[Output]:
        job = self._historical_job(original)
        eight_bit_ok = self._ext("8BITMIME") and self.settings.eight_bit_mime
        now = self.porting.rtc_get()
        try:
            builder = MessageBuilder(job, date_header=self._date_header(now),
                                     message_id_domain=self._message_id_domain(),
                                     message_id_seq=self._message_seq,
                                     boundary_seed=self._message_seq, eight_bit_ok=eight_bit_ok)
        except MessageInputError as exc:
            return self._finish_job(ClientError(ErrorKind.INVALID_INPUT, str(exc))) \
                + self._next_job()
        self._message_seq += 1
        composed = MessageComposed(builder.message_id, builder.date_header, now)
        smtputf8 = builder.needs_smtputf8
        if smtputf8 and not (self._ext("SMTPUTF8") and self.settings.smtputf8):
            return self._finish_job(ClientError(
                ErrorKind.UNSUPPORTED, "an address needs SMTPUTF8, which the server does not offer")
            ) + self._next_job()
        chunking = self._ext("CHUNKING") and self.settings.chunking
        size: int | None = None
        if self._ext("SIZE") and self.settings.size:
            size = message_size(builder.chunks(), for_data=not chunking)
            limit = size_limit(self.extensions["SIZE"])
            if limit and size > limit:
                return self._finish_job(ClientError(
                    ErrorKind.SIZE_EXCEEDED,
                    f"message is {size} octets, the server accepts at most {limit}")) \
                    + self._next_job()
        dsn = self._ext("DSN") and self.settings.dsn
        txn = _Transaction(job=job, builder=builder, recipients=job.envelope_recipients(),
                           chunking=chunking)
        self._txn = txn
        mail = commands.mail_from(
            job.sender, size=size,
            body="8BITMIME" if builder.needs_8bitmime else None,
            smtputf8=smtputf8,
            ret=job.dsn_ret if dsn else None,
            envid=job.dsn_envid if dsn else None)
        rcpts = [commands.rcpt_to(
            addr,
            notify=job.dsn_notify if dsn else None,
            orcpt=addr if (dsn and job.dsn_orcpt) else None) for addr in txn.recipients]
        if self._ext("PIPELINING") and self.settings.pipelining:
            return [composed, *self._send_pipelined_group(txn, mail, rcpts)]
        return [composed, *self._send(mail, "MAIL", _Expect("MAIL", "mail", self._on_mail_single))]

    # -- pipelined (RFC 2920): MAIL, every RCPT and DATA/first BDAT in one group
    def _send_pipelined_group(self, txn: _Transaction, mail: bytes,
                              rcpts: list[bytes]) -> list[Output]:
        data = mail + b"".join(rcpts)
        expects = [_Expect("MAIL", "mail", self._record_mail)]
        expects += [_Expect("RCPT", "rcpt", self._record_rcpt(a)) for a in txn.recipients]
        if txn.chunking:
            chunk, last = self._next_bdat(txn)
            data += commands.bdat(len(chunk), last) + chunk
            expects.append(_Expect("BDAT", "bdat", self._on_group_bdat(last)))
        else:
            data += commands.data()
            expects.append(_Expect("DATA", "data_init", self._on_group_data))
        return self._send(data, "MAIL group", *expects, content=txn.chunking)

    def _record_mail(self, reply: Reply) -> list[Output]:
        assert self._txn is not None
        self._txn.mail_reply = reply
        return []

    def _record_rcpt(self, address: str) -> Callable[[Reply], list[Output]]:
        def handler(reply: Reply) -> list[Output]:
            assert self._txn is not None
            if accepts("RCPT", reply):
                self._txn.accepted.append(address)
                return []
            self._txn.rejected.append((address, reply))
            mail = self._txn.mail_reply
            if mail is not None and not accepts("MAIL", mail):
                return []  # refused because the pipelined MAIL failed: not the recipient
            return self._notify(RecipientRejected(address, reply))
        return handler

    def _group_failure(self) -> ClientEvent | None:
        """The event that ends a pipelined transaction whose MAIL or RCPTs failed."""
        txn = self._txn
        assert txn is not None and txn.mail_reply is not None
        if not accepts("MAIL", txn.mail_reply):
            return CommandAbort("MAIL", txn.mail_reply)
        if not txn.accepted:
            return CommandAbort("RCPT", txn.rejected[-1][1])
        return None

    def _loses_failed_mail(self, failure: ClientEvent) -> bool:
        # Before 2.1: "event command_abort was not sent when mail failed".
        return (isinstance(failure, CommandAbort) and failure.command == "MAIL"
                and self.profile.pipelined_mail_failure_is_silent)

    def _lose_job(self) -> list[Output]:
        """The job is dropped without any event; the client waits for nothing, forever."""
        self._phases.enter(Phase.STUCK)
        self._current = None
        self._timer_command = None
        return [CancelTimer(), Log("job_lost", "pipelined MAIL failed; no event sent")]

    def _on_group_data(self, reply: Reply) -> list[Output]:
        failure = self._group_failure()
        if failure is not None:
            if self._loses_failed_mail(failure):
                return self._lose_job()
            if accepts("DATA", reply):
                # RFC 2920: every RCPT failed but DATA got 354: send a lone dot.
                return self._send(b".\r\n", "DATA end (empty)",
                                  _Expect("DATA", "data_term", self._after_empty_data(failure)))
            return self._abort_transaction(failure)
        if not accepts("DATA", reply):
            return self._abort_transaction(CommandAbort("DATA", reply))
        return self._start_content()

    def _after_empty_data(self, failure: ClientEvent) -> Callable[[Reply], list[Output]]:
        def handler(reply: Reply) -> list[Output]:
            return self._abort_transaction(failure)
        return handler

    def _on_group_bdat(self, last: bool) -> Callable[[Reply], list[Output]]:
        def handler(reply: Reply) -> list[Output]:
            failure = self._group_failure()
            if failure is not None:
                if self._loses_failed_mail(failure):
                    return self._lose_job()
                return self._abort_transaction(failure)
            return self._on_bdat(last)(reply)
        return handler

    # -- one command at a time
    def _on_mail_single(self, reply: Reply) -> list[Output]:
        txn = self._txn
        assert txn is not None
        txn.mail_reply = reply
        if not accepts("MAIL", reply):
            return self._abort_transaction(CommandAbort("MAIL", reply), rset=False)
        return self._send_next_rcpt(0)

    def _send_next_rcpt(self, index: int) -> list[Output]:
        txn = self._txn
        assert txn is not None
        if index >= len(txn.recipients):
            if not txn.accepted:
                return self._abort_transaction(CommandAbort("RCPT", txn.rejected[-1][1]))
            if txn.chunking:
                return self._send_bdat_chunk(txn)
            return self._send(commands.data(), "DATA",
                              _Expect("DATA", "data_init", self._on_data_single))
        address = txn.recipients[index]
        job = txn.job
        dsn = self._ext("DSN") and self.settings.dsn
        rcpt = commands.rcpt_to(address, notify=job.dsn_notify if dsn else None,
                                orcpt=address if (dsn and job.dsn_orcpt) else None)
        record = self._record_rcpt(address)

        def handler(reply: Reply) -> list[Output]:
            return record(reply) + self._send_next_rcpt(index + 1)
        return self._send(rcpt, "RCPT", _Expect("RCPT", "rcpt", handler))

    def _on_data_single(self, reply: Reply) -> list[Output]:
        if not accepts("DATA", reply):
            return self._abort_transaction(CommandAbort("DATA", reply))
        return self._start_content()

    # -- content
    def _start_content(self) -> list[Output]:
        txn = self._txn
        assert txn is not None
        self._phases.enter(Phase.CONTENT)
        block = self.settings.timeout_us("data_block") if self._timers_enabled() else None
        out: list[Output] = [SendContent(stuffed_stream(txn.builder.chunks()), block)]
        return out + self._arm("data_block")

    def _on_data_end(self, reply: Reply) -> list[Output]:
        txn = self._txn
        assert txn is not None
        if accepts("DATA_END", reply):
            event = Sent(reply, tuple(txn.accepted), tuple(a for a, _ in txn.rejected))
            return self._finish_job(event) + self._next_job()
        return self._abort_transaction(CommandAbort("DATA", reply), rset=False)

    def _next_bdat(self, txn: _Transaction) -> tuple[bytes, bool]:
        if txn.bdat_chunks is None:
            txn.bdat_chunks = bdat_stream(txn.builder.chunks(), self.settings.chunk_size)
        return next(txn.bdat_chunks)

    def _send_bdat_chunk(self, txn: _Transaction) -> list[Output]:
        chunk, last = self._next_bdat(txn)
        return self._send(commands.bdat(len(chunk), last) + chunk, "BDAT",
                          _Expect("BDAT", "bdat", self._on_bdat(last)), content=True)

    def _on_bdat(self, last: bool) -> Callable[[Reply], list[Output]]:
        def handler(reply: Reply) -> list[Output]:
            txn = self._txn
            assert txn is not None
            if not accepts("BDAT", reply):
                # RFC 3030: after a failed BDAT no further BDAT may be sent.
                return self._abort_transaction(CommandAbort("BDAT", reply), rset=not last)
            if last:
                event = Sent(reply, tuple(txn.accepted), tuple(a for a, _ in txn.rejected))
                return self._finish_job(event) + self._next_job()
            return self._send_bdat_chunk(txn)
        return handler

    def _abort_transaction(self, event: ClientEvent, *, rset: bool = True,
                           close: str | None = None) -> list[Output]:
        out = self._finish_job(event)
        if close is not None:
            return out + self._fail_all(event, close=close)
        self._needs_rset = rset and bool(self._queue)
        return out + self._next_job()

    # ---- input checks -----------------------------------------------------------------
    def _input_problem(self, job: Job) -> str | None:
        try:
            if isinstance(job, MailJob):
                problems = job.problems()
                return "; ".join(problems) if problems else None
            if isinstance(job, VrfyJob):
                commands.vrfy(job.address)
            elif isinstance(job, EtrnJob):
                commands.etrn(job.node)
        except SmtpInputError as exc:
            return str(exc)
        return None
