"""Tests of scenarios/server/sasl.py: each mechanism's exchange, without an engine.

The exchange record is the session's ``AuthExchange``; each test plays the client's lines
and checks the replies and the verdict. No network, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from scenarios.server import replies as R
from scenarios.server.sasl import SaslReply, SaslServer, SaslStep, SaslVerdict
from scenarios.server.session import AuthExchange

RFC_2195_CHALLENGE = "<1896.697170952@postoffice.reston.mci.net>"
SERVER = SaslServer(
    credentials={"tim": "tanstaaftanstaaf", "user@example.com": "ya29.token"},
    cram_md5_challenge=RFC_2195_CHALLENGE,
    allow_anonymous=True,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def play(mechanism: str, initial: str | None, *lines: str, server: SaslServer = SERVER
         ) -> list[SaslStep]:
    """Start an exchange and feed it ``lines``: every step's result, in order."""
    exchange = AuthExchange(mechanism)
    steps = [server.start(exchange, initial)]
    steps += [server.step(exchange, line) for line in lines]
    return steps


@pytest.mark.parametrize(
    ("mechanism", "initial", "lines", "expected"),
    [
        ("PLAIN", b64(b"\0tim\0tanstaaftanstaaf"), [], [SaslVerdict("tim", True)]),
        ("PLAIN", b64(b"admin\0tim\0tanstaaftanstaaf"), [], [SaslVerdict("tim", True)]),
        ("PLAIN", None, [b64(b"\0tim\0wrong")],
         [SaslReply(R.S334_EMPTY), SaslVerdict("tim", False)]),
        ("PLAIN", b64(b"tim tanstaaftanstaaf"), [], [SaslVerdict("", False)]),
        ("PLAIN", "=", [], [SaslVerdict("", False)]),
        ("LOGIN", None, [b64(b"tim"), b64(b"tanstaaftanstaaf")],
         [SaslReply(R.S334_USERNAME), SaslReply(R.S334_PASSWORD), SaslVerdict("tim", True)]),
        ("LOGIN", b64(b"tim"), [b64(b"nope")],
         [SaslReply(R.S334_PASSWORD), SaslVerdict("tim", False)]),
        ("LOGIN", b64(b"nobody"), [b64(b"tanstaaftanstaaf")],
         [SaslReply(R.S334_PASSWORD), SaslVerdict("nobody", False)]),
        ("ANONYMOUS", b64(b"trace"), [], [SaslVerdict("anonymous", True)]),
        ("ANONYMOUS", None, [""], [SaslReply(R.S334_EMPTY), SaslVerdict("anonymous", True)]),
        ("XOAUTH2", b64(b"user=user@example.com\x01auth=Bearer ya29.token\x01\x01"), [],
         [SaslVerdict("user@example.com", True)]),
        ("XOAUTH2", b64(b"user=user@example.com\x01auth=Bearer expired\x01\x01"), [""],
         [SaslReply(R.S334_XOAUTH2_ERROR), SaslVerdict("", False)]),
        ("XOAUTH2", b64(b"user=user@example.com\x01auth=ya29.token\x01\x01"), [""],
         [SaslReply(R.S334_XOAUTH2_ERROR), SaslVerdict("", False)]),
        ("XOAUTH2", None, [b64(b"user=user@example.com\x01auth=bearer ya29.token\x01\x01")],
         [SaslReply(R.S334_EMPTY), SaslVerdict("user@example.com", True)]),
    ],
)
def test_mechanism_exchanges(mechanism: str, initial: str | None, lines: list[str],
                             expected: list[SaslStep]) -> None:
    assert play(mechanism, initial, *lines) == expected


def test_cram_md5_rfc_2195_vector() -> None:
    challenge = SaslReply("334 " + b64(RFC_2195_CHALLENGE.encode()))
    # RFC 2195 section 2: user "tim", secret "tanstaaftanstaaf".
    response = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    assert play("CRAM-MD5", None, response) == [challenge, SaslVerdict("tim", True)]


def test_cram_md5_digest_of_another_challenge_fails() -> None:
    server = SaslServer(SERVER.credentials, "<42.1@smtp.example.com>", True)
    digest = hmac.new(b"tanstaaftanstaaf", RFC_2195_CHALLENGE.encode(), hashlib.md5).hexdigest()
    steps = play("CRAM-MD5", None, b64(b"tim " + digest.encode()), server=server)
    assert steps == [SaslReply("334 " + b64(b"<42.1@smtp.example.com>")),
                     SaslVerdict("tim", False)]


def test_cram_md5_refuses_an_initial_response_and_ends() -> None:
    assert play("CRAM-MD5", b64(b"tim")) == [SaslReply(R.S501_AUTH_SYNTAX, ends=True)]


def test_anonymous_refused_when_not_allowed() -> None:
    server = SaslServer({}, RFC_2195_CHALLENGE, allow_anonymous=False)
    assert play("ANONYMOUS", "=", server=server) == [SaslVerdict("anonymous", False)]


def test_star_cancels_a_running_exchange_but_not_as_initial_response() -> None:
    assert play("LOGIN", None, " * ") == [SaslReply(R.S334_USERNAME),
                                          SaslReply(R.S501_AUTH_CANCELLED, ends=True)]
    assert play("PLAIN", "*") == [SaslReply(R.S501_AUTH_BAD_BASE64)]


def test_bad_base64_keeps_the_exchange_state() -> None:
    exchange = AuthExchange("LOGIN")
    assert SERVER.start(exchange, b64(b"tim")) == SaslReply(R.S334_PASSWORD)
    assert SERVER.step(exchange, "not base64!") == SaslReply(R.S501_AUTH_BAD_BASE64)
    assert exchange.username == "tim"
    assert SERVER.step(exchange, b64(b"tanstaaftanstaaf")) == SaslVerdict("tim", True)


def test_unknown_mechanism() -> None:
    assert play("GSSAPI", None) == [SaslReply(R.S504_AUTH_MECHANISM)]
    assert play("GSSAPI", "!") == [SaslReply(R.S501_AUTH_BAD_BASE64)]


def test_non_ascii_password_is_refused_not_a_crash() -> None:
    import base64

    from scenarios.server.engine import ServerEngine
    from scenarios.server.rules import ServerConfig

    engine = ServerEngine(ServerConfig(credentials={"tim": "secret"}, starttls=False))
    engine.on_connect()
    engine.on_data(b"EHLO device.example.com\r\n")
    token = base64.b64encode("\0tim\0p\u00e9".encode()).decode()
    actions = engine.on_data(f"AUTH PLAIN {token}\r\n".encode())
    sent = b"".join(getattr(a, "data", b"") for a in actions)
    assert sent.startswith(b"535")
