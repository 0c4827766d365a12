"""SMTP replies: the ``Reply`` value and a strict, bounded, streaming ``ReplyParser``.

The parser turns bytes from the server into replies (RFC 5321 section 4.2). It accepts
only what the grammar allows and reports everything else as a ``RemoteProtocolError``
with a plain reason; it never raises anything else, whatever the bytes.

Rules (see shared/reference/hostile-servers.md rows 14-18, 21, 29 and 30):

- A line is a reply code ``[2-5][0-5][0-9]`` followed by SP, ``-`` or the end of the
  line. ``250`` alone is a valid final line with no text; ``25``, an empty line, ``2x0``,
  ``099``, ``650``, ``250_ok``, ``250ok`` and ``-250`` are errors.
- Every line of a multi-line reply carries the same code.
- Lines end with CRLF; a bare LF is tolerated as a line end (a CR right before it is
  stripped). Any other CR inside a line is an error ("bare CR in reply").
- A line is at most ``max_line_length`` octets including its terminator (512 by default,
  RFC 5321 4.5.3.1.5; the client raises it while it authenticates, so a challenge as
  long as :data:`smtp.auth.MAX_CHALLENGE` fits). The limit is checked on the partial line
  as bytes arrive, so an endless line is never buffered; the error
  (:class:`ReplyLineTooLong`) keeps the line's first octets, so the client can tell an
  oversized AUTH challenge from other junk. A reply has at most ``max_lines`` lines.
- Text bytes are never an error: they are decoded as latin-1, and control characters
  (C0 except TAB, DEL, C1) become ``?`` so the text is safe to log or show.

Replies may be split at any byte, and several may arrive in one ``feed``. After an error
the parser stays broken: every later ``next_reply`` raises the same error. Replies that
were complete before the malformed bytes are still returned first, in order.

This module knows nothing about commands, sessions, sockets or time.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Final

from smtp.errors import RemoteProtocolError

DEFAULT_MAX_LINE_LENGTH: Final = 512
"""RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including CRLF."""
DEFAULT_MAX_LINES: Final = 100

_ENHANCED_RE: Final = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")
_CONTROL_BYTES: Final = bytes([*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)])
_SANITIZE: Final = bytes.maketrans(_CONTROL_BYTES, b"?" * len(_CONTROL_BYTES))
_FIRST_DIGITS: Final = frozenset(b"2345")
_SECOND_DIGITS: Final = frozenset(b"012345")
_THIRD_DIGITS: Final = frozenset(b"0123456789")
_SP: Final = 0x20
_DASH: Final = 0x2D


class ReplyLineTooLong(RemoteProtocolError):
    """A reply line over the parser's limit; ``line_start``: its first (up to 4) octets."""

    def __init__(self, limit: int, line_start: bytes) -> None:
        super().__init__(f"reply line longer than {limit} octets")
        self.limit = limit
        self.line_start = line_start


@dataclass(frozen=True)
class Reply:
    """One complete server reply: its code and the text of each line (sanitised)."""

    code: int
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 999:
            raise ValueError(f"Reply.code must be a three-digit number, got {self.code!r}")
        if not self.lines:
            raise ValueError("Reply.lines must hold at least one line (it may be '')")
        for line in self.lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"Reply.lines must not contain CR or LF, got {line!r}")

    @property
    def text(self) -> str:
        """The text of all lines, joined with newlines."""
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> tuple[int, int, int] | None:
        """The RFC 3463 status code at the start of the first line, if it matches the code."""
        if self.code // 100 not in (2, 4, 5):
            return None
        match = _ENHANCED_RE.match(self.lines[0])
        if match is None or int(match.group(1)) != self.code // 100:
            return None
        return (int(match.group(1)), int(match.group(2)), int(match.group(3)))

    @property
    def is_positive_completion(self) -> bool:
        """2xx: the command succeeded."""
        return 200 <= self.code <= 299

    @property
    def is_intermediate(self) -> bool:
        """3xx: the server waits for more (354 after DATA, 334 during AUTH)."""
        return 300 <= self.code <= 399

    @property
    def is_transient(self) -> bool:
        """4xx: failed for now; the same command may work later."""
        return 400 <= self.code <= 499

    @property
    def is_permanent(self) -> bool:
        """5xx: failed; repeating the command will not help."""
        return 500 <= self.code <= 599

    def encode(self) -> bytes:
        """The reply as a server writes it: ``250-a\\r\\n250 b\\r\\n`` (latin-1)."""
        out = bytearray()
        last = len(self.lines) - 1
        for index, line in enumerate(self.lines):
            if index < last:
                text = f"{self.code:03d}-{line}"
            else:
                text = f"{self.code:03d} {line}" if line else f"{self.code:03d}"
            out += text.encode("latin-1", errors="replace") + b"\r\n"
        return bytes(out)

    def __str__(self) -> str:
        first = self.lines[0]
        return f"{self.code:03d} {first}" if first else f"{self.code:03d}"


