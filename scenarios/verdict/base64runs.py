"""Where a mail's long runs of base64-alphabet lines are, read block by block.

A run is at least :data:`RUN_LINES` consecutive lines, each made only of ``A-Z a-z 0-9
+ / =`` and ending in LF or CRLF, none of them empty, the run not followed by an empty
line (the line before an empty line is left out). :func:`runs` finds them in a
:class:`~scenarios.server.spool.MailContent` without holding it: it reads windows of
whole lines (about :data:`WINDOW` bytes each) and carries an open run from one window to
the next. A line longer than a window is taken as the end of a run (it is skipped, not
held): the runs found are then a subset of the runs of the whole content, which is all
:mod:`scenarios.verdict.mimeskeleton` needs (any run it stands a marker in for keeps the
parse's shape; a run it does not know stays in the parse).

This module knows bytes and the spool; nothing of the email package or verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Literal

from scenarios.server.spool import MailContent

RUN_LINES: Final = 32
"""Shorter runs stay in place (a few lines are not worth a marker)."""
WINDOW: Final = 1 << 18
"""About how many bytes :func:`runs` reads at a time (and the longest line it follows)."""
_BREAK: Final = re.compile(rb"[^A-Za-z0-9+/=\r\n]|\r(?!\n)|\n\r?\n|^\r?\n", re.MULTILINE)
"""What cannot be inside a run: a byte outside the alphabet, a bare CR, an empty line.
(A regex for whole runs of lines would keep state per line matched: megabytes.)"""
_EMPTY_LINE: Final = (b"\n", b"\r\n")
Piece = tuple[Literal["lines", "long", "end"], int, bytes]


def runs(content: MailContent, window: int = WINDOW) -> Iterator[tuple[int, int]]:
    """The runs of ``content``: from the start of a run's first line to the end of its
    last line ending, in order."""
    scan = _RunScan()
    for kind, base, text in _pieces(content, window):
        if kind == "long":
            yield from scan.close()
        else:
            yield from scan.window(base, text, final=kind == "end")


def contains(content: MailContent, needle: bytes) -> bool:
    """Whether ``needle`` occurs in ``content``."""
    return content.find(needle) >= 0


def _pieces(content: MailContent, window: int) -> Iterator[Piece]:
    """Windows of whole lines (``"lines"``), a line too long to follow (``"long"``: it
    is skipped up to its line end), and what is left after the last line end
    (``"end"``), each with its offset in the content."""
    carry, carry_at, skipping = b"", 0, False
    for at in range(0, len(content), window):
        block = content.read(at, at + window)
        if skipping:
            line_end = block.find(b"\n")
            if line_end < 0:
                continue
            block, carry_at, skipping = block[line_end + 1:], at + line_end + 1, False
        text = carry + block
        cut = text.rfind(b"\n") + 1
        if cut:
            yield "lines", carry_at, text[:cut]
            carry, carry_at = text[cut:], carry_at + cut
        else:
            carry = text
        if len(carry) > window:
            yield "long", carry_at, b""
            carry, skipping = b"", True
    yield "end", carry_at, b"" if skipping else carry


class _RunScan:
    """The open run (the clean lines since the last break) carried across windows."""

    def __init__(self) -> None:
        self.lines = 0
        self.start = self.end = self.last_line = 0

    def close(self) -> Iterator[tuple[int, int]]:
        if self.lines >= RUN_LINES:
            yield self.start, self.end
        self.lines = 0

    def window(self, base: int, text: bytes, final: bool) -> Iterator[tuple[int, int]]:
        """One window of whole lines at ``base`` (``final``: the content's last bytes,
        which need not end a line)."""
        if self.lines and text.startswith(_EMPTY_LINE):
            # the run's last line is followed by an empty line: it is not in the run
            self.lines -= 1
            self.end = self.last_line
        pos = 0
        while True:
            found = _BREAK.search(text, pos)
            stop = len(text) if found is None else found.start()
            end = text.rfind(b"\n", pos, stop) + 1
            if end > pos:
                if not self.lines:
                    self.start = base + pos
                self.lines += text.count(b"\n", pos, end)
                self.last_line = base + max(pos, text.rfind(b"\n", pos, end - 1) + 1)
                self.end = base + end
            if found is None:
                if final:
                    yield from self.close()
                return
            yield from self.close()
            after = text.find(b"\n", found.start()) + 1
            if after == 0:
                return
            pos = after
