"""Tests for smtp/commands.py: exact command bytes and input validation."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp import commands
from smtp.commands import Verb
from smtp.errors import SmtpInputError

# -- exact bytes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (commands.ehlo("device.example.com"), b"EHLO device.example.com\r\n"),
        (commands.ehlo("[192.0.2.10]"), b"EHLO [192.0.2.10]\r\n"),
        (commands.ehlo("192.0.2.10"), b"EHLO 192.0.2.10\r\n"),  # releases before 2.2 did this
        (commands.helo("device.example.com"), b"HELO device.example.com\r\n"),
        (commands.starttls(), b"STARTTLS\r\n"),
        (commands.rset(), b"RSET\r\n"),
        (commands.noop(), b"NOOP\r\n"),
        (commands.quit(), b"QUIT\r\n"),
        (commands.data(), b"DATA\r\n"),
        (commands.vrfy("postmaster"), b"VRFY postmaster\r\n"),
        (commands.vrfy("John Smith"), b"VRFY John Smith\r\n"),
        (commands.etrn("@example.com"), b"ETRN @example.com\r\n"),
        (commands.etrn("example.com"), b"ETRN example.com\r\n"),
        (commands.bdat(0, True), b"BDAT 0 LAST\r\n"),
        (commands.bdat(4096, False), b"BDAT 4096\r\n"),
        (commands.auth("LOGIN", None), b"AUTH LOGIN\r\n"),
        (commands.auth("plain", b"\x00user\x00pass"), b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        (commands.auth("ANONYMOUS", b""), b"AUTH ANONYMOUS =\r\n"),
        (commands.auth_continue(b"user"), b"dXNlcg==\r\n"),
        (commands.auth_continue(b""), b"\r\n"),
        (commands.auth_cancel(), b"*\r\n"),
        (commands.mail_from("a@b.example"), b"MAIL FROM:<a@b.example>\r\n"),
        (commands.mail_from(""), b"MAIL FROM:<>\r\n"),
        (
            commands.mail_from(
                "a@b.example", size=1234, body="8bitmime", smtputf8=True, ret="hdrs", envid="Q+1 x"
            ),
            b"MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS"
            b" ENVID=Q+2B1+20x\r\n",
        ),
        (commands.mail_from("a@b.example", size=0), b"MAIL FROM:<a@b.example> SIZE=0\r\n"),
        (commands.rcpt_to("c@d.example"), b"RCPT TO:<c@d.example>\r\n"),
        (commands.rcpt_to("Postmaster"), b"RCPT TO:<Postmaster>\r\n"),
        (
            commands.rcpt_to("c@d.example", notify=["success", "FAILURE", "DELAY"]),
            b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY\r\n",
        ),
        (
            commands.rcpt_to("c@d.example", notify=["NEVER"], orcpt="c+x=y@d.example"),
            b"RCPT TO:<c@d.example> NOTIFY=NEVER ORCPT=rfc822;c+2Bx+3Dy@d.example\r\n",
        ),
        (commands.rcpt_to('"a b"@d.example'), b'RCPT TO:<"a b"@d.example>\r\n'),
        (commands.rcpt_to("j\u00f6rg@d.example"), "RCPT TO:<j\u00f6rg@d.example>\r\n".encode()),
    ],
)
def test_command_bytes(built: bytes, expected: bytes) -> None:
    assert built == expected


def test_verb_enum_values() -> None:
    assert Verb.EHLO == "EHLO"
    assert Verb("BDAT") is Verb.BDAT
    for verb in Verb:
        assert verb.value == verb.name


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("", ""),
        ("abc", "abc"),
        ("a+b=c", "a+2Bb+3Dc"),
        ("a b\tc", "a+20b+09c"),
        ("~!", "~!"),
        ("\x7f", "+7F"),
        ("\u00e9", "+C3+A9"),
    ],
)
def test_xtext_encode(value: str, encoded: str) -> None:
    assert commands.xtext_encode(value) == encoded


def _xtext_decode(text: str) -> str:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "+":
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    return out.decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_xtext_round_trips_and_is_printable(value: str) -> None:
    encoded = commands.xtext_encode(value)
    assert all(33 <= ord(c) <= 126 and c != "=" for c in encoded)
    assert _xtext_decode(encoded) == value


def test_auth_line_may_exceed_512_octets() -> None:
    token = b"x" * 3000
    line = commands.auth("XOAUTH2", token)
    assert len(line) > 512
    assert line == b"AUTH XOAUTH2 " + base64.b64encode(token) + b"\r\n"
    with pytest.raises(SmtpInputError, match="12288"):
        commands.auth("XOAUTH2", b"x" * 10000)
    with pytest.raises(SmtpInputError, match="12288"):
        commands.auth_continue(b"x" * 10000)


# -- injection (hostile-servers.md row 25) ------------------------------------------------

INJECTIONS = ["\r\n", "\n", "\r", "\x00", "\r\nRCPT TO:<v@x>"]


@pytest.mark.parametrize("bad", INJECTIONS)
@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda v: commands.ehlo("host" + v), "EHLO name"),
        (lambda v: commands.helo("host" + v), "HELO name"),
        (lambda v: commands.mail_from("a@b.c" + v), "MAIL FROM address"),
        (lambda v: commands.mail_from(f'"a{v}DATA"@x.example'), "MAIL FROM address"),
        (lambda v: commands.rcpt_to("a@b.c" + v), "RCPT TO address"),
        (lambda v: commands.rcpt_to("a" + v + "@b.c"), "RCPT TO address"),
        (lambda v: commands.rcpt_to("a@b.c", orcpt="x@y" + v), "RCPT TO orcpt"),
        (lambda v: commands.rcpt_to("a@b.c", notify=["SUCCESS" + v]), "RCPT TO notify"),
        (lambda v: commands.mail_from("a@b.c", body="8BITMIME" + v), "MAIL FROM body"),
        (lambda v: commands.mail_from("a@b.c", ret="FULL" + v), "MAIL FROM ret"),
        (lambda v: commands.mail_from("a@b.c", envid="X" + v + "BAD"), "MAIL FROM envid"),
        (lambda v: commands.vrfy("user" + v), "VRFY argument"),
        (lambda v: commands.etrn("example.com" + v), "ETRN node"),
        (lambda v: commands.auth("PLAIN" + v, None), "AUTH mechanism"),
    ],
)
def test_line_breaks_and_nul_are_refused(build: object, field: str, bad: str) -> None:
    assert callable(build)
    with pytest.raises(SmtpInputError, match=field) as caught:
        build(bad)
    assert "CR, LF or NUL" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=10),
    bad=st.sampled_from(["\r", "\n", "\x00"]),
    suffix=st.text(max_size=10),
)
def test_no_command_ever_carries_cr_lf_or_nul(prefix: str, bad: str, suffix: str) -> None:
    value = prefix + bad + suffix
    builders: tuple[Callable[[], bytes], ...] = (
        lambda: commands.ehlo(value),
        lambda: commands.mail_from(value + "@x.example"),
        lambda: commands.rcpt_to("a@" + value),
        lambda: commands.vrfy(value),
    )
    for build in builders:
        with pytest.raises(SmtpInputError):
            build()


# -- other validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: commands.ehlo(""), "EHLO name must not be empty"),
        (lambda: commands.ehlo("two words"), "EHLO name must be printable ASCII"),
        (lambda: commands.ehlo("h\u00f6st"), "EHLO name must be printable ASCII"),
        (lambda: commands.rcpt_to(""), "RCPT TO address must not be empty"),
        (lambda: commands.rcpt_to("nobody"), "local-part@domain"),
        (lambda: commands.rcpt_to("@b.c"), "local-part@domain"),
        (lambda: commands.rcpt_to("a@"), "local-part@domain"),
        (lambda: commands.rcpt_to("<a@b.c>"), "without '<' or '>'"),
        (lambda: commands.rcpt_to("a b@c.d"), "unless quoted"),
        (lambda: commands.rcpt_to("a@c d"), "domain must not contain spaces"),
        (lambda: commands.rcpt_to("a\t@c.d"), "control characters"),
        (lambda: commands.mail_from("a\x1b@c.d"), "control characters"),
        (lambda: commands.mail_from("a@b.c", size=-1), "size must be a non-negative int"),
        (lambda: commands.mail_from("a@b.c", size=True), "size must be a non-negative int"),
        (lambda: commands.mail_from("a@b.c", body="7BITMIME"), "MAIL FROM body must be one"),
        (lambda: commands.mail_from("a@b.c", ret="ALL"), "FULL or HDRS"),
        (lambda: commands.mail_from("a@b.c", envid=""), "envid must be 1 to 100"),
        (lambda: commands.mail_from("a@b.c", envid="x" * 101), "envid must be 1 to 100"),
        (lambda: commands.mail_from("a@b.c", envid="\u00e9"), "printable ASCII"),
        (lambda: commands.rcpt_to("a@b.c", notify=[]), "must not be empty"),
        (lambda: commands.rcpt_to("a@b.c", notify=["NEVER", "DELAY"]), "NEVER must stand alone"),
        (lambda: commands.rcpt_to("a@b.c", notify=["SUCCESS", "success"]), "repeats SUCCESS"),
        (lambda: commands.rcpt_to("a@b.c", notify=["ALWAYS"]), "notify values must be among"),
        (lambda: commands.rcpt_to("a@b.c", notify="NEVER"), "not a str"),
        (lambda: commands.bdat(-1, True), "BDAT size"),
        (lambda: commands.bdat(10, 1), "BDAT last must be a bool"),  # type: ignore[arg-type]
        (lambda: commands.auth("", None), "AUTH mechanism must be 1 to 20"),
        (lambda: commands.auth("X" * 21, None), "AUTH mechanism must be 1 to 20"),
        (lambda: commands.auth("SCRAM SHA", None), "AUTH mechanism must be 1 to 20"),
        (lambda: commands.auth("PLAIN", "text"), "initial_response must be bytes"),  # type: ignore[arg-type]
        (lambda: commands.vrfy("  "), "VRFY argument must not be empty"),
        (lambda: commands.vrfy("a\x1bb"), "control characters"),
        (lambda: commands.etrn("a b"), "ETRN node must be printable ASCII"),
        (lambda: commands.ehlo(42), "EHLO name must be a str"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_name_the_field(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(SmtpInputError, match=message):
        build()


def test_address_length_limits() -> None:
    local64 = "l" * 64
    commands.rcpt_to(f"{local64}@d.example")
    with pytest.raises(SmtpInputError, match="local-part is 65 octets; the limit is 64"):
        commands.rcpt_to(f"{local64}l@d.example")
    # Octets, not characters: 33 two-octet characters are 66 octets.
    with pytest.raises(SmtpInputError, match="local-part is 66 octets"):
        commands.rcpt_to("\u00e9" * 33 + "@d.example")
    label = "a" * 63
    domain255 = ".".join([label, label, label, "a" * 63])
    assert len(domain255) == 255
    with pytest.raises(SmtpInputError, match="domain is 256 octets; the limit is 255"):
        commands.rcpt_to(f"x@{domain255}a")
    # A path is <local@domain>: 256 octets at most, brackets included.
    path_ok = "l" * 64 + "@" + "d" * 189
    assert len(path_ok) + 2 == 256
    commands.mail_from(path_ok)
    with pytest.raises(SmtpInputError, match="is 257 octets; the limit is 256"):
        commands.mail_from(path_ok + "d")


def test_command_line_limit_of_512_octets() -> None:
    # RFC 5321 4.5.3.1.4, checked on the whole line (verb and CRLF included).
    assert len(commands.vrfy("v" * 505)) == 512
    with pytest.raises(SmtpInputError, match="VRFY command line is 513 octets"):
        commands.vrfy("v" * 506)
    with pytest.raises(SmtpInputError, match="EHLO command line is 513 octets"):
        commands.ehlo("h" * 506)
