"""Finding the credentials in an SMTP dialogue (scenarios/server/authmask.py)."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.server.authmask import (
    CredentialFinder,
    blank,
    hide_credentials,
    marker,
    with_markers,
)

PLAIN = base64.b64encode(b"\0pump7\0s3cret-pump7")
USER = base64.b64encode(b"pump7")
PASSWORD = base64.b64encode(b"s3cret-pump7")

Step = tuple[str, bytes]  # ("C", client bytes) or ("S", server bytes)


def _hidden(steps: list[Step]) -> bytes:
    """The client's bytes, every credential byte replaced by ``#``."""
    finder = CredentialFinder()
    out = bytearray()
    for who, data in steps:
        if who == "S":
            finder.server(data)
            continue
        piece = bytearray(data)
        for start, end in finder.client(data):
            piece[start:end] = b"#" * (end - start)
        out += piece
    return bytes(out)


def _stars(secret: bytes) -> bytes:
    return b"#" * len(secret)


def test_the_initial_response_of_auth_plain_is_hidden_and_the_rest_is_not() -> None:
    hidden = _hidden([("S", b"220 mx\r\n"), ("C", b"EHLO d.example\r\n"),
                      ("S", b"250-mx\r\n250 AUTH PLAIN\r\n"),
                      ("C", b"AUTH PLAIN " + PLAIN + b"\r\n"), ("S", b"235 2.7.0 ok\r\n"),
                      ("C", b"MAIL FROM:<pump7@example.com>\r\n")])
    assert hidden == (b"EHLO d.example\r\nAUTH PLAIN " + _stars(PLAIN)
                      + b"\r\nMAIL FROM:<pump7@example.com>\r\n")


def test_auth_login_hides_the_user_name_and_password_lines() -> None:
    hidden = _hidden([("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n"),
                      ("C", USER + b"\r\n"), ("S", b"334 UGFzc3dvcmQ6\r\n"),
                      ("C", PASSWORD + b"\r\n"), ("S", b"235 ok\r\n"), ("C", b"QUIT\r\n")])
    assert hidden == (b"AUTH LOGIN\r\n" + _stars(USER) + b"\r\n" + _stars(PASSWORD)
                      + b"\r\nQUIT\r\n")


def test_lines_pipelined_behind_an_auth_command_are_taken_as_its_responses() -> None:
    hidden = _hidden([("C", b"AUTH LOGIN " + USER + b"\r\n" + PASSWORD + b"\r\n"),
                      ("S", b"334 UGFzc3dvcmQ6\r\n235 ok\r\n"), ("C", b"NOOP\r\n")])
    assert hidden == (b"AUTH LOGIN " + _stars(USER) + b"\r\n" + _stars(PASSWORD)
                      + b"\r\nNOOP\r\n")


def test_cram_md5_xoauth2_cancel_and_lower_case() -> None:
    digest = base64.b64encode(b"pump7 0123456789abcdef0123456789abcdef")
    token = base64.b64encode(b"user=pump7\x01auth=Bearer tok\x01\x01")
    hidden = _hidden([("C", b"auth cram-md5\r\n"), ("S", b"334 PDEyMz4=\r\n"),
                      ("C", digest + b"\r\n"), ("S", b"535 no\r\n"),
                      ("C", b"AUTH  XOAUTH2   " + token + b"\r\n"), ("S", b"334 eyJ9\r\n"),
                      ("C", b"\r\n"), ("S", b"535 no\r\n"),
                      ("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n"), ("C", b"*\r\n"),
                      ("S", b"501 cancelled\r\n"), ("C", b"RSET\r\n")])
    assert hidden == (b"auth cram-md5\r\n" + _stars(digest) + b"\r\nAUTH  XOAUTH2   "
                      + _stars(token) + b"\r\n\r\nAUTH LOGIN\r\n#\r\nRSET\r\n")


def test_a_failed_auth_ends_the_exchange() -> None:
    hidden = _hidden([("C", b"AUTH PLAIN " + PLAIN + b"\r\n"), ("S", b"535 5.7.8 no\r\n"),
                      ("C", b"QUIT\r\n")])
    assert hidden.endswith(b"\r\nQUIT\r\n")


def test_mail_content_is_never_examined() -> None:
    content = b"AUTH PLAIN " + PLAIN + b"\r\n" + USER + b"\r\n..dot\r\n"
    hidden = _hidden([("C", b"DATA\r\n"), ("S", b"354 go\r\n"), ("C", content + b".\r\n"),
                      ("S", b"250 ok\r\n"), ("C", b"AUTH PLAIN " + PLAIN + b"\r\n")])
    assert hidden == b"DATA\r\n" + content + b".\r\nAUTH PLAIN " + _stars(PLAIN) + b"\r\n"


