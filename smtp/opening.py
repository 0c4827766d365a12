"""The opening of a session of the client core: greeting, EHLO/HELO, STARTTLS, AUTH.

:class:`Opening` takes a connection from the server's greeting to the first job: EHLO
(HELO when EHLO is refused, unless TLS is required), STARTTLS as the security mode
asks (RFC 3207: EHLO again once TLS is up), the ``tls_downgraded`` event when
opportunistic STARTTLS finds none, and AUTH (RFC 4954) with the strongest mechanism the
release, the server and the credentials allow. Where STARTTLS was wanted but not had,
there is no AUTH at all, whatever the mechanism: CRAM-MD5 keeps the password off the
wire but gives a man in the middle the user name and a digest a dictionary attack
recovers (hostile-servers.md rows 1 and 7; msmtp fails closed the same way). A failure
here ends the session, and every job with it.

The opening sees the session that runs it only through :class:`OpeningSession`, a small
public protocol :class:`~smtp.client.ClientCore` satisfies. This module never touches
sockets, clocks or random numbers.
"""

from __future__ import annotations

from typing import Protocol

from smtp import commands
from smtp.auth import MAX_CHALLENGE, Mechanism, choose_mechanism, decode_challenge
from smtp.errors import RemoteProtocolError, SmtpInputError
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    DowngradeReason,
    ErrorKind,
    TlsDowngraded,
)
from smtp.expectations import Expect, Handler
from smtp.extensions import parse_extensions
from smtp.outputs import Output
from smtp.phases import CloseMode
from smtp.profiles import Profile
from smtp.replies import Reply, ReplyLineTooLong
from smtp.replycodes import accepts
from smtp.settings import ClientSettings

# Mechanisms each release can speak; XOAUTH2 only where the profile has it.
_MECHANISMS_2_0 = ("CRAM-MD5", "PLAIN", "LOGIN", "ANONYMOUS")
_MECHANISMS_1_0 = ("LOGIN",)
HELO_FALLBACK_CODES = frozenset({500, 502, 504, 550})


class OpeningSession(Protocol):
    """What the opening needs from the session that runs it."""

    @property
    def settings(self) -> ClientSettings: ...

    @property
    def profile(self) -> Profile: ...

    extensions: dict[str, str]
    """What the server's EHLO reply offered (name -> parameters); the opening sets it."""

    @property
    def tls_active(self) -> bool: ...

    def ehlo_name(self) -> str: ...

    def send(self, data: bytes, label: str, *expects: Expect,
             content: bool = False) -> list[Output]: ...

    def notify(self, event: ClientEvent) -> list[Output]: ...

    def fail_session(self, event: ClientEvent, *, close: CloseMode) -> list[Output]:
        """End every job with ``event`` (see ``ClientCore``), then close as ``close`` says."""
        ...

    def start_tls(self) -> list[Output]:
        """220 to STARTTLS: drop what came in plaintext after it, start the handshake."""
        ...

    def begin_jobs(self) -> list[Output]:
        """The session is open: the first job (or QUIT when none is left)."""
        ...


