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

Two concerns live beside it: the SASL mechanisms of an AUTH exchange
(:mod:`scenarios.server.sasl`: challenges and credential checks) and the arguments of
MAIL FROM and RCPT TO (:mod:`scenarios.server.esmtp_params`: path and parameter syntax,
which parameter needs which extension). The engine keeps what touches the session and
the observations: when AUTH may start, what a SASL verdict means, which extensions were
used without being advertised, and the server's size limit.

This module never touches sockets, clocks, TLS objects or random numbers: the driver
gives it ``now`` (a datetime) with the bytes when the Date check needs it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
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
from scenarios.server.esmtp_params import (
    ParamCheck,
    check_mail_params,
    check_rcpt_params,
    declared_size,
    parse_mail_from,
    parse_rcpt_to,
)
from scenarios.server.esmtp_params import parse_params as parse_params  # re-export: public
from scenarios.server.limits import ContentHold
from scenarios.server.mailbox import Observations, ReceivedMail, Recipient, SizeRecord
from scenarios.server.names import ehlo_name_acceptable as ehlo_name_acceptable  # re-export
from scenarios.server.rules import PSEUDO_VERBS, Rule, RuleBook, ServerConfig, apply_rule
from scenarios.server.sasl import SaslReply, SaslServer, SaslStep
from scenarios.server.session import AuthExchange, Session

LAST_IN_GROUP: Final = frozenset(
    {"EHLO", "DATA", "VRFY", "EXPN", "TURN", "QUIT", "NOOP", "STARTTLS"}
)
"""RFC 2920 3.1 (and RFC 3207 4 for STARTTLS): these may only end a pipelined group."""
DATA_LINE_LIMIT: Final = 1000
"""RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF."""

_BDAT_RE: Final = re.compile(r"(\d{1,18})(?: +(LAST))? *", re.IGNORECASE)
_EOD_LOOKALIKE_RE: Final = re.compile(rb"(?:^|[\r\n])\.(?:[\r\n]|$)")


class _Mode(enum.Enum):
    """How the next client bytes are framed."""

    COMMAND = "command"  # CRLF lines: commands, or SASL responses while an AUTH runs
    DATA = "data"  # content lines until CRLF . CRLF
    BDAT = "bdat"  # exactly the announced number of octets


@dataclass
class _Outcome:
    """What one verb method decided: its reply and what happens right after it."""

    reply: str | None = None
    after: list[Action] = field(default_factory=list)


