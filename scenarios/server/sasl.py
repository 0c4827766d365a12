"""The server side of SMTP AUTH (RFC 4954), sans-I/O: one SASL exchange, line by line.

``SaslServer`` knows the accounts (``credentials``: user to password or bearer token, the
CRAM-MD5 challenge, whether ANONYMOUS is welcome) and five mechanisms: PLAIN (RFC 4616),
LOGIN, CRAM-MD5 (RFC 2195), ANONYMOUS (RFC 4505) and XOAUTH2. ``start`` takes the AUTH
command's optional initial response, ``step`` each response line after a 334 challenge;
both return one ``SaslStep``:

* ``SaslReply``: a reply to send. A 334 challenge keeps the exchange going; ``ends`` says
  the step itself ended the exchange (``*`` cancels, CRAM-MD5 refuses an initial response).
* ``SaslVerdict``: the exchange is over; who the client said it was and whether the
  credentials are right. The caller turns it into 235 or 535.

The state of the running exchange (step, LOGIN user name, XOAUTH2 error sent) lives in
the ``AuthExchange`` record that the caller keeps (the session holds it); these methods
update it in place.

This module knows nothing about sessions beyond that record, nor about rules, what gets
observed, command framing, sockets, clocks or random numbers. Which mechanisms may start
(what EHLO advertised) and what a verdict means for the connection are the engine's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scenarios.server import replies as R
from scenarios.server.session import AuthExchange


@dataclass(frozen=True)
class SaslReply:
    """Send ``text``. ``ends``: this step ended the exchange, whatever reply goes out."""

    text: str
    ends: bool = False


@dataclass(frozen=True)
class SaslVerdict:
    """The exchange is over: ``user`` is who the client said it was (``""`` when it named
    nobody), ``ok`` whether the credentials are right."""

    user: str
    ok: bool


SaslStep = SaslReply | SaslVerdict

_Mechanism = Callable[[AuthExchange, bytes | None], SaslStep]


@dataclass(frozen=True)
class SaslServer:
    """The accounts a scripted server checks SASL responses against (module docstring)."""

    credentials: Mapping[str, str]
    cram_md5_challenge: str
    allow_anonymous: bool

    def start(self, exchange: AuthExchange, initial: str | None) -> SaslStep:
        """The AUTH command's initial response (base64, ``=`` for empty; None: none)."""
        return self._step(exchange, initial)

    def step(self, exchange: AuthExchange, line: str) -> SaslStep:
        """One response line after a 334 challenge; ``*`` cancels (RFC 4954 4)."""
        if line.strip() == "*":
            return SaslReply(R.S501_AUTH_CANCELLED, ends=True)
        return self._step(exchange, line.strip())

    # --- plumbing ----------------------------------------------------------------------
    def _step(self, exchange: AuthExchange, response: str | None) -> SaslStep:
        decoded: bytes | None = None
        if response is not None:
            try:
                decoded = b"" if response == "=" else base64.b64decode(response, validate=True)
            except (binascii.Error, ValueError):
                return SaslReply(R.S501_AUTH_BAD_BASE64)
        mechanisms: dict[str, _Mechanism] = {
            "PLAIN": self._plain,
            "LOGIN": self._login,
            "CRAM-MD5": self._cram_md5,
            "ANONYMOUS": self._anonymous,
            "XOAUTH2": self._xoauth2,
        }
        mechanism = mechanisms.get(exchange.mechanism)
        if mechanism is None:
            return SaslReply(R.S504_AUTH_MECHANISM)
        return mechanism(exchange, decoded)

    def _password_ok(self, user: str, password: str) -> bool:
        expected = self.credentials.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    # --- mechanisms --------------------------------------------------------------------
    def _plain(self, _exchange: AuthExchange, decoded: bytes | None) -> SaslStep:
        """``authzid NUL authcid NUL password``; the authcid is the user."""
        if decoded is None:
            return SaslReply(R.S334_EMPTY)
        parts = decoded.decode("utf-8", "replace").split("\0")
        if len(parts) != 3:
            return SaslVerdict("", False)
        return SaslVerdict(parts[1], self._password_ok(parts[1], parts[2]))

    def _login(self, exchange: AuthExchange, decoded: bytes | None) -> SaslStep:
        """``Username:``, then ``Password:``; an initial response is the user name."""
        if decoded is None:
            return SaslReply(R.S334_USERNAME)
        text = decoded.decode("utf-8", "replace")
        if exchange.username is None:
            exchange.username = text
            return SaslReply(R.S334_PASSWORD)
        return SaslVerdict(exchange.username, self._password_ok(exchange.username, text))

    def _cram_md5(self, exchange: AuthExchange, decoded: bytes | None) -> SaslStep:
        """The server's challenge, then ``user hex(HMAC-MD5(secret, challenge))``."""
        challenge = self.cram_md5_challenge.encode("utf-8")
        if exchange.step == 0:
            if decoded is not None:
                return SaslReply(R.S501_AUTH_SYNTAX, ends=True)
            exchange.step = 1
            return SaslReply("334 " + base64.b64encode(challenge).decode("ascii"))
        user, _, digest = (decoded or b"").decode("utf-8", "replace").rpartition(" ")
        secret = self.credentials.get(user)
        expected = (
            hmac.new(secret.encode("utf-8"), challenge, hashlib.md5).hexdigest() if secret else None
        )
        ok = expected is not None and hmac.compare_digest(expected.encode(), digest.encode())
        return SaslVerdict(user, ok)

    def _anonymous(self, _exchange: AuthExchange, decoded: bytes | None) -> SaslStep:
        """Any trace string; accepted when ``allow_anonymous``."""
        if decoded is None:
            return SaslReply(R.S334_EMPTY)
        return SaslVerdict("anonymous", self.allow_anonymous)

    def _xoauth2(self, exchange: AuthExchange, decoded: bytes | None) -> SaslStep:
        """``user=U^Aauth=Bearer T^A^A``; a wrong token gets the JSON error challenge, and
        the client's next line (normally empty) gets the verdict."""
        if exchange.failed:
            return SaslVerdict("", False)
        if decoded is None:
            return SaslReply(R.S334_EMPTY)
        fields = dict(
            item.split("=", 1)
            for item in decoded.decode("utf-8", "replace").split("\x01")
            if "=" in item
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if token is not None and self._password_ok(user, token):
            return SaslVerdict(user, True)
        exchange.failed = True
        return SaslReply(R.S334_XOAUTH2_ERROR)
