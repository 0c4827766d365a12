"""The scripted server's verbs: one short method per SMTP verb, as aiosmtpd has them.

``smtp_MAIL``, ``smtp_RCPT``, ``smtp_DATA`` ... each checks its argument's syntax (501),
then the session's sequence (503), then acts and pushes one reply by name
(:mod:`scenarios.server.replies`); :meth:`SmtpVerbs.greeting`,
:meth:`~SmtpVerbs.auth_response` and :meth:`~SmtpVerbs.unknown` answer the pseudo verbs
``GREETING`` and ``AUTH_RESPONSE`` and any unknown command. Beside them: the ESMTP
parameters of MAIL and RCPT (which extension each needs) and the steps of a SASL
exchange (:mod:`scenarios.server.sasl` checks the credentials).

:class:`SmtpVerbs` is the base of :class:`~scenarios.server.engine.ServerEngine`: the
verbs read and change the connection through the small surface declared here (the
configuration, the session, the observations, the content intake, the reply being
built), which the engine provides. This module knows the verbs and the session; nothing
of framing bytes, rules, sockets or time.
"""

from __future__ import annotations

import abc

from scenarios.server import replies as R
from scenarios.server.actions import Action, Close, StartTls
from scenarios.server.content import BDAT_RE, ContentIntake
from scenarios.server.esmtp_params import (
    ParamCheck,
    check_mail_params,
    check_rcpt_params,
    declared_size,
    parse_mail_from,
    parse_rcpt_to,
)
from scenarios.server.mailbox import Observations, Recipient
from scenarios.server.names import ehlo_name_acceptable
from scenarios.server.rules import ServerConfig
from scenarios.server.sasl import SaslReply, SaslServer, SaslStep
from scenarios.server.session import AuthExchange, Session


