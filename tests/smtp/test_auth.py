"""Tests for smtp/auth.py: SASL mechanisms, known vectors, limits and the choice."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from smtp.auth import (
    MAX_CHALLENGE,
    MAX_ROUNDS,
    MECHANISM_STRENGTH,
    Anonymous,
    CramMd5,
    Credentials,
    Login,
    Mechanism,
    Plain,
    XOAuth2,
    choose_mechanism,
    decode_challenge,
)
from smtp.errors import RemoteProtocolError, SmtpInputError

USER = Credentials(username="user@example.com", password="s3cret")
OAUTH = Credentials(username="user@example.com", password="s3cret", oauth_token="ya29.tok")

# -- known vectors ------------------------------------------------------------------------


def test_cram_md5_rfc2195_example() -> None:
    mech = CramMd5(Credentials(username="tim", password="tanstaaftanstaaf"))
    challenge = decode_challenge("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
    assert challenge == b"<1896.697170952@postoffice.reston.mci.net>"
    assert mech.initial_response() is None
    response = mech.respond(challenge)
    assert response == b"tim b913a602c7eda7a495b4e6e7334d3890"
    # The base64 line on the wire, as printed in RFC 2195.
    assert base64.b64encode(response) == b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"


def test_cram_md5_digest_is_lowercase_hex_hmac_md5() -> None:
    mech = CramMd5(USER)
    response = mech.respond(b"<1.2@host>")
    expected = hmac.new(b"s3cret", b"<1.2@host>", hashlib.md5).hexdigest()
    assert response == b"user@example.com " + expected.encode()
    assert expected == expected.lower()


def test_plain_rfc4616_encoding() -> None:
    mech = Plain(Credentials(username="tim", password="tanstaaftanstaaf"))
    assert mech.initial_response() == b"\x00tim\x00tanstaaftanstaaf"
    assert base64.b64encode(b"\x00tim\x00tanstaaftanstaaf") == b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"


def test_plain_utf8_and_line_breaks_inside_base64_are_fine() -> None:
    mech = Plain(Credentials(username="j\u00f6rg", password="pa\r\nss"))
    assert mech.initial_response() == b"\x00j\xc3\xb6rg\x00pa\r\nss"


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        (Credentials(username="a\x00b", password="p"), "username"),
        (Credentials(username="a", password="p\x00"), "password"),
    ],
)
def test_plain_refuses_nul(credentials: Credentials, field: str) -> None:
    with pytest.raises(SmtpInputError, match=f"PLAIN {field} must not contain NUL"):
        Plain(credentials)


def test_login_answers_any_prompts() -> None:
    mech = Login(USER)
    assert mech.initial_response() is None
    assert mech.respond(b"Username:") == b"user@example.com"
    assert mech.respond(b"whatever the server says") == b"s3cret"
    with pytest.raises(RemoteProtocolError, match="unexpected challenge number 3"):
        mech.respond(b"Password:")


def test_anonymous_trace() -> None:
    assert Anonymous(Credentials(anonymous_trace="sirhc")).initial_response() == b"sirhc"
    assert Anonymous(Credentials()).initial_response() == b""
    Anonymous(Credentials(anonymous_trace="t" * 255))
    with pytest.raises(SmtpInputError, match="256 characters; the limit is 255"):
        Anonymous(Credentials(anonymous_trace="t" * 256))
    with pytest.raises(SmtpInputError, match="control characters"):
        Anonymous(Credentials(anonymous_trace="a\r\nb"))


def test_xoauth2_initial_response_and_error_challenge() -> None:
    mech = XOAuth2(OAUTH)
    assert mech.initial_response() == b"user=user@example.com\x01auth=Bearer ya29.tok\x01\x01"
    error = b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
    assert mech.respond(error) == b""
    assert mech.server_error == error
    with pytest.raises(RemoteProtocolError, match="unexpected challenge number 2"):
        mech.respond(b"again")


def test_xoauth2_refuses_separator_in_fields() -> None:
    with pytest.raises(SmtpInputError, match="XOAUTH2 oauth_token"):
        XOAuth2(Credentials(username="u", oauth_token="t\x01auth=x"))


@pytest.mark.parametrize(
    ("cls", "credentials", "missing"),
    [
        (Plain, Credentials(username="u"), "password"),
        (Login, Credentials(password="p"), "username"),
        (CramMd5, Credentials(username="u", password=""), "password"),
        (XOAuth2, Credentials(username="u", password="p"), "oauth_token"),
    ],
)
def test_missing_credentials_are_named(
    cls: type[Plain | Login | CramMd5 | XOAuth2], credentials: Credentials, missing: str
) -> None:
    with pytest.raises(SmtpInputError, match=f"needs Credentials.{missing}"):
        cls(credentials)


def test_credentials_hide_secrets_and_check_types() -> None:
    text = repr(OAUTH)
    assert "s3cret" not in text
    assert "ya29" not in text
    assert "user@example.com" in text
    with pytest.raises(SmtpInputError, match=r"Credentials\.password must be a str"):
        Credentials(username="u", password=b"p")  # type: ignore[arg-type]


# -- hostile challenges (row 32) ----------------------------------------------------------


@pytest.mark.parametrize("mech", [Plain(USER), Anonymous(Credentials()), CramMd5(USER)])
def test_unexpected_extra_round_is_a_protocol_error(mech: Mechanism) -> None:
    if isinstance(mech, CramMd5):
        mech.respond(b"<x@y>")
    with pytest.raises(RemoteProtocolError, match=f"AUTH {mech.name} server sent unexpected"):
        mech.respond(b"")


def test_empty_cram_md5_challenge_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="CRAM-MD5 server sent an empty challenge"):
        CramMd5(USER).respond(b"")


def test_oversized_challenge_is_refused() -> None:
    mech = Login(USER)
    mech.respond(b"x" * MAX_CHALLENGE)
    with pytest.raises(RemoteProtocolError, match="12289 octets is over the 12288-octet limit"):
        mech.respond(b"x" * (MAX_CHALLENGE + 1))


class _Endless(Mechanism):
    """A mechanism that would answer forever: the base class must stop it."""

    name = "X-ENDLESS"

    def _answer(self, round_number: int, challenge: bytes) -> bytes:
        return b"again"


def test_rounds_are_capped_whatever_the_mechanism() -> None:
    mech = _Endless()
    for _ in range(MAX_ROUNDS):
        assert mech.respond(b"more") == b"again"
    with pytest.raises(RemoteProtocolError, match=f"more than {MAX_ROUNDS} rounds"):
        mech.respond(b"more")


@pytest.mark.parametrize(
    ("text", "decoded"),
    [("", b""), ("VXNlcm5hbWU6", b"Username:"), (" UGFzc3dvcmQ6 ", b"Password:")],
)
def test_decode_challenge(text: str, decoded: bytes) -> None:
    assert decode_challenge(text) == decoded


@pytest.mark.parametrize("text", ["not base64!", "VXNlcm5hbWU", "VXNl\u00e9", "VX Nl", "===="])
def test_decode_challenge_refuses_invalid_base64(text: str) -> None:
    with pytest.raises(RemoteProtocolError, match="not valid base64"):
        decode_challenge(text)


def test_decode_challenge_refuses_huge_challenges_before_decoding() -> None:
    decode_challenge(base64.b64encode(b"x" * MAX_CHALLENGE).decode())
    with pytest.raises(RemoteProtocolError, match="over the 12288-octet limit"):
        decode_challenge("QUFB" * 1_000_000)


# -- choosing a mechanism -----------------------------------------------------------------


def _name(mech: Mechanism | None) -> str | None:
    return None if mech is None else mech.name


@pytest.mark.parametrize(
    ("offered", "credentials", "configured", "allowed", "chosen"),
    [
        (["PLAIN", "LOGIN"], USER, None, MECHANISM_STRENGTH, "PLAIN"),
        (["login", "plain", "cram-md5"], USER, None, MECHANISM_STRENGTH, "CRAM-MD5"),
        (["XOAUTH2", "PLAIN"], USER, None, MECHANISM_STRENGTH, "PLAIN"),  # no token
        (["XOAUTH2", "CRAM-MD5"], OAUTH, None, MECHANISM_STRENGTH, "XOAUTH2"),
        (["XOAUTH2", "CRAM-MD5"], OAUTH, None, ["CRAM-MD5", "PLAIN"], "CRAM-MD5"),
        (["PLAIN", "LOGIN"], USER, "LOGIN", MECHANISM_STRENGTH, "LOGIN"),
        (["PLAIN", "LOGIN"], USER, "login", MECHANISM_STRENGTH, "LOGIN"),
        (["PLAIN"], USER, "LOGIN", MECHANISM_STRENGTH, "PLAIN"),  # configured not offered
        (["PLAIN", "LOGIN"], USER, "PLAIN", ["LOGIN"], "LOGIN"),  # configured not allowed
        (["PLAIN", "LOGIN"], USER, None, ["LOGIN"], "LOGIN"),  # release 1.0: LOGIN only
        (["GSSAPI", "NTLM"], USER, None, MECHANISM_STRENGTH, None),
        ([], USER, None, MECHANISM_STRENGTH, None),
        (["ANONYMOUS", "PLAIN"], USER, None, MECHANISM_STRENGTH, "PLAIN"),
        (["ANONYMOUS"], USER, None, MECHANISM_STRENGTH, None),  # username set: no ANONYMOUS
        (["ANONYMOUS"], USER, "ANONYMOUS", MECHANISM_STRENGTH, "ANONYMOUS"),
        (["ANONYMOUS", "PLAIN"], Credentials(), None, MECHANISM_STRENGTH, "ANONYMOUS"),
        (["PLAIN"], Credentials(), None, MECHANISM_STRENGTH, None),
        (["PLAIN", "LOGIN"], Credentials(username="u"), None, MECHANISM_STRENGTH, None),
    ],
)
def test_choose_mechanism(
    offered: list[str],
    credentials: Credentials,
    configured: str | None,
    allowed: tuple[str, ...] | list[str],
    chosen: str | None,
) -> None:
    mech = choose_mechanism(offered, credentials, configured=configured, allowed=allowed)
    assert _name(mech) == chosen


def test_choose_mechanism_capability_bomb() -> None:
    offered = [f"X-MECH-{i}" for i in range(10_000)] + ["LOGIN"]
    assert _name(choose_mechanism(offered, USER, configured=None, allowed=["LOGIN"])) == "LOGIN"


def test_configured_mechanism_without_its_credentials_is_a_config_error() -> None:
    with pytest.raises(SmtpInputError, match=r"XOAUTH2 needs Credentials\.oauth_token"):
        choose_mechanism(["XOAUTH2"], USER, configured="XOAUTH2", allowed=MECHANISM_STRENGTH)


@pytest.mark.parametrize(
    ("configured", "allowed", "field"),
    [
        ("SCRAM-SHA-1", MECHANISM_STRENGTH, "configured mechanism"),
        (None, ["PLAIN", "PLIAN"], "allowed mechanism"),
    ],
)
def test_unknown_mechanism_names_are_config_errors(
    configured: str | None, allowed: tuple[str, ...] | list[str], field: str
) -> None:
    with pytest.raises(SmtpInputError, match=field):
        choose_mechanism(["PLAIN"], USER, configured=configured, allowed=allowed)


def test_strength_order() -> None:
    assert MECHANISM_STRENGTH == ("XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN", "ANONYMOUS")