def test_a_data_command_the_server_refuses_starts_no_content() -> None:
    hidden = _hidden([("C", b"DATA\r\n"), ("S", b"503 need RCPT\r\n"),
                      ("C", b"AUTH PLAIN " + PLAIN + b"\r\n")])
    assert hidden == b"DATA\r\nAUTH PLAIN " + _stars(PLAIN) + b"\r\n"


def test_bdat_chunks_are_skipped_by_their_size() -> None:
    chunk = b"x\r\nAUTH PLAIN " + PLAIN + b"\r\n"
    hidden = _hidden([("C", b"BDAT %d LAST\r\n" % len(chunk) + chunk),
                      ("S", b"250 ok\r\n"), ("C", b"AUTH PLAIN " + PLAIN + b"\r\n")])
    assert hidden == (b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"AUTH PLAIN "
                      + _stars(PLAIN) + b"\r\n")


def test_a_very_long_mechanism_name_hides_what_follows_its_first_40_characters() -> None:
    line = b"AUTH " + b"M" * 40 + PASSWORD + b"\r\n"
    assert _hidden([("C", line)]) == b"AUTH " + b"M" * 40 + _stars(PASSWORD) + b"\r\n"


def test_after_tls_the_connection_starts_again() -> None:
    finder = CredentialFinder()
    finder.client(b"AUTH LOGIN\r\n")
    finder.server(b"334 VXNlcm5hbWU6\r\n")
    finder.restart()
    assert finder.client(b"EHLO d.example\r\n") == ()


DIALOGUE: list[Step] = [
    ("S", b"220 mx\r\n"), ("C", b"EHLO d.example\r\n"), ("S", b"250-mx\r\n250 AUTH\r\n"),
    ("C", b"AUTH PLAIN " + PLAIN + b"\r\n"), ("S", b"535 no\r\n"),
    ("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n"), ("C", USER + b"\r\n"),
    ("S", b"334 UGFzc3dvcmQ6\r\n"), ("C", PASSWORD + b"\r\n"), ("S", b"235 ok\r\n"),
    ("C", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"),
    ("S", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("C", b"AUTH PLAIN x\r\n.\r\n"),
    ("S", b"250 ok\r\n"), ("C", b"BDAT 4 LAST\r\n\r\n.\r\nQUIT\r\n"),
]


def _split(steps: list[Step], cuts: list[int]) -> list[Step]:
    """Every step cut into pieces at the given offsets (modulo its length)."""
    out: list[Step] = []
    for index, (who, data) in enumerate(steps):
        points = sorted({c % len(data) for c in cuts[index::len(steps)]} | {0, len(data)})
        out += [(who, data[a:b]) for a, b in itertools.pairwise(points) if b > a]
    return out


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=60))
def test_however_the_bytes_are_split_the_same_bytes_are_hidden(cuts: list[int]) -> None:
    assert _hidden(_split(DIALOGUE, cuts)) == _hidden(DIALOGUE)


def test_the_whole_dialogue_hides_every_credential_and_nothing_else() -> None:
    hidden = _hidden(DIALOGUE)
    for secret in (PLAIN, USER, PASSWORD):
        assert secret not in hidden
    assert hidden.count(b"#") == len(PLAIN) + len(USER) + len(PASSWORD)
    assert b"AUTH PLAIN x\r\n" in hidden  # content


def test_byte_by_byte_server_replies_are_followed() -> None:
    steps: list[Step] = [("C", b"AUTH LOGIN\r\n")]
    steps += [("S", bytes([b])) for b in b"334 VXNlcm5hbWU6\r\n"]
    steps += [("C", USER + b"\r\n")]
    steps += [("S", bytes([b])) for b in b"235 ok\r\n"]
    steps += [("C", b"NOOP\r\n")]
    assert _hidden(steps) == b"AUTH LOGIN\r\n" + _stars(USER) + b"\r\nNOOP\r\n"


def test_the_views_blank_or_mark_the_spans() -> None:
    data = b"AUTH PLAIN " + PLAIN + b"\r\n"
    spans = CredentialFinder().client(data)
    assert spans == ((11, 11 + len(PLAIN)),)
    assert blank(data, spans) == b"AUTH PLAIN " + b"*" * len(PLAIN) + b"\r\n"
    assert with_markers(data, spans) == b"AUTH PLAIN <credentials hidden, 28 bytes>\r\n"
    assert marker(3) == b"<credentials hidden, 3 bytes>"
    assert hide_credentials(b"STARTTLS\r\nAUTH PLAIN " + PLAIN + b"\r\n") == (
        b"STARTTLS\r\nAUTH PLAIN <credentials hidden, 28 bytes>\r\n")
