"""The scripted SMTP server engine: bytes and events in, actions out (sans-I/O).

``ServerEngine`` frames the client's bytes into command lines, DATA content and BDAT
chunks (whatever the split: byte by byte or many commands in one piece), runs one short
method per verb (``smtp_MAIL``, ``smtp_RCPT``, ...) and answers with a list of actions
(:mod:`scenarios.server.actions`). Each verb method validates its argument (501), checks
the session state (503) and pushes one reply; :mod:`scenarios.server.rules` may replace
or reshape that reply, or suppress the verb's effect, before it leaves.

Pipelining is seen when bytes of the next command arrive in the same read as the end of
a command. Bytes that arrive after an accepted STARTTLS and before TLS are discarded
(CVE-2011-0411). The engine records what it received (``mailbox``) and how the client
behaved (``observations``), and keeps a transcript of ``("C", bytes)`` per read and
``("S", bytes)`` per write it asked for; the driver adds times.

The verbs themselves are :mod:`scenarios.server.verbs` (the engine's base class), and
mail content once DATA or BDAT started is taken in by :mod:`scenarios.server.content`.
Beside them: the SASL mechanisms of an AUTH exchange (:mod:`scenarios.server.sasl`) and
the arguments of MAIL FROM and RCPT TO (:mod:`scenarios.server.esmtp_params`). The
engine keeps the connection together: the events a driver gives it, command lines,
pipelining, the rules, and what the end of the content means (accepted, refused for its
size or its Date).

This module never touches sockets, clocks, TLS objects or random numbers: the driver
gives it ``now`` (a datetime) with the bytes when the Date check needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from scenarios.server import replies as R
from scenarios.server.actions import (
    Action,
    Close,
    DropTls,
    Reset,
    Send,
    Silence,
    StartTls,
    segment,
)
from scenarios.server.content import ContentIntake, Framing
from scenarios.server.esmtp_params import parse_params as parse_params  # re-export: public
from scenarios.server.ledger import Answer, answer_of
from scenarios.server.limits import ContentHold
from scenarios.server.mailbox import GeneratedSent, Observations, ReceivedMail, SizeRecord
from scenarios.server.names import ehlo_name_acceptable as ehlo_name_acceptable  # re-export
from scenarios.server.rules import PSEUDO_VERBS, Rule, RuleBook, ServerConfig, apply_rule
from scenarios.server.session import Session
from scenarios.server.verbs import SmtpVerbs

LAST_IN_GROUP: Final = frozenset(
    {"EHLO", "DATA", "VRFY", "EXPN", "TURN", "QUIT", "NOOP", "STARTTLS"}
)
"""RFC 2920 3.1 (and RFC 3207 4 for STARTTLS): these may only end a pipelined group."""


@dataclass
class _Outcome:
    """What one verb method decided: its reply and what happens right after it."""

    reply: str | None = None
    after: list[Action] = field(default_factory=list)


class ServerEngine(SmtpVerbs):
    """One connection of a scripted SMTP server (see the module docstring)."""

    def __init__(self, config: ServerConfig, rulebook: RuleBook | None = None, *,
                 hold: ContentHold | None = None, keep_transcript: bool = True,
                 seed: int = 0, keep_answers: bool = False) -> None:
        """``rulebook``: pass one shared ``RuleBook(config.rules)`` to every connection of a
        server so that rule counts run across connections (``GREETING`` with ``nth=2`` is
        then the second connection); by default each engine counts on its own. ``hold``
        bounds the mail content kept (:mod:`scenarios.server.limits`; none by default);
        ``keep_transcript`` False keeps no copy of the bytes in :attr:`transcript`;
        ``seed`` seeds the rules' draws (a trickle's jitter) when the engine makes its own
        rule book;
        ``keep_answers`` keeps the reply ledger for :meth:`take_answers`
        (:mod:`scenarios.server.ledger`)."""
        if not isinstance(config, ServerConfig):
            raise ValueError(f"config: expected a ServerConfig, got {config!r}")
        self.config = config
        self.session = Session()
        self._rules = rulebook if rulebook is not None else RuleBook(config.rules, seed=seed)
        self._mailbox: list[ReceivedMail] = []
        self._observations = Observations()
        self._transcript: list[tuple[str, bytes]] = []
        self._keep_transcript = keep_transcript
        self._keep_answers = keep_answers
        self._answers: list[Answer] = []
        self._hold = hold if hold is not None else ContentHold()
        self._buffer = bytearray()
        self.content = ContentIntake(config, self._observations, self._hold, self._buffer)
        self._discarding_line = False
        self._connected = False
        self._closed = False
        self._silent = False
        self._tls_pending = False
        self._greet_after_tls = False
        self._out: list[Action] = []
        self._result = _Outcome()
        self._pending_mail: ReceivedMail | None = None
        self._accepted = False
        self._queue_serial = 0
        self._now: datetime | None = None
        self._handlers: dict[str, Callable[[str], None]] = {
            "GREETING": self.greeting,
            "DATA_END": self._end_of_content,
            "AUTH_RESPONSE": self.auth_response,
        }
        """Each verb's method, looked up once per verb (twice per command otherwise)."""

    # --- public surface ----------------------------------------------------------------
    @property
    def mailbox(self) -> list[ReceivedMail]:
        """Messages the server accepted, in order."""
        return self._mailbox

    @property
    def observations(self) -> Observations:
        return self._observations

    @property
    def transcript(self) -> list[tuple[str, bytes]]:
        """``("C", bytes)`` per read and ``("S", bytes)`` per write, in order."""
        return self._transcript

    def take_answers(self) -> list[Answer]:
        """The ledger entries of the commands answered since the last call (only with
        ``keep_answers``), oldest first."""
        answers, self._answers = self._answers, []
        return answers

    @property
    def closed(self) -> bool:
        """True once the connection is over (closed, reset, dropped with TLS, or lost)."""
        return self._closed

    def note_generated(self, total: int, sent: int) -> None:
        """The driver's report on a ``SendGenerated``: ``sent`` of its ``total`` octets
        went out before it ended (all of them, or the connection ended first)."""
        self._observations.generated_replies.append(GeneratedSent(total, sent))

    def on_connect(self) -> list[Action]:
        """A client connected: the greeting, or ``StartTls()`` under implicit TLS (the
        greeting then comes from ``on_tls_established``)."""
        if self._connected:
            raise ValueError("on_connect: called twice on one engine")
        self._connected = True
        if self.config.implicit_tls:
            self._greet_after_tls = True
            return self._event(lambda: self._emit([StartTls()]))
        return self._event(lambda: self._answer("GREETING", ""))

    def on_data(self, data: bytes, now: datetime | None = None) -> list[Action]:
        """Bytes from the client, split anywhere. ``now`` is the server's clock, needed
        when ``date_tolerance_hours`` is set."""
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"on_data: data must be bytes, got {type(data).__name__}")
        if not self._connected:
            raise ValueError("on_data: called before on_connect")
        if now is None and self.config.date_tolerance_hours is not None:
            raise ValueError("on_data: now is required when date_tolerance_hours is set")
        if data and self._keep_transcript:
            self._transcript.append(("C", bytes(data)))
        if self._closed or self._silent:
            return []
        if self._tls_pending:
            self._observations.plaintext_after_starttls += bytes(data)
            return []
        self._now = now
        self._buffer += data
        self.content.new_read()
        return self._event(self._process)

    def on_tls_established(self, cipher: str, version: str) -> list[Action]:
        """The handshake the engine asked for is done: a fresh session (RFC 3207 4.2)."""
        if not self._tls_pending:
            raise ValueError("on_tls_established: the engine did not ask for TLS")
        self._tls_pending = False
        obs = self._observations
        obs.tls_established, obs.tls_cipher, obs.tls_version = True, cipher, version
        self.session = Session(tls_active=True)
        self._buffer.clear()
        self.content.framing, self._discarding_line = Framing.COMMAND, False
        if self._greet_after_tls:
            self._greet_after_tls = False
            return self._event(lambda: self._answer("GREETING", ""))
        return []

    def on_tls_failed(self, reason: str) -> list[Action]:
        """The handshake failed: note why and close."""
        self._tls_pending = False
        self._observations.tls_failure = reason
        self.session.starttls_refused = True
        if self._closed:
            return []
        return self._event(lambda: self._emit([Close()]))

    def on_close(self, reason: str) -> None:
        """The connection is gone (client FIN or RST, timeout): note how it ended."""
        self._closed = True
        obs = self._observations
        if obs.close_reason is None:
            obs.close_reason = reason
        envelope = self.session.envelope
        if self.content.framing is not Framing.COMMAND or envelope.via is not None:
            obs.unfinished_content = (envelope.content.to_bytes()
                                      + bytes(self.content.bdat_chunk))

    # --- event plumbing ----------------------------------------------------------------
    def _event(self, work: Callable[[], None]) -> list[Action]:
        self._out = []
        work()
        out, self._out = self._out, []
        return segment(out, self.config.segmentation, self.config.coalesce_replies)

    def _emit(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send) and self._keep_transcript:
                self._transcript.append(("S", action.data))
            elif isinstance(action, StartTls):
                self._tls_pending = True
            elif isinstance(action, Close | Reset):
                self._closed = True
            elif isinstance(action, DropTls):
                # The session is over: after its own close_notify the server takes nothing
                # more (the driver discards what still arrives). Outside TLS there is no
                # close_notify to send, and nothing changes.
                ends = action.mode != "close_notify" or self.session.tls_active
                self.session.tls_active = False
                self._closed = self._closed or ends
            elif isinstance(action, Silence):
                self._silent = True
        self._out.extend(actions)

    def _stopped(self) -> bool:
        return self._closed or self._silent or self._tls_pending

    # --- the surface the verbs work on (SmtpVerbs) ------------------------------------
    def reply(self, text: str) -> None:
        self._result.reply = text

    def then(self, *actions: Action) -> None:
        self._result.after.extend(actions)

    def _answer(self, verb: str, argument: str) -> None:
        """Answer one command (or pseudo verb) under the first rule that fires for it."""
        self._dispatch(verb, argument, self._rules.match(verb, argument, self.session.tls_active))

    def _dispatch(self, verb: str, argument: str, rule: Rule | None) -> None:
        """Rule first, then the verb method (unless the rule suppresses it), then the reply."""
        outcome = self._result = _Outcome()
        mails_before = len(self._mailbox)
        if rule is None or rule.keeps_transition():
            self._handler(verb)(argument)
        self._result = _Outcome()
        reply = rule.reply_bytes() if rule is not None else None
        if reply is None and outcome.reply is not None:
            reply = R.encode(outcome.reply)
        rng = self._rules.rng_for(rule) if rule is not None else None
        actions = apply_rule(rule, reply, outcome.after, rng)
        self._emit(actions)
        if self._keep_answers:
            self._answers.append(answer_of(verb, rule, outcome.reply, actions,
                                           stored=len(self._mailbox) > mails_before))
        if rule is not None and rule.action in ("ignore", "silent", "close", "reset"):
            reply = None
        if reply is not None:
            self._after_reply(verb, reply)

    def _after_reply(self, verb: str, reply: bytes) -> None:
        """What the reply actually sent means for the session."""
        if verb == "EHLO" and reply.startswith(b"250"):
            lines = reply.replace(b"\r\n", b"\n").split(b"\n")[1:]
            self.session.advertised = tuple(
                ln[4:].decode("latin-1").strip().upper() for ln in lines if len(ln) > 4
            )
        elif verb == "STARTTLS" and not reply.startswith(b"220"):
            self.session.starttls_refused = True
        elif verb in ("AUTH", "AUTH_RESPONSE") and not reply.startswith(b"334"):
            self.session.auth = None

    def _handler(self, verb: str) -> Callable[[str], None]:
        handler = self._handlers.get(verb)
        if handler is None:
            method = getattr(self, f"smtp_{verb}", None) \
                if verb.isascii() and verb.isalpha() else None
            handler = method if method is not None else self.unknown
            if len(self._handlers) < 64:  # a client's made-up verbs do not grow it for ever
                self._handlers[verb] = handler
        return handler

    def _reply_now(self, text: str) -> None:
        """A reply no rule can touch (line too long)."""
        actions: list[Action] = [Send(R.encode(text))]
        self._emit(actions)
        if self._keep_answers:
            self._answers.append(answer_of("*", None, text, actions))

    # --- framing -----------------------------------------------------------------------
    def _process(self) -> None:
        while not self._stopped():
            if self.content.framing is Framing.COMMAND:
                line = self._take_line()
                if line is None:
                    return
                self._line(line)
            elif self.content.framing is Framing.DATA:
                if not self._data_step():
                    return
            elif not self._bdat_step():
                return

    def _take_line(self) -> bytes | None:
        """The next complete line (ending in LF), answering lines that are too long."""
        limit = self.config.max_line_length
        while True:
            end = self._buffer.find(b"\n")
            if self._discarding_line:
                if end < 0:
                    self._buffer.clear()
                    return None
                del self._buffer[: end + 1]
                self._discarding_line = False
                continue
            if (end < 0 and len(self._buffer) >= limit) or end + 1 > limit:
                self._observations.lines_too_long += 1
                self._discarding_line = end < 0
                del self._buffer[: (end + 1) if end >= 0 else len(self._buffer)]
                self._reply_now(R.S500_LINE_TOO_LONG)
                continue
            if end < 0:
                return None
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            return line

    def _line(self, raw: bytes) -> None:
        counts = self._observations.command_line_endings
        body = raw[:-1]
        if body.endswith(b"\r"):
            counts.crlf += 1
            body = body[:-1]
        else:
            counts.bare_lf += 1
        counts.bare_cr += body.count(b"\r")
        text = body.decode("utf-8", "replace")
        if self.session.auth is not None:
            self._pipelining_check(None)
            self._answer("AUTH_RESPONSE", text)
            return
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        self._observations.commands.append(verb)
        if self.session.tls_active and self._observations.first_command_after_tls is None:
            self._observations.first_command_after_tls = verb
        if self.session.starttls_refused:
            self._observations.commands_after_failed_starttls.append(verb)
        key = "" if verb in PSEUDO_VERBS else verb  # a client cannot speak a pseudo verb
        if self._handler(key) == self.unknown:
            self._observations.unknown_commands.append(verb)
        if verb == "BDAT" and self.content.start_bdat(argument):
            return
        self._pipelining_check(verb)
        self._answer(key, argument)
        if self._tls_pending and self._buffer:
            self._observations.plaintext_after_starttls += bytes(self._buffer)
            self._buffer.clear()

    def _pipelining_check(self, verb: str | None) -> None:
        """Bytes after a complete command in the same read: the client did not wait."""
        if not self._buffer:
            return
        obs = self._observations
        obs.pipelined = True
        if not self.session.advertises("PIPELINING"):
            obs.pipelined_without_advertisement = True
            obs.note_unadvertised("PIPELINING")
        if verb in LAST_IN_GROUP:
            obs.pipelining_violations.append(f"{verb} not last in group")

    def _data_step(self) -> bool:
        """Take one content line; False when no complete line is buffered."""
        content = self.content
        if self._buffer and not content.during_data_this_read:
            self._emit(content.during_data())
        line = content.next_data_line(self.session.envelope)
        if line is None:
            return False
        if content.ends_data(line):
            self._pipelining_check(None)
            self.finish_content(inline=False)
        else:
            content.keep_line(line, self.session.envelope)
        content.line_done()
        return True

    def _bdat_step(self) -> bool:
        """Take chunk octets; answer once the chunk is complete."""
        content = self.content
        if content.bdat_octets_waiting() and not content.during_data_this_read:
            self._emit(content.during_data())
        content.take_bdat_octets(self.session.envelope)
        if content.bdat_remaining:
            return False
        self._pipelining_check("BDAT")
        argument = content.bdat_argument
        rule = self._rules.match("BDAT", argument, self.session.tls_active)
        if rule is None and content.bdat_last and self.bdat_refusal() is None:
            envelope = self.session.envelope
            envelope.via = "BDAT"
            envelope.add(content.take_chunk(), None, content.bdat_size)
            content.observe_bdat_line_endings(envelope.content)
            self.finish_content(inline=False)
        else:
            self._dispatch("BDAT", argument, rule)
        content.bdat_chunk = bytearray()
        return True

    # --- end of content ----------------------------------------------------------------
    def finish_content(self, inline: bool) -> None:
        """Content complete (final dot or last chunk): record it, answer, end the
        transaction. ``inline``: a BDAT rule already answers, so DATA_END rules do not."""
        session, obs = self.session, self._observations
        envelope = session.envelope
        mail = ReceivedMail(
            sender=envelope.sender or "",
            recipients=tuple(envelope.recipients),
            mail_params=dict(envelope.mail_params),
            stored=envelope.content,
            via=envelope.via or "DATA",
            helo_name=session.helo_name,
            tls=session.tls_active,
            authenticated_user=session.authenticated_user,
        )
        obs.mail_count += 1
        obs.data_bytes += envelope.octets
        obs.date_headers.append(mail.date_header)
        obs.sizes.append(SizeRecord(envelope.size_declared, envelope.octets))
        self._pending_mail, self._accepted = mail, False
        if inline:
            self._end_of_content("")
        else:
            # The content as text only for a rule that reads it (a 20 MiB mail: 20 MB).
            reads = self._rules.reads_argument("DATA_END")
            self._answer("DATA_END", mail.content.decode("latin-1") if reads else "")
        if not self._accepted:
            kept = mail.stored.prefix(self._hold.room(0))  # what the connection may keep
            self._hold.keep(len(kept))
            obs.refused_mail.append(dataclasses.replace(mail, stored=kept))
        self._pending_mail = None
        session.reset_transaction()

    def _end_of_content(self, _content: str) -> None:
        """DATA_END: accept the message unless it is too big or its Date is off."""
        mail = self._pending_mail
        assert mail is not None  # only reached from finish_content
        refusal = self._content_refusal(mail)
        if refusal is not None:
            self.reply(refusal)
            return
        self._queue_serial += 1
        queue_id = f"HIL{self._queue_serial:06d}"
        self._mailbox.append(mail.queued(queue_id))
        self._hold.keep(mail.size)
        self._accepted = True
        self.reply(R.queued_as(queue_id))

    def _content_refusal(self, mail: ReceivedMail) -> str | None:
        config, octets = self.config, self.session.envelope.octets
        if config.size_limit is not None and octets > config.size_limit:
            return R.S552_SIZE_EXCEEDED
        if (refusal := self._hold.refusal(octets, mail.size)) is not None:
            return refusal
        if config.date_tolerance_hours is None:
            return None
        date = mail.date
        if date is None:
            return R.S554_DATE_MISSING
        assert self._now is not None  # on_data requires it with date_tolerance_hours
        now = self._now if self._now.tzinfo is not None else self._now.replace(tzinfo=UTC)
        if abs(date - now) > timedelta(hours=config.date_tolerance_hours):
            return R.S554_DATE_OUT_OF_RANGE
        return None
