"""A received mail's MIME structure without its bulk: the email package's parse of the
content with every long run of base64-alphabet lines stood in for by one marker line.

The verdict needs the structure (which part is the text body, which are attachments)
and each part's payload once, in order. The email package's parse holds every line of
a 20 MiB attachment as a string, then joins them (about four times the attachment at
the peak). :func:`skeleton` parses a copy of the content in which each run of at least
:data:`RUN_LINES` lines made only of ``A-Z a-z 0-9 + / =`` is one marker line (made of
the same alphabet, found nowhere in the content), and keeps where each run was.

Why the parse keeps its shape: the email package's line-based parser decides by the
class of each line, and every such line, the marker included, is in one class: it is
not a header (no colon, no leading blank, not ``From ``), not a boundary (no leading
``--``), not empty. So the skeleton's tree is the content's tree, each marker standing
where its run was, with the run's last line ending after it. :func:`payload_pieces`
gives a part's payload back as the text the email package would have held, piece by
piece; :func:`full_payload` puts it back into the part for the email package's own
decoding. Runs ending in a bare CR are not replaced (the parse is then as before).

This module knows the email package and bytes; nothing of runs or verdicts.
"""

from __future__ import annotations

import email.feedparser
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Final

RUN_LINES: Final = 32
"""Shorter runs stay in place (a few lines are not worth a marker)."""
_BREAK: Final = re.compile(rb"[^A-Za-z0-9+/=\r\n]|\r(?!\n)|\n\r?\n|^\r?\n", re.MULTILINE)
"""What cannot be inside a run: a byte outside the alphabet, a bare CR, an empty line.
(A regex for whole runs of lines would keep state per line matched: megabytes.)"""
_FEED_BLOCK: Final = 64 * 1024
_PIECE: Final = 64 * 1024
"""How many characters of a run :func:`payload_pieces` gives at a time."""


@dataclass(frozen=True)
class Skeleton:
    """The parsed skeleton, the content, and each marker's run (its start and end in
    the content, without the run's last line ending)."""

    message: EmailMessage
    content: bytes
    runs: dict[str, tuple[int, int]]
    marker: re.Pattern[str]


def skeleton(content: bytes) -> Skeleton:
    """``content`` parsed with the long base64-alphabet runs stood in for (module
    docstring)."""
    prefix = b"Zz9SmtpHilRun"
    while prefix in content:
        prefix += b"Z"
    pieces: list[bytes] = []
    runs: dict[str, tuple[int, int]] = {}
    at = 0
    for start, end in _runs(content):
        ending = b"\r\n" if content.endswith(b"\r\n", start, end) else b"\n"
        name = prefix + b"%08d" % len(runs) + b"Zz"
        runs[name.decode("ascii")] = (start, end - len(ending))
        pieces += [content[at:start], name, ending]
        at = end
    pieces.append(content[at:])
    parser = email.feedparser.BytesFeedParser(_factory=EmailMessage,
                                              policy=email.policy.default)
    for piece in pieces:
        for start in range(0, len(piece), _FEED_BLOCK):
            parser.feed(piece[start:start + _FEED_BLOCK])
    message = parser.close()
    assert isinstance(message, EmailMessage)  # the factory's class
    marker = re.compile(re.escape(prefix.decode("ascii")) + r"\d{8}Zz")
    return Skeleton(message, content, runs, marker)


def _runs(content: bytes) -> Iterator[tuple[int, int]]:
    """Where the runs are: from the start of a run's first line to the end of its last
    line ending, each line made only of the alphabet and ending in LF or CRLF."""
    at, size = 0, len(content)
    while at < size:
        found = _BREAK.search(content, at)
        stop = size if found is None else found.start()
        end = content.rfind(b"\n", at, stop) + 1  # the lines before the break's line
        if end > at and content.count(b"\n", at, end) >= RUN_LINES:
            yield at, end
        if found is None:
            return
        after = content.find(b"\n", found.start()) + 1  # the line after the break's
        if after == 0:
            return
        at = after


def payload_pieces(shape: Skeleton, part: Message) -> Iterator[str]:
    """The text of ``part``'s payload (a leaf part of ``shape.message``) as the email
    package holds it for the content itself, in pieces."""
    payload = part.get_payload()
    assert isinstance(payload, str), "a leaf part"
    at = 0
    for found in shape.marker.finditer(payload):
        start, end = shape.runs[found.group()]
        yield payload[at:found.start()]
        for piece in range(start, end, _PIECE):
            yield shape.content[piece:min(piece + _PIECE, end)].decode("ascii")
        at = found.end()
    yield payload[at:]


def full_payload(shape: Skeleton, part: Message) -> None:
    """Put the runs back into ``part``'s payload (for the email package's decoding of
    the whole of it: a text part, or an attachment that is not strictly base64)."""
    payload = part.get_payload()
    if isinstance(payload, str) and shape.marker.search(payload):
        part.set_payload("".join(payload_pieces(shape, part)))
