"""Tests of smtp/extensions.py: the EHLO reply as keywords and parameters.

Every value here comes from the server, so nothing may raise whatever the text: a
parameter that is not what RFC 1870 allows is ignored, never turned into an exception.
"""

from __future__ import annotations

import pytest

from smtp.extensions import MAX_EXTENSIONS, parse_extensions, size_limit
from smtp.replies import Reply


@pytest.mark.parametrize(("param", "limit"), [
    ("10485760", 10485760),
    (" 1000 ", 1000),
    ("1", 1),
    ("0", None),  # RFC 1870: 0 means no fixed limit
    ("", None),
    ("999999999999999", 999999999999999),
    ("9999999999999999", None),  # past any size a device sends: no limit
])
def test_size_limit_reads_ascii_digits(param: str, limit: int | None) -> None:
    assert size_limit(param) == limit


@pytest.mark.parametrize("param", [
    "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() is true for it, int() fails
    "1\u00b2",
    "\u00b3\u00b9",
    "\u0661\u0662\u0663",  # ARABIC-INDIC digits: int() would read 123
    "\uff11\uff10",  # FULLWIDTH digits
    "-1",
    "+5",
    "1e6",
    "0x10",
    "10 MB",
    "1_000",
])
def test_size_limit_ignores_anything_but_ascii_digits(param: str) -> None:
    assert size_limit(param) is None


def ehlo(*lines: str) -> Reply:
    return Reply(250, ("mx.example.net", *lines))


def test_keywords_are_upper_cased_with_their_parameters() -> None:
    assert parse_extensions(ehlo("size 1000", "8BITMIME", "AUTH PLAIN LOGIN", "X-EXP-1 a b")) \
        == {"SIZE": "1000", "8BITMIME": "", "AUTH": "PLAIN LOGIN", "X-EXP-1": "a b"}


@pytest.mark.parametrize("line", [
    "\u00dfTARTTLS",  # upper() would turn it into SSTARTTLS
    "AUTH=PLAIN LOGIN",
    "-SIZE 10",
    "AUTH?PLAIN",  # a control byte the reply parser replaced
    "STARTTLS\u00a0",  # a NO-BREAK SPACE is not the SP of RFC 5321
    "\u00b2",
])
def test_a_keyword_outside_the_rfc_5321_grammar_is_ignored(line: str) -> None:
    assert parse_extensions(ehlo(line, "PIPELINING")) == {"PIPELINING": ""}


def test_a_capability_bomb_is_cut_at_the_cap() -> None:
    lines = [f"X-K{i}" for i in range(10_000)]
    assert len(parse_extensions(ehlo(*lines))) == MAX_EXTENSIONS