class ReplyParser:
    """Bytes in, ``Reply`` objects out. Sans-I/O; bounded memory per partial line."""

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 1:
            raise ValueError(f"max_lines must be an int of at least 1, got {max_lines!r}")
        self._max_line_length = _checked_line_length(max_line_length)
        self._max_lines = max_lines
        self._partial = bytearray()
        self._code: int | None = None
        self._lines: list[str] = []
        self._ready: deque[tuple[Reply, int]] = deque()
        self._current_bytes = 0
        self._pending = 0
        self._failure: RemoteProtocolError | None = None
        self._failure_raised = False

    @property
    def max_line_length(self) -> int:
        """The longest line accepted, terminator included; settable between feeds (the
        line being read is held to the new limit from the next byte on)."""
        return self._max_line_length

    @max_line_length.setter
    def max_line_length(self, value: int) -> None:
        self._max_line_length = _checked_line_length(value)

    # -- input --------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take bytes from the server. Never raises; errors surface in ``next_reply``."""
        self._pending += len(data)
        if self._failure is not None:
            return
        start = 0
        end = len(data)
        while start < end:
            newline = data.find(b"\n", start)
            if newline < 0:
                if len(self._partial) + (end - start) >= self._max_line_length:
                    self._too_long(data[start:start + 4])
                else:
                    self._partial += data[start:]
                return
            line_length = len(self._partial) + newline + 1 - start
            if line_length > self._max_line_length:
                self._too_long(data[start:start + 4])
                return
            if self._partial:
                self._partial += data[start : newline + 1]
                line = bytes(self._partial)
                self._partial.clear()
            else:
                line = data[start : newline + 1]
            start = newline + 1
            self._take_line(line)
            if self._failure is not None:
                return

    # -- output -------------------------------------------------------------------------

    def next_reply(self) -> Reply | None:
        """The next complete reply, or None if more bytes are needed.

        Raises RemoteProtocolError if the bytes after the last returned reply are
        malformed, and again on every later call.
        """
        if self._ready:
            reply, size = self._ready.popleft()
            self._pending -= size
            return reply
        if self._failure is not None:
            self._failure_raised = True
            raise self._failure.with_traceback(None)
        return None

    def pending_bytes(self) -> int:
        """Bytes received but not yet returned as a reply (complete replies included).

        After the 220 reply to STARTTLS this must be 0 (RFC 3207 section 4.2); anything
        else is plaintext the server sent before the handshake.
        """
        return self._pending

    def discard_buffer(self) -> int:
        """Forget every byte not yet returned as a reply; return how many there were.

        A malformed tail whose error ``next_reply`` has not raised yet is forgotten with
        its bytes; an error already raised stays.
        """
        dropped = self._pending
        self._pending = 0
        self._partial.clear()
        self._ready.clear()
        self._reset_current()
        if not self._failure_raised:
            self._failure = None
        return dropped

    # -- internals ----------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        self._set_failure(RemoteProtocolError(reason))

    def _too_long(self, tail_start: bytes) -> None:
        line_start = (bytes(self._partial[:4]) + tail_start)[:4]
        self._set_failure(ReplyLineTooLong(self._max_line_length, line_start))

    def _set_failure(self, failure: RemoteProtocolError) -> None:
        self._failure = failure
        self._partial.clear()
        self._reset_current()

    def _reset_current(self) -> None:
        self._code = None
        self._lines = []
        self._current_bytes = 0

    def _take_line(self, line: bytes) -> None:
        """Handle one line, terminator (LF, maybe CR before it) still attached."""
        body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if b"\r" in body:
            self._fail("bare CR in reply")
            return
        if len(body) < 3:
            what = "empty reply line" if not body else f"reply line too short: {body!r}"
            self._fail(what)
            return
        if (
            body[0] not in _FIRST_DIGITS
            or body[1] not in _SECOND_DIGITS
            or body[2] not in _THIRD_DIGITS
        ):
            self._fail(f"bad reply code {body[:3]!r}: expected [2-5][0-5][0-9]")
            return
        code_text = body[:3].decode("ascii")
        if len(body) == 3 or body[3] == _SP:
            final = True
        elif body[3] == _DASH:
            final = False
        else:
            self._fail(f"reply code {code_text} not followed by space, '-' or end of line")
            return
        code = int(code_text)
        if self._code is not None and code != self._code:
            self._fail(f"mixed reply codes in one reply: {self._code:03d} then {code:03d}")
            return
        self._code = code
        self._lines.append(body[4:].translate(_SANITIZE).decode("latin-1"))
        self._current_bytes += len(line)
        if final:
            self._ready.append((Reply(code, tuple(self._lines)), self._current_bytes))
            self._reset_current()
        elif len(self._lines) >= self._max_lines:
            self._fail(f"reply has more than {self._max_lines} lines")


def _checked_line_length(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_line_length must be an int, got {value!r}")
    if value < 5:
        raise ValueError(
            f"max_line_length must be at least 5 (room for '250\\r\\n'), got {value}")
    return value