class SmtpVerbs(abc.ABC):
    """The verb methods; the engine provides the connection they work on."""

    config: ServerConfig
    session: Session
    content: ContentIntake

    @property
    @abc.abstractmethod
    def observations(self) -> Observations:
        """What the server noticed of the client on this connection."""

    @abc.abstractmethod
    def reply(self, text: str) -> None:
        """The reply to the command being answered (rules may still change it)."""

    @abc.abstractmethod
    def then(self, *actions: Action) -> None:
        """Actions that follow the reply (start TLS, close, a message during DATA)."""

    @abc.abstractmethod
    def finish_content(self, inline: bool) -> None:
        """The content is complete: record it, answer it, end the transaction."""

    # --- pseudo verbs ------------------------------------------------------------------
    def greeting(self, _argument: str) -> None:
        self.reply(R.greeting(self.config.hostname))

    def unknown(self, _argument: str) -> None:
        self.reply(R.S500_UNKNOWN)

    # --- verbs -------------------------------------------------------------------------
    def smtp_HELO(self, argument: str) -> None:
        name = argument.strip()
        self.observations.helo_used = True
        if not name:
            return self.reply(R.S501_HELO_SYNTAX)
        self.observations.ehlo_names.append(name)
        self.session.helo_name, self.session.extended, self.session.advertised = name, False, ()
        self.session.reset_transaction()
        self.reply(R.helo_ok(self.config.hostname))

    def smtp_EHLO(self, argument: str) -> None:
        name = argument.strip()
        if not name:
            return self.reply(R.S501_EHLO_SYNTAX)
        self.observations.ehlo_names.append(name)
        if self.config.ehlo_reject_bare_ip and not ehlo_name_acceptable(name):
            return self.reply(R.S501_EHLO_BARE_IP)
        self.session.helo_name, self.session.extended = name, True
        self.session.reset_transaction()
        capabilities = self.config.ehlo_capabilities(self.session.tls_active)
        self.reply(R.ehlo_ok(self.config.hostname, capabilities))

    def smtp_STARTTLS(self, argument: str) -> None:
        self.observations.starttls_requested = True
        if not self.session.advertises("STARTTLS"):
            self.observations.note_unadvertised("STARTTLS")
        if argument.strip():
            return self.reply(R.S501_NO_ARGUMENTS)
        if self.session.tls_active:
            return self.reply(R.S503_TLS_ACTIVE)
        if not self.config.starttls:
            return self.reply(R.S502_NOT_IMPLEMENTED)
        self.reply(R.S220_TLS_READY)
        self.then(StartTls())

    def smtp_AUTH(self, argument: str) -> None:
        session, obs = self.session, self.observations
        parts = argument.split()
        obs.auth_mechanisms.append(parts[0].upper() if parts else "")
        if not session.tls_active:
            # Credentials outside TLS, whether or not STARTTLS was offered: a stripped
            # STARTTLS (a MitM hiding it) is exactly when this matters.
            obs.auth_in_plaintext = True
            obs.auth_outside_tls.append(obs.auth_mechanisms[-1])
        if not session.extended:
            return self.reply(R.S503_EHLO_FIRST)
        if session.authenticated_user is not None:
            return self.reply(R.S503_ALREADY_AUTHENTICATED)
        if session.envelope.started:
            return self.reply(R.S503_AUTH_IN_TRANSACTION)
        if not session.auth_mechanisms():
            obs.note_unadvertised("AUTH")
            return self.reply(R.S503_AUTH_NOT_ENABLED)
        if not 1 <= len(parts) <= 2:
            return self.reply(R.S501_AUTH_SYNTAX)
        if parts[0].upper() not in session.auth_mechanisms():
            return self.reply(R.S504_AUTH_MECHANISM)
        session.auth = AuthExchange(parts[0].upper())
        initial = parts[1] if len(parts) == 2 else None
        self._sasl_outcome(self._sasl().start(session.auth, initial))

    def smtp_MAIL(self, argument: str) -> None:
        session, obs = self.session, self.observations
        if not session.tls_active and obs.plaintext_mail is None:
            obs.plaintext_mail = ("starttls_refused" if session.starttls_refused else
                                  "starttls_offered" if session.advertises("STARTTLS")
                                  else "starttls_not_offered")
        if not session.greeted:
            return self.reply(R.S503_HELO_FIRST)
        if self.config.require_auth and session.authenticated_user is None:
            return self.reply(R.S530_AUTH_REQUIRED)
        if session.envelope.started:
            return self.reply(R.S503_NESTED_MAIL)
        path = parse_mail_from(argument)
        if path is None:
            return self.reply(R.S501_MAIL_SYNTAX)
        self.observations.space_after_colon |= path.space_after_colon
        problem = self._param_problem(check_mail_params(path.params))
        if problem is not None:
            return self.reply(problem)
        size = declared_size(path.params)
        limit = self.config.size_limit
        if size is not None and limit is not None and size > limit:
            return self.reply(R.S552_SIZE_EXCEEDED)
        envelope = session.envelope
        envelope.sender, envelope.mail_params, envelope.size_declared = (
            path.address, path.params, size
        )
        self.reply(R.S250_SENDER_OK)

    def smtp_RCPT(self, argument: str) -> None:
        session = self.session
        if not session.greeted:
            return self.reply(R.S503_HELO_FIRST)
        if not session.envelope.started:
            return self.reply(R.S503_NEED_MAIL)
        path = parse_rcpt_to(argument)
        if path is None:
            return self.reply(R.S501_RCPT_SYNTAX)
        self.observations.space_after_colon |= path.space_after_colon
        problem = self._param_problem(check_rcpt_params(path.params))
        if problem is not None:
            return self.reply(problem)
        reject = {k.casefold(): v for k, v in self.config.rcpt_reject.items()}
        reply = reject.get(path.address.casefold(), R.S250_RECIPIENT_OK)
        if reply.startswith("2"):
            session.envelope.recipients.append(Recipient(path.address, path.params))
        self.reply(reply)

    def smtp_DATA(self, argument: str) -> None:
        envelope = self.session.envelope
        if argument.strip():
            return self.reply(R.S501_NO_ARGUMENTS)
        if not self.session.greeted:
            return self.reply(R.S503_HELO_FIRST)
        if not envelope.started:
            return self.reply(R.S503_NEED_MAIL)
        if envelope.via == "BDAT":
            return self.reply(R.S503_DATA_AFTER_BDAT)
        if not envelope.recipients:
            return self.reply(R.S503_NEED_RCPT)
        envelope.via = "DATA"
        self.content.start_data()
        self.reply(R.S354_START_DATA)
        self.then(*self.content.during_data())

    def smtp_BDAT(self, argument: str) -> None:
        """Reached after the chunk's octets arrived (or at once when the size is bad)."""
        if not BDAT_RE.fullmatch(argument):
            return self.reply(R.S501_BDAT_SYNTAX)
        refusal = self.bdat_refusal()
        if refusal is not None:
            return self.reply(refusal)
        envelope = self.session.envelope
        envelope.via = "BDAT"
        envelope.add(self.content.take_chunk(), None, self.content.bdat_size)
        if not self.content.bdat_last:
            return self.reply(R.bdat_received(self.content.bdat_size))
        self.finish_content(inline=True)

    def bdat_refusal(self) -> str | None:
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
            return self.reply(R.S501_NO_ARGUMENTS)
        self.session.reset_transaction()
        self.reply(R.S250_OK)

    def smtp_NOOP(self, _argument: str) -> None:
        self.reply(R.S250_OK)

    def smtp_QUIT(self, _argument: str) -> None:
        self.reply(R.S221_BYE)
        self.then(Close())

    def smtp_VRFY(self, argument: str) -> None:
        target = argument.strip()
        if not target:
            return self.reply(R.S501_VRFY_SYNTAX)
        table = {k.casefold(): v for k, v in self.config.vrfy.items()}
        key = target.casefold()
        self.reply(table.get(key, table.get(key.strip("<>"), self.config.vrfy_default)))

    def smtp_ETRN(self, argument: str) -> None:
        if not argument.strip():
            return self.reply(R.S501_ETRN_SYNTAX)
        if not self.session.greeted:
            return self.reply(R.S503_HELO_FIRST)
        if not self.session.advertises("ETRN"):
            self.observations.note_unadvertised("ETRN")
        self.reply(self.config.etrn_reply)

    # --- ESMTP parameters --------------------------------------------------------------
    def _param_problem(self, check: ParamCheck) -> str | None:
        """The reply for a bad MAIL or RCPT parameter, or None; notes unadvertised use."""
        for extension in check.extensions:
            if not self.session.advertises(extension):
                self.observations.note_unadvertised(extension)
        return check.problem

    # --- SASL --------------------------------------------------------------------------
    def _sasl(self) -> SaslServer:
        config = self.config
        return SaslServer(config.credentials, config.cram_md5_challenge, config.allow_anonymous)

    def auth_response(self, line: str) -> None:
        if self.session.auth is None:
            return self.reply(R.S503_BAD_SEQUENCE)
        self._sasl_outcome(self._sasl().step(self.session.auth, line))

    def _sasl_outcome(self, step: SaslStep) -> None:
        """Push a step's reply; a verdict ends the exchange and may authenticate the user."""
        if isinstance(step, SaslReply):
            if step.ends:
                self.session.auth = None
            return self.reply(step.text)
        self.session.auth = None
        if step.ok:
            self.session.authenticated_user = step.user
            self.observations.authenticated_user = step.user
            return self.reply(R.S235_AUTH_OK)
        self.observations.auth_failures += 1
        self.reply(R.S535_AUTH_FAILED)
