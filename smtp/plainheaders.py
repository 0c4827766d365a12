"""Address and Subject header lines that need no folding, encoding or quoting.

Most mails a device sends have bare ASCII addresses and a short ASCII subject. Their
header lines are exactly ``Name: value`` CRLF, and writing them directly costs a fraction
of building an ``email`` message and folding it (the ``email`` package parses each value
into its header registry first). :func:`plain_address_headers` writes them when every
value is such a plain one and returns None otherwise, so the caller goes through the
``email`` package for anything else (display names, non-ASCII, encoded-word look-alikes,
long lines). A property test checks the two give the same bytes wherever this one
answers.

This module knows RFC 5322's dot-atom and line length. It knows nothing about MIME,
jobs or SMTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

FOLD_AT: Final = 78
"""The ``email`` package's SMTP policy folds lines longer than this (without CRLF)."""

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS_RE: Final = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_PLAIN_TEXT_RE: Final = re.compile(r"[!-~](?:[ -~]*[!-~])?")


def _line(name: str, value: str) -> str | None:
    line = f"{name}: {value}"
    return None if len(line) > FOLD_AT else line + "\r\n"


def plain_address_headers(headers: Sequence[tuple[str, Sequence[str]]],
                          subject: str) -> bytes | None:
    """``Name: a@b, c@d`` lines for ``headers`` and the Subject line after them, or None
    when a value needs the ``email`` package: an address that is not an ASCII dot-atom
    at a host name, a subject that is empty, not printable ASCII, has white space at
    either end or looks like an RFC 2047 encoded word, or a line over 78 characters."""
    lines: list[str] = []
    for name, addresses in headers:
        if not all(_PLAIN_ADDRESS_RE.fullmatch(address) for address in addresses):
            return None
        line = _line(name, ", ".join(addresses))
        if line is None:
            return None
        lines.append(line)
    if not _PLAIN_TEXT_RE.fullmatch(subject) or "=?" in subject or "  " in subject:
        return None
    line = _line("Subject", subject)
    if line is None:
        return None
    lines.append(line)
    return "".join(lines).encode("ascii")