class Opening:
    """Greeting to first job, on ``session``'s connection."""

    def __init__(self, session: OpeningSession) -> None:
        self.session = session

    def expect_greeting(self) -> Expect:
        """Connected (or TLS up, with implicit TLS): the greeting comes first."""
        return Expect("GREETING", "greeting", self._on_greeting)

    def send_ehlo(self) -> list[Output]:
        return self.session.send(commands.ehlo(self.session.ehlo_name()), "EHLO",
                                 Expect("EHLO", "ehlo", self._on_ehlo))

    # ---- greeting, EHLO/HELO -----------------------------------------------------------
    def _on_greeting(self, reply: Reply) -> list[Output]:
        if accepts("GREETING", reply):
            return self.send_ehlo()
        if reply.code in (421, 554):
            close = CloseMode.QUIT if reply.code == 554 else CloseMode.ABORT
            return self.session.fail_session(
                ClientError(ErrorKind.SERVICE_UNAVAILABLE, f"greeting {reply}", reply),
                close=close)
        return self.session.fail_session(ClientError(
            ErrorKind.PROTOCOL, f"unexpected greeting {reply}", reply), close=CloseMode.ABORT)

    def _on_ehlo(self, reply: Reply) -> list[Output]:
        session = self.session
        if accepts("EHLO", reply):
            session.extensions = parse_extensions(reply)
            return self._after_hello()
        if reply.code == 421:
            return session.fail_session(ClientError(
                ErrorKind.SERVICE_UNAVAILABLE, str(reply), reply), close=CloseMode.ABORT)
        if reply.code in HELO_FALLBACK_CODES:
            if self._tls_required_but_missing():
                return session.fail_session(ClientError(
                    ErrorKind.TLS_REQUIRED,
                    f"EHLO refused ({reply}) and TLS is required: no HELO fallback", reply),
                    close=CloseMode.QUIT)
            return session.send(commands.helo(session.ehlo_name()), "HELO",
                                Expect("HELO", "ehlo", lambda r: self._on_helo(r, reply)))
        return session.fail_session(CommandAbort("EHLO", reply), close=CloseMode.QUIT)

    def _on_helo(self, reply: Reply, ehlo_refusal: Reply) -> list[Output]:
        if accepts("HELO", reply):
            self.session.extensions = {}
            return self._after_hello(ehlo_refusal)
        return self.session.fail_session(CommandAbort("HELO", reply), close=CloseMode.QUIT)

    # ---- STARTTLS --------------------------------------------------------------------
    def _tls_required_but_missing(self) -> bool:
        session = self.session
        return (session.settings.security == "required" and not session.tls_active
                and session.profile.has_2_0_features)

    def _after_hello(self, ehlo_refusal: Reply | None = None) -> list[Output]:
        session = self.session
        security, profile = session.settings.security, session.profile
        wants_tls = (security in ("starttls", "required")
                     and profile.has_2_0_features and not session.tls_active)
        if wants_tls:
            if "STARTTLS" in session.extensions:
                return session.send(commands.starttls(), "STARTTLS",
                                    Expect("STARTTLS", "starttls", self._on_starttls))
            if security == "required":
                return session.fail_session(ClientError(
                    ErrorKind.TLS_REQUIRED,
                    "the server does not offer STARTTLS and the device requires TLS"),
                    close=CloseMode.QUIT)
            if not profile.downgrades_tls_silently:
                reason = (DowngradeReason.NOT_OFFERED if ehlo_refusal is None
                          else DowngradeReason.EHLO_REFUSED)
                return session.notify(TlsDowngraded(reason, ehlo_refusal)) + self._start_auth()
        return self._start_auth()

    def _on_starttls(self, reply: Reply) -> list[Output]:
        if not accepts("STARTTLS", reply):
            # A refused STARTTLS is a downgrade: no credentials or mail in plaintext. After
            # a 221 the server is closing (hostile-servers.md row 4): just close, no QUIT.
            close = CloseMode.CLOSE if reply.code == 221 else CloseMode.QUIT
            return self.session.fail_session(ClientError(
                ErrorKind.TLS_FAILED, f"STARTTLS refused: {reply}", reply), close=close)
        return self.session.start_tls()

    # ---- AUTH ------------------------------------------------------------------------
    def _allowed_mechanisms(self) -> tuple[str, ...]:
        profile = self.session.profile
        if not profile.has_2_0_features:
            return _MECHANISMS_1_0
        if profile.has_xoauth2:
            return ("XOAUTH2", *_MECHANISMS_2_0)
        return _MECHANISMS_2_0

    def _opportunistic_without_tls(self) -> bool:
        """``starttls`` mode on a connection that stayed plaintext (no STARTTLS offered)."""
        session = self.session
        return (session.settings.security == "starttls" and not session.tls_active
                and session.profile.has_2_0_features)

    def _wants_auth(self) -> bool:
        settings = self.session.settings
        creds = settings.credentials
        return bool(creds.username or creds.oauth_token or creds.anonymous_trace
                    or settings.mechanism)

    def _start_auth(self) -> list[Output]:
        session = self.session
        if not self._wants_auth():
            return session.begin_jobs()
        offered = session.extensions.get("AUTH", "").split()
        what = " ".join(offered) if offered else "none"
        if self._opportunistic_without_tls():
            # STARTTLS was wanted but not had (stripped?): no AUTH of any mechanism.
            return session.fail_session(ClientError(
                ErrorKind.TLS_REQUIRED,
                f"the server offers no STARTTLS; refusing to authenticate without TLS "
                f"(server offers: {what})"), close=CloseMode.QUIT)
        try:
            mechanism = choose_mechanism(offered, session.settings.credentials,
                                         configured=session.settings.mechanism,
                                         allowed=self._allowed_mechanisms())
        except SmtpInputError as exc:
            return session.fail_session(ClientError(ErrorKind.AUTH_FAILED, str(exc)),
                                        close=CloseMode.QUIT)
        if mechanism is None:
            return session.fail_session(ClientError(
                ErrorKind.AUTH_FAILED,
                f"no usable AUTH mechanism (server offers: {what})"), close=CloseMode.QUIT)
        return session.send(commands.auth(mechanism.name, mechanism.initial_response()),
                            f"AUTH {mechanism.name}",
                            Expect("AUTH", "auth", self._on_auth(mechanism)))

    def _on_auth(self, mechanism: Mechanism) -> Handler:
        def handler(reply: Reply) -> list[Output]:
            session = self.session
            if accepts("AUTH", reply):
                return session.notify(Authenticated(mechanism.name)) + session.begin_jobs()
            if reply.code == 334:
                try:
                    answer = mechanism.respond(decode_challenge(reply.text))
                except RemoteProtocolError as exc:
                    return session.send(commands.auth_cancel(), "AUTH cancel",
                                        Expect("AUTH", "auth", self._auth_cancelled(exc.reason)))
                return session.send(commands.auth_continue(answer), "AUTH response",
                                    Expect("AUTH", "auth", handler))
            return session.fail_session(ClientError(
                ErrorKind.AUTH_FAILED, f"{mechanism.name}: {reply}", reply), close=CloseMode.QUIT)
        return handler

    def cancel_oversized_challenge(self, too_long: ReplyLineTooLong) -> list[Output]:
        """A 334 line over the limit: cancel with ``*`` (RFC 4954) and close, without
        reading the rest (a megabyte challenge costs the device 16 KiB, not a megabyte).
        The server's 501 to the ``*`` is not awaited: the rest of its line is in the way."""
        session = self.session
        return session.send(commands.auth_cancel(), "AUTH cancel") + session.fail_session(
            ClientError(ErrorKind.AUTH_FAILED,
                        f"exchange cancelled: AUTH challenge longer than {too_long.limit} "
                        f"octets (at most {MAX_CHALLENGE} octets decoded)"),
            close=CloseMode.CLOSE)

    def _auth_cancelled(self, reason: str) -> Handler:
        def handler(reply: Reply) -> list[Output]:
            return self.session.fail_session(ClientError(
                ErrorKind.AUTH_FAILED, f"exchange cancelled: {reason}", reply),
                close=CloseMode.QUIT)
        return handler