class ServerEngine:
    """One connection of a scripted SMTP server (see the module docstring)."""

    def __init__(self, config: ServerConfig, rulebook: RuleBook | None = None, *,
                 hold: ContentHold | None = None, keep_transcript: bool = True) -> None:
        """``rulebook``: pass one shared ``RuleBook(config.rules)`` to every connection of a
        server so that rule counts run across connections (``GREETING`` with ``nth=2`` is
        then the second connection); by default each engine counts on its own. ``hold``
        bounds the mail content kept (:mod:`scenarios.server.limits`; none by default);
        ``keep_transcript`` False keeps no copy of the bytes in :attr:`transcript`."""
        if not isinstance(config, ServerConfig):
            raise ValueError(f"config: expected a ServerConfig, got {config!r}")
        self.config = config
        self.session = Session()
        self._rules = rulebook if rulebook is not None else RuleBook(config.rules)
        self._mailbox: list[ReceivedMail] = []
        self._observations = Observations()
        self._transcript: list[tuple[str, bytes]] = []
        self._keep_transcript = keep_transcript
        self._hold = hold if hold is not None else ContentHold()
        self._mid_line = False  # DATA: the start of the current line was not kept
        self._buffer = bytearray()
        self._mode = _Mode.COMMAND
        self._scan_from = 0
        self._discarding_line = False
        self._bdat_argument = ""
        self._bdat_size = self._bdat_remaining = 0
        self._bdat_last = False
        self._bdat_chunk = bytearray()
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
        self._during_data_sent = 0
        self._during_data_this_read = False

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

    @property
    def closed(self) -> bool:
        """True once the connection is over (closed, reset, dropped with TLS, or lost)."""
        return self._closed

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
        self._during_data_this_read = False
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
        self._mode, self._discarding_line = _Mode.COMMAND, False
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
        if self._mode is not _Mode.COMMAND or envelope.via is not None:
            obs.unfinished_content = bytes(envelope.content) + bytes(self._bdat_chunk)

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

    def _push(self, reply: str) -> None:
        self._result.reply = reply

    def _answer(self, verb: str, argument: str) -> None:
        """Answer one command (or pseudo verb) under the first rule that fires for it."""
        self._dispatch(verb, argument, self._rules.match(verb, argument, self.session.tls_active))

    def _dispatch(self, verb: str, argument: str, rule: Rule | None) -> None:
        """Rule first, then the verb method (unless the rule suppresses it), then the reply."""
        outcome = self._result = _Outcome()
        if rule is None or rule.keeps_transition():
            self._handler(verb)(argument)
        self._result = _Outcome()
        reply = rule.reply_bytes() if rule is not None else None
        if reply is None and outcome.reply is not None:
            reply = R.encode(outcome.reply)
        self._emit(apply_rule(rule, reply, outcome.after))
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
        pseudo: dict[str, Callable[[str], None]] = {
            "GREETING": self._greet,
            "DATA_END": self._end_of_content,
            "AUTH_RESPONSE": self._auth_response,
        }
        if verb in pseudo:
            return pseudo[verb]
        method = getattr(self, f"smtp_{verb}", None) if verb.isascii() and verb.isalpha() else None
        return method if method is not None else self._unknown

    def _reply_now(self, text: str) -> None:
        """A reply no rule can touch (line too long)."""
        self._emit([Send(R.encode(text))])

    # --- framing -----------------------------------------------------------------------
    def _process(self) -> None:
        while not self._stopped():
            if self._mode is _Mode.COMMAND:
                line = self._take_line()
                if line is None:
                    return
                self._line(line)
            elif self._mode is _Mode.DATA:
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
        if self._handler(key) == self._unknown:
            self._observations.unknown_commands.append(verb)
        if verb == "BDAT" and (match := _BDAT_RE.fullmatch(argument)):
            self._mode, self._bdat_argument = _Mode.BDAT, argument
            self._bdat_size = self._bdat_remaining = int(match[1])
            self._bdat_last = match[2] is not None
            self._bdat_chunk = bytearray()
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
        if self._buffer and not self._during_data_this_read:
            self._emit(self._during_data())
        end = self._buffer.find(b"\r\n", self._scan_from)
        if end < 0:
            self._spill_long_line()
            self._scan_from = max(0, len(self._buffer) - 1)
            return False
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        self._scan_from = 0
        if line == b"." and not self._mid_line:
            self._mode = _Mode.COMMAND
            self._pipelining_check(None)
            self._finish_content(inline=False)
        else:
            self._content_line(line)
        self._mid_line = False
        return True

    def _spill_long_line(self) -> None:
        """A content line longer than the hold has room for: count it, keep none of it."""
        room = self._hold.room(len(self.session.envelope.content))
        if room is not None and len(self._buffer) > room + 1:
            self._observations.data_lines_too_long += not self._mid_line
            spill = len(self._buffer) - (1 if self._buffer.endswith(b"\r") else 0)
            self.session.envelope.add(b"", 0, octets=spill)
            del self._buffer[:spill]
            self._mid_line = True

    def _content_line(self, line: bytes) -> None:
        obs = self._observations
        obs.data_line_endings.crlf += 1
        bare_lf, bare_cr = line.count(b"\n"), line.count(b"\r")
        obs.data_line_endings.bare_lf += bare_lf
        obs.data_line_endings.bare_cr += bare_cr
        obs.bare_lf_in_data = obs.bare_lf_in_data or bare_lf > 0
        obs.bare_cr_in_data = obs.bare_cr_in_data or bare_cr > 0
        if (bare_lf or bare_cr) and _EOD_LOOKALIKE_RE.search(line):
            obs.eod_lookalikes.append(line)
        if len(line) + 2 > DATA_LINE_LIMIT and not self._mid_line:
            obs.data_lines_too_long += 1
        if line.startswith(b".") and not self._mid_line:
            if line[1:2] != b".":
                obs.dot_stuffing_violations.append(line)
            line = line[1:]
        envelope = self.session.envelope
        envelope.add(line + b"\r\n", self._hold.room(len(envelope.content)))

    def _bdat_step(self) -> bool:
        """Take chunk octets; answer once the chunk is complete."""
        take = min(self._bdat_remaining, len(self._buffer))
        if take and not self._during_data_this_read:
            self._emit(self._during_data())
        room = self._hold.room(len(self.session.envelope.content) + len(self._bdat_chunk))
        self._bdat_chunk += self._buffer[:take if room is None else min(take, room)]
        del self._buffer[:take]
        self._bdat_remaining -= take
        if self._bdat_remaining:
            return False
        self._mode = _Mode.COMMAND
        self._pipelining_check("BDAT")
        rule = self._rules.match("BDAT", self._bdat_argument, self.session.tls_active)
        if rule is None and self._bdat_last and self._bdat_refusal() is None:
            self.session.envelope.via = "BDAT"
            self.session.envelope.add(self._take_chunk(), None, self._bdat_size)
            self._observe_bdat_line_endings(self.session.envelope.content)
            self._finish_content(inline=False)
        else:
            self._dispatch("BDAT", self._bdat_argument, rule)
        self._bdat_chunk = bytearray()
        return True

    def _observe_bdat_line_endings(self, content: bytes | bytearray) -> None:
        """BDAT content is not line-based, but the same rule holds: no bare CR or LF."""
        obs = self._observations
        bare_lf = content.count(b"\n") - content.count(b"\r\n")
        bare_cr = content.count(b"\r") - content.count(b"\r\n")
        obs.bare_lf_in_data = obs.bare_lf_in_data or bare_lf > 0
        obs.bare_cr_in_data = obs.bare_cr_in_data or bare_cr > 0

    def _take_chunk(self) -> bytes:
        chunk, self._bdat_chunk = bytes(self._bdat_chunk), bytearray()
        return chunk

    def _during_data(self) -> list[Action]:
        """``send_during_data`` once per read of content, up to the configured count."""
        payload = self.config.send_during_data_bytes()
        self._during_data_this_read = True
        if payload is None or self._during_data_sent >= self.config.send_during_data_times:
            return []
        self._during_data_sent += 1
        self._observations.send_during_data_count += 1
        return [Send(payload)]

    # --- end of content ----------------------------------------------------------------
    def _finish_content(self, inline: bool) -> None:
        """Content complete (final dot or last chunk): record it, answer, end the
        transaction. ``inline``: a BDAT rule already answers, so DATA_END rules do not."""
        session, obs = self.session, self._observations
        envelope = session.envelope
        mail = ReceivedMail(
            sender=envelope.sender or "",
            recipients=tuple(envelope.recipients),
            mail_params=dict(envelope.mail_params),
            content=bytes(envelope.content),
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
            self._answer("DATA_END", mail.content.decode("latin-1"))
        if not self._accepted:
            kept = mail.content[:self._hold.room(0)]  # within what the connection may keep
            self._hold.keep(len(kept))
            obs.refused_mail.append(dataclasses.replace(mail, content=kept))
        self._pending_mail = None
        session.reset_transaction()

    def _end_of_content(self, _content: str) -> None:
        """DATA_END: accept the message unless it is too big or its Date is off."""
        mail = self._pending_mail
        assert mail is not None  # only reached from _finish_content
        refusal = self._content_refusal(mail)
        if refusal is not None:
            self._push(refusal)
            return
        self._queue_serial += 1
        queue_id = f"HIL{self._queue_serial:06d}"
        self._mailbox.append(dataclasses.replace(mail, queue_id=queue_id))
        self._hold.keep(len(mail.content))
        self._accepted = True
        self._push(R.queued_as(queue_id))

    def _content_refusal(self, mail: ReceivedMail) -> str | None:
        config, octets = self.config, self.session.envelope.octets
        if config.max_size is not None and octets > config.max_size:
            return R.S552_SIZE_EXCEEDED
        if (refusal := self._hold.refusal(octets)) is not None:
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

    # --- pseudo verbs ----------------------------------------------------------------------
    def _greet(self, _argument: str) -> None:
        self._push(R.greeting(self.config.hostname))

    def _unknown(self, _argument: str) -> None:
        self._push(R.S500_UNKNOWN)

    # --- verbs -------------------------------------------------------------------------
    def smtp_HELO(self, argument: str) -> None:
        name = argument.strip()
        self._observations.helo_used = True
        if not name:
            return self._push(R.S501_HELO_SYNTAX)
        self._observations.ehlo_names.append(name)
        self.session.helo_name, self.session.extended, self.session.advertised = name, False, ()
        self.session.reset_transaction()
        self._push(R.helo_ok(self.config.hostname))

    def smtp_EHLO(self, argument: str) -> None:
        name = argument.strip()
        if not name:
            return self._push(R.S501_EHLO_SYNTAX)
        self._observations.ehlo_names.append(name)
        if self.config.ehlo_reject_bare_ip and not ehlo_name_acceptable(name):
            return self._push(R.S501_EHLO_BARE_IP)
        self.session.helo_name, self.session.extended = name, True
        self.session.reset_transaction()
        capabilities = self.config.ehlo_capabilities(self.session.tls_active)
        self._push(R.ehlo_ok(self.config.hostname, capabilities))

    def smtp_STARTTLS(self, argument: str) -> None:
        self._observations.starttls_requested = True
        if not self.session.advertises("STARTTLS"):
            self._observations.note_unadvertised("STARTTLS")
        if argument.strip():
            return self._push(R.S501_NO_ARGUMENTS)
        if self.session.tls_active:
            return self._push(R.S503_TLS_ACTIVE)
        if not self.config.starttls:
            return self._push(R.S502_NOT_IMPLEMENTED)
        self._push(R.S220_TLS_READY)
        self._result.after.append(StartTls())

    def smtp_AUTH(self, argument: str) -> None:
        session, obs = self.session, self._observations
        parts = argument.split()
        obs.auth_mechanisms.append(parts[0].upper() if parts else "")
        if not session.tls_active:
            # Credentials outside TLS, whether or not STARTTLS was offered: a stripped
            # STARTTLS (a MitM hiding it) is exactly when this matters.
            obs.auth_in_plaintext = True
        if not session.extended:
            return self._push(R.S503_EHLO_FIRST)
        if session.authenticated_user is not None:
            return self._push(R.S503_ALREADY_AUTHENTICATED)
        if session.envelope.started:
            return self._push(R.S503_AUTH_IN_TRANSACTION)
        if not session.auth_mechanisms():
            obs.note_unadvertised("AUTH")
            return self._push(R.S503_AUTH_NOT_ENABLED)
        if not 1 <= len(parts) <= 2:
            return self._push(R.S501_AUTH_SYNTAX)
        if parts[0].upper() not in session.auth_mechanisms():
            return self._push(R.S504_AUTH_MECHANISM)
        session.auth = AuthExchange(parts[0].upper())
        initial = parts[1] if len(parts) == 2 else None
        self._sasl_outcome(self._sasl().start(session.auth, initial))

    def smtp_MAIL(self, argument: str) -> None:
        session, obs = self.session, self._observations
        if not session.tls_active and obs.plaintext_mail is None:
            obs.plaintext_mail = ("starttls_refused" if session.starttls_refused else
                                  "starttls_offered" if session.advertises("STARTTLS")
                                  else "starttls_not_offered")
        if not session.greeted:
            return self._push(R.S503_HELO_FIRST)
        if self.config.require_auth and session.authenticated_user is None:
            return self._push(R.S530_AUTH_REQUIRED)
        if session.envelope.started:
            return self._push(R.S503_NESTED_MAIL)
        path = parse_mail_from(argument)
        if path is None:
            return self._push(R.S501_MAIL_SYNTAX)
        self._observations.space_after_colon |= path.space_after_colon
        problem = self._param_problem(check_mail_params(path.params))
        if problem is not None:
            return self._push(problem)
        size = declared_size(path.params)
        if size is not None and self.config.max_size is not None and size > self.config.max_size:
            return self._push(R.S552_SIZE_EXCEEDED)
        envelope = session.envelope
        envelope.sender, envelope.mail_params, envelope.size_declared = (
            path.address, path.params, size
        )
        self._push(R.S250_SENDER_OK)

    def smtp_RCPT(self, argument: str) -> None:
        session = self.session
        if not session.greeted:
            return self._push(R.S503_HELO_FIRST)
        if not session.envelope.started:
            return self._push(R.S503_NEED_MAIL)
        path = parse_rcpt_to(argument)
        if path is None:
            return self._push(R.S501_RCPT_SYNTAX)
        self._observations.space_after_colon |= path.space_after_colon
        problem = self._param_problem(check_rcpt_params(path.params))
        if problem is not None:
            return self._push(problem)
        reject = {k.casefold(): v for k, v in self.config.rcpt_reject.items()}
        reply = reject.get(path.address.casefold(), R.S250_RECIPIENT_OK)
        if reply.startswith("2"):
            session.envelope.recipients.append(Recipient(path.address, path.params))
        self._push(reply)

    def smtp_DATA(self, argument: str) -> None:
        envelope = self.session.envelope
        if argument.strip():
            return self._push(R.S501_NO_ARGUMENTS)
        if not self.session.greeted:
            return self._push(R.S503_HELO_FIRST)
        if not envelope.started:
            return self._push(R.S503_NEED_MAIL)
        if envelope.via == "BDAT":
            return self._push(R.S503_DATA_AFTER_BDAT)
        if not envelope.recipients:
            return self._push(R.S503_NEED_RCPT)
        envelope.via, self._mode, self._scan_from = "DATA", _Mode.DATA, 0
        self._push(R.S354_START_DATA)
        self._result.after.extend(self._during_data())

    def smtp_BDAT(self, argument: str) -> None:
        """Reached after the chunk's octets arrived (or at once when the size is bad)."""
        if not _BDAT_RE.fullmatch(argument):
            return self._push(R.S501_BDAT_SYNTAX)
        refusal = self._bdat_refusal()
        if refusal is not None:
            return self._push(refusal)
        envelope = self.session.envelope
        envelope.via = "BDAT"
        envelope.add(self._take_chunk(), None, self._bdat_size)
        if not self._bdat_last:
            return self._push(R.bdat_received(self._bdat_size))
        self._finish_content(inline=True)

    def _bdat_refusal(self) -> str | None:
        session = self.session
        if not session.greeted:
            return R.S503_HELO_FIRST
        if not session.envelope.started:
            return R.S503_NEED_MAIL
        if not session.envelope.recipients:
            return R.S503_NEED_RCPT
        if session.envelope.via == "DATA":
            return R.S503_BAD_SEQUENCE
        return None

    def smtp_RSET(self, argument: str) -> None:
        if argument.strip():
            return self._push(R.S501_NO_ARGUMENTS)
        self.session.reset_transaction()
        self._push(R.S250_OK)

    def smtp_NOOP(self, _argument: str) -> None:
        self._push(R.S250_OK)

    def smtp_QUIT(self, _argument: str) -> None:
        self._push(R.S221_BYE)
        self._result.after.append(Close())

    def smtp_VRFY(self, argument: str) -> None:
        target = argument.strip()
        if not target:
            return self._push(R.S501_VRFY_SYNTAX)
        table = {k.casefold(): v for k, v in self.config.vrfy.items()}
        key = target.casefold()
        self._push(table.get(key, table.get(key.strip("<>"), self.config.vrfy_default)))

    def smtp_ETRN(self, argument: str) -> None:
        if not argument.strip():
            return self._push(R.S501_ETRN_SYNTAX)
        if not self.session.greeted:
            return self._push(R.S503_HELO_FIRST)
        if not self.session.advertises("ETRN"):
            self._observations.note_unadvertised("ETRN")
        self._push(self.config.etrn_reply)

    # --- ESMTP parameters --------------------------------------------------------------
    def _param_problem(self, check: ParamCheck) -> str | None:
        """The reply for a bad MAIL or RCPT parameter, or None; notes unadvertised use."""
        for extension in check.extensions:
            if not self.session.advertises(extension):
                self._observations.note_unadvertised(extension)
        return check.problem

    # --- SASL --------------------------------------------------------------------------
    def _sasl(self) -> SaslServer:
        config = self.config
        return SaslServer(config.credentials, config.cram_md5_challenge, config.allow_anonymous)

    def _auth_response(self, line: str) -> None:
        if self.session.auth is None:
            return self._push(R.S503_BAD_SEQUENCE)
        self._sasl_outcome(self._sasl().step(self.session.auth, line))

    def _sasl_outcome(self, step: SaslStep) -> None:
        """Push a step's reply; a verdict ends the exchange and may authenticate the user."""
        if isinstance(step, SaslReply):
            if step.ends:
                self.session.auth = None
            return self._push(step.text)
        self.session.auth = None
        if step.ok:
            self.session.authenticated_user = step.user
            self._observations.authenticated_user = step.user
            return self._push(R.S235_AUTH_OK)
        self._observations.auth_failures += 1
        self._push(R.S535_AUTH_FAILED)
