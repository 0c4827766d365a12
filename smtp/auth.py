"""SASL mechanisms for SMTP AUTH (RFC 4954) as small sans-I/O exchanges.

A ``Mechanism`` gives its ``initial_response()`` (sent on the AUTH line, or None) and
answers each server challenge with ``respond(challenge)``; challenges arrive already
base64-decoded (``decode_challenge``) and answers leave raw (``commands.auth_continue``
encodes them). A server that asks for more rounds than the mechanism has, sends a
challenge over 12288 octets, or keeps going past ``MAX_ROUNDS``, gets a
``RemoteProtocolError``; the client then cancels with ``*`` (hostile-servers.md row 32).
While it authenticates the client reads reply lines up to :data:`AUTH_REPLY_LINE_LIMIT`,
exactly the largest challenge, so the two limits agree.

Mechanisms: PLAIN (RFC 4616, empty authzid), LOGIN (draft-murchison-sasl-login; any
prompt text is accepted), CRAM-MD5 (RFC 2195), ANONYMOUS (RFC 4505), XOAUTH2 (Google's
format; an error challenge gets an empty answer so the server sends its final 5xx).

``choose_mechanism`` picks one from the server's offer, the configuration and what the
release allows. Secrets never appear in a repr.

This module knows nothing about replies, sessions, sockets or time.
"""

from __future__ import annotations

import abc
import base64
import hmac
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Final

from smtp.errors import RemoteProtocolError, SmtpInputError

MAX_CHALLENGE: Final = 12288
"""Largest decoded challenge accepted, in octets (the RFC 4954 AUTH line size)."""
MAX_CHALLENGE_BASE64: Final = (MAX_CHALLENGE + 2) // 3 * 4
"""The base64 length of the largest challenge (16384 characters)."""
AUTH_REPLY_LINE_LIMIT: Final = len("334 ") + MAX_CHALLENGE_BASE64 + len("\r\n")
"""The longest reply line the client reads while it authenticates (16390 octets), so the
largest challenge fits: the reply parser's limit and :data:`MAX_CHALLENGE` agree. A
longer line is cancelled with ``*`` unread (hostile-servers.md row 32)."""
MAX_ROUNDS: Final = 4
"""Most challenges answered in one exchange, whatever the mechanism."""
MAX_ANONYMOUS_TRACE: Final = 255
"""RFC 4505: the trace is at most 255 characters."""

MECHANISM_STRENGTH: Final = ("XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN", "ANONYMOUS")
"""Known mechanisms, strongest first (XOAUTH2 only counts when a token is configured)."""


@dataclass(frozen=True)
class Credentials:
    """What the device authenticates with. Secrets are left out of the repr."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    anonymous_trace: str | None = None

    def __post_init__(self) -> None:
        for name in ("username", "password", "oauth_token", "anonymous_trace"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise SmtpInputError(
                    f"Credentials.{name} must be a str or None, got {type(value).__name__}"
                )


# -- mechanisms ---------------------------------------------------------------------------


class Mechanism(abc.ABC):
    """One SASL exchange. Create a fresh object per AUTH attempt."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._rounds = 0

    def initial_response(self) -> bytes | None:
        """Bytes for the AUTH line itself, or None to wait for the first challenge."""
        return None

    def respond(self, challenge: bytes) -> bytes:
        """Answer one decoded challenge (the text of a 334 reply)."""
        if len(challenge) > MAX_CHALLENGE:
            raise RemoteProtocolError(
                f"AUTH {self.name} challenge of {len(challenge)} octets is over the "
                f"{MAX_CHALLENGE}-octet limit"
            )
        self._rounds += 1
        if self._rounds > MAX_ROUNDS:
            raise RemoteProtocolError(
                f"AUTH {self.name} server asked for more than {MAX_ROUNDS} rounds"
            )
        return self._answer(self._rounds, challenge)

    @abc.abstractmethod
    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        """The answer to challenge number ``round_number`` (1-based)."""

    def _unexpected(self, round_number: int) -> RemoteProtocolError:
        return RemoteProtocolError(
            f"AUTH {self.name} server sent unexpected challenge number {round_number}"
        )


def _require(credentials: Credentials, mechanism: str, *names: str) -> tuple[str, ...]:
    values: list[str] = []
    for name in names:
        value = getattr(credentials, name)
        if not value:
            raise SmtpInputError(f"AUTH {mechanism} needs Credentials.{name}")
        values.append(value)
    return tuple(values)


class Plain(Mechanism):
    """RFC 4616: ``NUL username NUL password`` as the initial response."""

    name = "PLAIN"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        username, password = _require(credentials, self.name, "username", "password")
        for label, value in (("username", username), ("password", password)):
            if "\x00" in value:
                raise SmtpInputError(f"AUTH PLAIN {label} must not contain NUL")
        self._message = b"\x00" + username.encode("utf-8") + b"\x00" + password.encode("utf-8")

    def initial_response(self) -> bytes | None:
        return self._message

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        raise self._unexpected(round_number)


