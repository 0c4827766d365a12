"""The SMTP client protocol core: replies in, commands and events out. Sans-I/O.

``ClientCore`` runs one SMTP session for a queue of jobs. Its driver (the client task,
:mod:`smtp.task`) feeds it what happened (connected, bytes received, TLS up or failed,
the connection lost, the timer expired, the content handed to the socket) and carries
out what it returns: a list of :data:`Output` (send these bytes, stream this content,
start TLS, arm the per-command timer, tell the application this event, close).

The core is split along its seams. :mod:`smtp.phases`: the session's phases and the one
table of moves between them (every move goes through one checked funnel);
:mod:`smtp.expectations`: the queue that matches replies to the commands sent, pipelined
or not; :mod:`smtp.opening`: greeting, EHLO/HELO, STARTTLS and AUTH;
:mod:`smtp.transaction`: one mail, MAIL FROM to the reply after the content. The last two
see the core only through a small public protocol each (``OpeningSession``,
``TransactionSession``). This module keeps the session itself: the driver's inputs, the
per-command timer, the dispatch of replies, and the queue of jobs (VRFY, ETRN, RSET
between jobs, QUIT). Every job ends with exactly one terminal event (:mod:`smtp.events`).

The historical releases differ from ``current`` in small, named places: each reads one
:class:`~smtp.profiles.Profile` flag, and nowhere else is a profile consulted.

This module never touches sockets, clocks or random numbers: the time comes from the
porting layer's RTC, and timeouts are requests to the driver.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from smtp import commands
from smtp.auth import AUTH_REPLY_LINE_LIMIT
from smtp.errors import RemoteProtocolError, SmtpInputError
from smtp.events import (
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    ErrorKind,
    EtrnResult,
    Timeout,
    TlsEstablished,
    VrfyResult,
    describe,
)
from smtp.expectations import Expect, ExpectationQueue, Handler
from smtp.jobs import EtrnJob, Job, MailJob, VrfyJob
from smtp.opening import Opening
from smtp.outputs import (
    ArmTimer,
    CancelTimer,
    Close,
    Log,
    Notify,
    Output,
    SendBytes,
    SendContent,
    StartTls,
)
from smtp.phases import CloseMode, Phase, PhaseMachine
from smtp.profiles import Profile
from smtp.replies import DEFAULT_MAX_LINE_LENGTH, Reply, ReplyLineTooLong, ReplyParser
from smtp.replycodes import Command, accepts
from smtp.settings import ClientSettings, Porting
from smtp.timers import TimerName
from smtp.transaction import MailTransaction, compose


def _matched(command: Command, reply: Reply) -> Log:
    """The record of ``reply`` taken as the answer to ``command`` (the invariants align
    these with the server's reply ledger: :mod:`scenarios.verdict.invariants`)."""
    return Log("matched", f"{command} {reply.code}")


class ClientCore(PhaseMachine):
    """One SMTP session working through a queue of jobs.

    The driver calls the inputs (``start`` ... ``block_sent``) and reads the queries,
    ``phase`` and ``transitions`` among them (:class:`~smtp.phases.PhaseMachine`: every
    move goes through ``enter_phase``, checked against the table). The services
    (``fail_session`` ... ``lose_job``) are for the opening and the mail transaction
    (:class:`smtp.opening.OpeningSession`, :class:`smtp.transaction.TransactionSession`),
    not for drivers.
    """

    def __init__(self, settings: ClientSettings, profile: Profile, porting: Porting,
                 jobs: Sequence[Job], *, first_message_seq: int = 1) -> None:
        self.settings = settings
        self.profile = profile
        self.porting = porting
        super().__init__()
        self.parser = ReplyParser()
        self.extensions: dict[str, str] = {}
        self.tls_active = False
        self.events: list[ClientEvent] = []
        self._queue: deque[Job] = deque(jobs)
        self._current: Job | None = None
        self._expect = ExpectationQueue()
        self._content_reply: Handler | None = None
        self._opening = Opening(self)
        self._needs_rset = False
        self._quit_sent = False  # QUIT went out behind the mail data (quit_after_data)
        self._message_seq = first_message_seq
        self._timer_command: Command | TimerName | None = None
        """What the running timer waits for: the command at the head of the queue, or
        the timer's own name (``connect``, ``tls_handshake``, ``data_block``)."""
        self._timer_us = 0
        self._answerable_by_partial: int | None = None

    # ---- queries ----------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.phase is Phase.DONE

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
                out += self.notify(ClientError(ErrorKind.INVALID_INPUT, problem))
        self._queue = valid
        if not self._queue:
            self.enter_phase(Phase.DONE)
            return out
        self.enter_phase(Phase.CONNECTING)
        return [*out, *self._arm("connect")]

    def connected(self, host: str, port: int) -> list[Output]:
        if self.phase is not Phase.CONNECTING:
            return []  # too late: the connect timer fired
        out = self.notify(Connected(host, port))
        if self.settings.security == "tls" and self.profile.has_2_0_features:
            self.enter_phase(Phase.TLS_HANDSHAKE)
            return [*out, StartTls(), *self._arm("tls_handshake")]
        self.enter_phase(Phase.SESSION)
        self._expect.append(self._opening.expect_greeting())
        return [*out, *self._arm_head()]

    def connect_failed(self, refused: bool, detail: str) -> list[Output]:
        if self.phase is not Phase.CONNECTING:
            return []  # too late: the connect timer fired
        if not refused:
            return self.timer_expired()  # no answer: as when the connect timer fires
        return self.fail_session(ClientError(ErrorKind.CONNECTION_REFUSED, detail),
                                 close=CloseMode.GONE)

    def receive(self, data: bytes) -> list[Output]:
        """Bytes from the server (plaintext, or decrypted under TLS)."""
        if self.phase in (Phase.DONE, Phase.STUCK, Phase.IDLE):
            return []
        parser = self.parser
        # While it authenticates the client reads lines as long as the largest challenge.
        limit = (AUTH_REPLY_LINE_LIMIT if self._expect and self._expect[0].command == "AUTH"
                 else DEFAULT_MAX_LINE_LENGTH)
        if parser.max_line_length != limit:
            parser.max_line_length = limit
        parser.feed(data)
        out: list[Output] = []
        # Every reply completed by these bytes was on the wire before any command sent
        # while handling them: it can only answer a command already waiting for one. A
        # reply begun in an earlier read can only answer what was waiting then.
        answerable = len(self._expect)
        if self._answerable_by_partial is not None:
            answerable = min(answerable, self._answerable_by_partial)
            self._answerable_by_partial = None
        while self.phase not in (Phase.DONE, Phase.STUCK):
            try:
                reply = parser.next_reply()
            except ReplyLineTooLong as exc:
                if self._expect and self._expect[0].command == "AUTH" \
                        and exc.line_start.startswith(b"334"):
                    return out + self._opening.cancel_oversized_challenge(exc)
                return out + self._malformed(exc)
            except RemoteProtocolError as exc:
                return out + self._malformed(exc)
            if reply is None:
                if self.parser.pending_bytes():
                    self._answerable_by_partial = answerable
                break
            if answerable == 0 and self._expect:
                return out + self.fail_session(ClientError(
                    ErrorKind.PROTOCOL,
                    f"unsolicited reply: {reply} arrived before {self._expect.head.command} "
                    "was sent", reply), close=CloseMode.ABORT)
            answerable = max(0, answerable - 1)
            out += self._dispatch(reply)
            if self.phase is Phase.TLS_HANDSHAKE:
                break  # 220 to STARTTLS: what follows is TLS's (and was discarded)
        return out

    def tls_established(self, cipher: str, version: str) -> list[Output]:
        if self.phase is not Phase.TLS_HANDSHAKE:
            return []  # too late: the job already ended (timer, connection lost)
        self.tls_active = True
        # RFC 3207 4.2: forget everything learnt before TLS.
        self.extensions = {}
        out = self.notify(TlsEstablished(cipher, version))
        self.enter_phase(Phase.SESSION)
        if self.settings.security == "tls":
            self._expect.append(self._opening.expect_greeting())
            return [*out, *self._arm_head()]
        # RFC 3207 4.2: EHLO again, under its own timer like every command.
        return out + self._opening.send_ehlo() + self._arm_head()

    def tls_failed(self, detail: str) -> list[Output]:
        if self.phase is not Phase.TLS_HANDSHAKE:
            return []
        return self.fail_session(ClientError(ErrorKind.TLS_FAILED, detail), close=CloseMode.ABORT)

    def connection_lost(self, detail: str) -> list[Output]:
        if self.phase in (Phase.DONE, Phase.STUCK):
            return []  # over already, or a historical release that lost track of its job
        if self.phase is Phase.QUITTING:
            self.enter_phase(Phase.DONE)
            return [CancelTimer()]
        return self.fail_session(ClientError(ErrorKind.CONNECTION_LOST, detail),
                                 close=CloseMode.GONE)

    def timer_expired(self) -> list[Output]:
        command = self._timer_command or "?"
        after = self._timer_us
        self._timer_command = None
        if self.phase in (Phase.DONE, Phase.STUCK):
            return []
        if self.phase is Phase.QUITTING:
            self.enter_phase(Phase.DONE)
            return [Close(abort=True)]
        return self.fail_session(Timeout(command, after), close=CloseMode.ABORT)

    def content_sent(self) -> list[Output]:
        """The driver has handed the whole content to the socket."""
        if self.phase is not Phase.CONTENT:
            return []
        self.enter_phase(Phase.SESSION)
        on_reply, self._content_reply = self._content_reply, None
        assert on_reply is not None
        self._expect.append(Expect("DATA", "data_term", on_reply))
        return self.quit_after_data() + self._arm_head()

    def block_sent(self) -> list[Output]:
        """A content block was accepted by the socket: re-arm the data-block timer."""
        if self.phase is Phase.CONTENT:
            return self._arm("data_block")
        return []

    # ---- plumbing ---------------------------------------------------------------
    def _malformed(self, exc: RemoteProtocolError) -> list[Output]:
        return self.fail_session(ClientError(ErrorKind.PROTOCOL, f"malformed reply: {exc.reason}"),
                                 close=CloseMode.ABORT)

    def _dispatch(self, reply: Reply) -> list[Output]:
        if not self._expect:
            if self.phase is Phase.CONTENT and not reply.is_positive_completion:
                # An early final reply while we stream the content: the server gave up.
                self.enter_phase(Phase.SESSION)
                return [_matched("DATA", reply), *self.end_job(
                    CommandAbort("DATA", reply), rset=True, close=CloseMode.ABORT)]
            return self.fail_session(
                ClientError(ErrorKind.PROTOCOL, f"unsolicited reply: {reply}", reply),
                close=CloseMode.ABORT)
        expect = self._expect.popleft()
        matched = _matched(expect.command, reply)
        if reply.code == 421 and expect.command not in ("GREETING", "QUIT"):
            # RFC 5321 3.8: the server is shutting down the channel; whatever the command,
            # the transaction is over. Report it on the command it answered.
            return [matched, *self.fail_session(CommandAbort(expect.command, reply),
                                                close=CloseMode.ABORT)]
        out: list[Output] = [matched, *expect.handler(reply)]
        phase = self.phase
        if phase is Phase.SESSION or phase is Phase.QUITTING:  # the head's timer runs
            out += self._arm_head()
        return out

    def _timers_enabled(self) -> bool:
        # Known issue of every historical release with TLS: "Timeout test is executed
        # only when no TLS connection is active."
        return not (self.tls_active and self.profile.no_timeout_while_tls_active)

    def _arm(self, timer: TimerName) -> list[Output]:
        if not self._timers_enabled():
            self._timer_command = None
            return [CancelTimer()]
        self._timer_command = timer
        self._timer_us = self.settings.timeout_us(timer)
        return [ArmTimer(timer, self._timer_us)]

    def _arm_head(self) -> list[Output]:
        if self._expect:
            head = self._expect[0]
            out = self._arm(head.timer)
            if self._timer_command is not None:
                self._timer_command = head.command
            return out
        if self.phase is Phase.CONTENT:
            return []
        self._timer_command = None
        return [CancelTimer()]

    def _finish_job(self, event: ClientEvent) -> list[Output]:
        self._current = None
        return self.notify(event)

    # ---- services to the opening and the mail transaction -----------------------------
    def fail_session(self, event: ClientEvent, *, close: CloseMode) -> list[Output]:
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
            out += self.notify(queued)
        self._expect.clear()
        if close is CloseMode.QUIT:
            return out + self._send_quit()
        self.enter_phase(Phase.DONE)
        self._timer_command = None
        out.append(CancelTimer())
        if close is not CloseMode.GONE:
            out.append(Close(abort=close is CloseMode.ABORT))
        return out

    def start_tls(self) -> list[Output]:
        out: list[Output] = []
        discarded = self.parser.discard_buffer()
        if discarded:
            out.append(Log("discarded_plaintext",
                           f"{discarded} bytes received after 220 to STARTTLS were discarded"))
        self.enter_phase(Phase.TLS_HANDSHAKE)
        self._expect.clear()
        return [*out, StartTls(), *self._arm("tls_handshake")]

    def begin_jobs(self) -> list[Output]:
        return self._next_job()

    def send(self, data: bytes, label: str, *expects: Expect,
             content: bool = False) -> list[Output]:
        self._expect.extend(expects)
        return [SendBytes(data, label, content)]

    def notify(self, event: ClientEvent) -> list[Output]:
        self.events.append(event)
        return [Notify(event)]

    def end_job(self, event: ClientEvent, *, rset: bool,
                close: CloseMode | None = None) -> list[Output]:
        out = self._finish_job(event)
        if close is not None:
            return out + self.fail_session(event, close=close)
        self._needs_rset = rset and bool(self._queue)
        return out + self._next_job()

    def stream_content(self, chunks: Iterator[bytes], on_reply: Handler) -> list[Output]:
        self.enter_phase(Phase.CONTENT)
        self._content_reply = on_reply
        block = self.settings.timeout_us("data_block") if self._timers_enabled() else None
        out: list[Output] = [SendContent(chunks, block)]
        return out + self._arm("data_block")

    def lose_job(self) -> list[Output]:
        self.enter_phase(Phase.STUCK)
        self._current = None
        self._timer_command = None
        return [CancelTimer(), Log("job_lost", "pipelined MAIL failed; no event sent")]

    # ---- jobs ---------------------------------------------------------------------
    def _next_job(self) -> list[Output]:
        if not self._queue:
            self._current = None
            return self._send_quit()
        if self._needs_rset:
            self._needs_rset = False
            return self.send(commands.rset(), "RSET", Expect("RSET", "rset", self._on_rset))
        job = self._queue.popleft()
        self._current = job
        if isinstance(job, MailJob):
            return self._begin_mail(job)
        if not self.profile.has_2_0_features:
            verb = "VRFY" if isinstance(job, VrfyJob) else "ETRN"
            return self.end_job(ClientError(
                ErrorKind.UNSUPPORTED, f"{verb} is not available in release 1.0"), rset=False)
        if isinstance(job, VrfyJob):
            return self.send(commands.vrfy(job.address), "VRFY",
                             Expect("VRFY", "vrfy", self._on_vrfy))
        return self.send(commands.etrn(job.node), "ETRN", Expect("ETRN", "etrn", self._on_etrn))

    def _begin_mail(self, job: MailJob) -> list[Output]:
        composed = compose(self, job, self._message_seq)
        if isinstance(composed, ClientError):
            return self.end_job(composed, rset=False)
        self._message_seq += 1
        return MailTransaction(self, composed).start()

    def _on_rset(self, reply: Reply) -> list[Output]:
        if not accepts("RSET", reply):
            return self.fail_session(CommandAbort("RSET", reply), close=CloseMode.QUIT)
        return self._next_job()

    def _send_quit(self) -> list[Output]:
        """Every job has ended: say goodbye; the reply (or its timer) ends the session."""
        self.enter_phase(Phase.QUITTING)
        if self._quit_sent:
            return []  # it went out behind the mail data
        return self.send(commands.quit(), "QUIT", Expect("QUIT", "quit", self._on_quit))

    def _pipelines_quit(self) -> bool:
        """Whether QUIT goes out right behind the end of the mail data (RFC 2920 3.1:
        QUIT may end a group): when the server offers PIPELINING, pipelining is on and no
        job is left. Releases up to 2.5 wait for the reply to the data first
        (``waits_for_data_reply_before_quit``)."""
        return (not self.profile.waits_for_data_reply_before_quit
                and self.profile.has_2_0_features and "PIPELINING" in self.extensions
                and self.settings.pipelining and not self._queue)

    def quit_after_data(self) -> list[Output]:
        """The end of the mail data is out (the content after 354, or a last BDAT chunk
        sent on its own): QUIT follows at once when :meth:`_pipelines_quit`; the reply to
        the data then ends the job and the session waits for QUIT's reply."""
        if self._quit_sent or not self._pipelines_quit():
            return []
        self._quit_sent = True
        return self.send(commands.quit(), "QUIT", Expect("QUIT", "quit", self._on_quit))

    def _on_quit(self, reply: Reply) -> list[Output]:
        self.enter_phase(Phase.DONE)
        self._timer_command = None
        return [CancelTimer(), Close()]

    def _on_vrfy(self, reply: Reply) -> list[Output]:
        event: ClientEvent = VrfyResult(reply) if accepts("VRFY", reply) \
            else CommandAbort("VRFY", reply)
        return self.end_job(event, rset=False)

    def _on_etrn(self, reply: Reply) -> list[Output]:
        event: ClientEvent = EtrnResult(reply) if accepts("ETRN", reply) \
            else CommandAbort("ETRN", reply)
        return self.end_job(event, rset=False)

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
