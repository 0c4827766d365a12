"""A received mail's MIME structure without its bulk: the email package's parse of the
content with every long run of base64-alphabet lines stood in for by one marker line.

The verdict needs the structure (which part is the text body, which are attachments)
and each part's payload once, in order. The email package's parse holds every line of
a 20 MiB attachment as a string, then joins them (about four times the attachment at
the peak). :func:`skeleton` parses a copy of the content in which each run of at least
:data:`~scenarios.verdict.base64runs.RUN_LINES` lines made only of ``A-Z a-z 0-9 + / =``
is one marker line (made of the same alphabet, found nowhere in the content), and keeps
where each run was.

Why the parse keeps its shape: the email package's line-based parser decides by the
class of each line, and every such line, the marker included, is in one class: it is
not a header (no colon, no leading blank, not ``From ``), not a boundary (no leading
``--``), not empty. So the skeleton's tree is the content's tree, each marker standing
where its run was, with the run's last line ending after it. :func:`payload_pieces`
gives a part's payload back as the text the email package would have held, piece by
piece; :func:`full_payload` puts it back into the part for the email package's own
decoding. Runs ending in a bare CR are not replaced (the parse is then as before).

The content is read in blocks from its :class:`~scenarios.server.spool.MailContent`
(where the runs are: :mod:`scenarios.verdict.base64runs`), so neither the content nor
a copy of it is in memory at once.

This module knows the email package and bytes; nothing of runs or verdicts.
"""

from __future__ import annotations

import email.feedparser
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Final

from scenarios.server.readpolicy import READ_POLICY
from scenarios.server.spool import MailContent
from scenarios.verdict.base64runs import contains, runs

_FEED_BLOCK: Final = 64 * 1024
_PIECE: Final = 64 * 1024
"""How many characters of a run :func:`payload_pieces` gives at a time."""


@dataclass(frozen=True)
class Skeleton:
    """The parsed skeleton, the content, and each marker's run (its start and end in
    the content, without the run's last line ending)."""

    message: EmailMessage
    content: MailContent
    runs: dict[str, tuple[int, int]]
    marker: re.Pattern[str]


def skeleton(content: MailContent | bytes) -> Skeleton:
    """``content`` parsed with the long base64-alphabet runs stood in for (module
    docstring)."""
    stored = content if isinstance(content, MailContent) else MailContent.of(content)
    prefix = b"Zz9SmtpHilRun"
    while contains(stored, prefix):
        prefix += b"Z"
    parser = email.feedparser.BytesFeedParser(_factory=EmailMessage, policy=READ_POLICY)
    found: dict[str, tuple[int, int]] = {}
    at = 0
    for start, end in runs(stored):
        ending = b"\r\n" if stored.read(end - 2, end) == b"\r\n" else b"\n"
        name = prefix + b"%08d" % len(found) + b"Zz"
        found[name.decode("ascii")] = (start, end - len(ending))
        for block in stored.blocks(at, start, _FEED_BLOCK):
            parser.feed(block)
        parser.feed(name)
        parser.feed(ending)
        at = end
    for block in stored.blocks(at, None, _FEED_BLOCK):
        parser.feed(block)
    message = parser.close()
    assert isinstance(message, EmailMessage)  # the factory's class
    marker = re.compile(re.escape(prefix.decode("ascii")) + r"\d{8}Zz")
    return Skeleton(message, stored, found, marker)


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
            yield shape.content.read(piece, min(piece + _PIECE, end)).decode("ascii")
        at = found.end()
    yield payload[at:]


def full_payload(shape: Skeleton, part: Message) -> None:
    """Put the runs back into ``part``'s payload (for the email package's decoding of
    the whole of it: a text part, or an attachment that is not strictly base64)."""
    payload = part.get_payload()
    if isinstance(payload, str) and shape.marker.search(payload):
        part.set_payload("".join(payload_pieces(shape, part)))