class Login(Mechanism):
    """LOGIN: username to the first prompt, password to the second, whatever they say."""

    name = "LOGIN"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        username, password = _require(credentials, self.name, "username", "password")
        self._answers = (username.encode("utf-8"), password.encode("utf-8"))

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        if round_number > len(self._answers):
            raise self._unexpected(round_number)
        return self._answers[round_number - 1]


class CramMd5(Mechanism):
    """RFC 2195: ``username SP lowercase-hex(HMAC-MD5(password, challenge))``."""

    name = "CRAM-MD5"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        username, password = _require(credentials, self.name, "username", "password")
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        if round_number > 1:
            raise self._unexpected(round_number)
        if not challenge:
            raise RemoteProtocolError("AUTH CRAM-MD5 server sent an empty challenge")
        digest = hmac.new(self._password, challenge, "md5").hexdigest()
        return self._username + b" " + digest.encode("ascii")


class Anonymous(Mechanism):
    """RFC 4505: the trace (an email address or token, <= 255 characters) up front."""

    name = "ANONYMOUS"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        trace = credentials.anonymous_trace or ""
        if len(trace) > MAX_ANONYMOUS_TRACE:
            raise SmtpInputError(
                f"AUTH ANONYMOUS trace is {len(trace)} characters; the limit is "
                f"{MAX_ANONYMOUS_TRACE}"
            )
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in trace):
            raise SmtpInputError(
                f"AUTH ANONYMOUS trace must not contain control characters, got {trace!r}"
            )
        self._trace = trace.encode("utf-8")

    def initial_response(self) -> bytes | None:
        return self._trace

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        raise self._unexpected(round_number)


class XOAuth2(Mechanism):
    """Google/Microsoft XOAUTH2: ``user=U^Aauth=Bearer T^A^A`` up front.

    A 334 challenge here is the server's JSON error; it is kept in ``server_error`` and
    answered with empty bytes so that the server sends its final 5xx.
    """

    name = "XOAUTH2"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        username, token = _require(credentials, self.name, "username", "oauth_token")
        for label, value in (("username", username), ("oauth_token", token)):
            if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
                raise SmtpInputError(f"AUTH XOAUTH2 {label} must not contain control characters")
        self._message = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
        self.server_error: bytes | None = None

    def initial_response(self) -> bytes | None:
        return self._message

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        if round_number > 1:
            raise self._unexpected(round_number)
        self.server_error = challenge
        return b""


MECHANISMS: Final[dict[str, Callable[[Credentials], Mechanism]]] = {
    cls.name: cls for cls in (XOAuth2, CramMd5, Plain, Login, Anonymous)
}


# -- choosing -----------------------------------------------------------------------------


def _usable(name: str, credentials: Credentials, *, explicit: bool) -> bool:
    if name == "XOAUTH2":
        return bool(credentials.username and credentials.oauth_token)
    if name == "ANONYMOUS":
        return explicit or not credentials.username
    return bool(credentials.username and credentials.password)


def _known(field_name: str, name: str) -> str:
    upper = name.upper()
    if upper not in MECHANISMS:
        raise SmtpInputError(
            f"{field_name} {name!r} is not a known mechanism; expected one of "
            f"{', '.join(MECHANISM_STRENGTH)}"
        )
    return upper


def choose_mechanism(
    offered: Iterable[str],
    credentials: Credentials,
    *,
    configured: str | None = None,
    allowed: Collection[str] = MECHANISM_STRENGTH,
) -> Mechanism | None:
    """The mechanism to use, or None if no offered mechanism fits.

    The configured one wins if the server offers it and the release allows it (its
    credentials must then be present: SmtpInputError otherwise). Else the strongest
    mechanism that is offered, allowed and usable with the credentials. ANONYMOUS is
    picked on its own only when no username is configured.
    """
    allowed_names = {_known("allowed mechanism", name) for name in allowed}
    offered_names = {name.upper() for name in offered}
    if configured is not None:
        wanted = _known("configured mechanism", configured)
        if wanted in offered_names and wanted in allowed_names:
            # The constructor raises SmtpInputError naming a missing credential.
            return MECHANISMS[wanted](credentials)
    for name in MECHANISM_STRENGTH:
        if (
            name in offered_names
            and name in allowed_names
            and _usable(name, credentials, explicit=False)
        ):
            return MECHANISMS[name](credentials)
    return None


def decode_challenge(text: str) -> bytes:
    """The base64 text of a 334 reply, decoded; invalid base64 is a protocol error."""
    text = text.strip(" \t")
    if len(text) > MAX_CHALLENGE_BASE64:
        raise RemoteProtocolError(
            f"AUTH challenge of {len(text)} base64 characters is over the "
            f"{MAX_CHALLENGE}-octet limit"
        )
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise RemoteProtocolError("AUTH challenge is not valid base64") from None
