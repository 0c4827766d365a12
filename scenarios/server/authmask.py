"""Which bytes of an SMTP dialogue are credentials, so that views can hide them.

:class:`CredentialFinder` follows one connection as its server sees it: the client's
bytes (:meth:`~CredentialFinder.client`, split anywhere) and the server's
(:meth:`~CredentialFinder.server`), in the order they happened. For each piece of client
bytes it returns the spans that are credentials:

* the initial response of an AUTH command (``AUTH PLAIN <here>``, ``AUTH XOAUTH2 <here>``,
  ``AUTH LOGIN <user name>``; every mechanism, ANONYMOUS included);
* every line the client sends while an AUTH exchange is open: from the AUTH command (or a
  334 challenge) until the server's next final reply that is not 334. That is the LOGIN
  user name and password lines, the CRAM-MD5 response (a user name and an HMAC a
  dictionary attack can turn back into the password), the XOAUTH2 line after its error
  challenge, a ``*`` that cancels. A line a client pipelines right behind its AUTH
  command is taken as the server takes it: as the response, hidden.

The line ends stay visible; only the text is hidden. DATA content (after the server's
354, until CRLF . CRLF) and BDAT chunks (the announced number of octets) are framed as
the scripted engine frames them and never examined, so a mail body is never hidden and
a 10 MiB mail costs one ``bytes.find``. After a completed STARTTLS the connection starts
again (:meth:`~CredentialFinder.restart`), as the engine does.

The spans are for views: :func:`blank` keeps the length (pcap, trace lines: sequence
numbers stay right), :func:`with_markers` says what was there
(``AUTH PLAIN <credentials hidden, 28 bytes>``) for transcripts.

This module knows SMTP framing and AUTH (RFC 4954); it knows nothing about traces,
sockets, files or how a view is written.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Final, TypeAlias

Span: TypeAlias = tuple[int, int]
"""``(start, end)``: ``data[start:end]`` is a credential."""

HEAD_LIMIT: Final = 64
"""How much of a command line is kept to recognise it (AUTH, DATA, BDAT)."""
MECHANISM_LIMIT: Final = 40
"""RFC 4422 3.1: a SASL mechanism name has at most 20 characters. Past this many, what
follows ``AUTH`` is taken as a credential rather than waited on."""
_TERMINATOR: Final = b"\r\n.\r\n"
_BDAT_ARGUMENT: Final = re.compile(r"(\d{1,18})(?: +LAST)? *", re.IGNORECASE)
"""As the scripted engine reads a BDAT argument (``scenarios.server.engine``)."""


class _Mode(enum.Enum):
    COMMAND = "command"  # CRLF lines: commands, or SASL responses while AUTH is open
    CONTENT = "content"  # DATA content until CRLF . CRLF
    CHUNK = "chunk"  # BDAT: exactly the announced number of octets


def marker(length: int) -> bytes:
    """What a transcript shows instead of ``length`` bytes of credentials."""
    return f"<credentials hidden, {length} bytes>".encode("ascii")


def blank(data: bytes, spans: Sequence[Span]) -> bytes:
    """``data`` with every span overwritten by ``*`` (same length)."""
    if not spans:
        return data
    out = bytearray(data)
    for start, end in spans:
        out[start:end] = b"*" * (end - start)
    return bytes(out)


def with_markers(data: bytes, spans: Sequence[Span]) -> bytes:
    """``data`` with every span replaced by :func:`marker` of its length."""
    if not spans:
        return data
    out = bytearray()
    last = 0
    for start, end in spans:
        out += data[last:start] + marker(end - start)
        last = end
    return bytes(out + data[last:])


def hide_credentials(client_bytes: bytes) -> bytes:
    """Client bytes seen on their own (no server replies), with the credentials marked:
    for a short excerpt such as the plaintext a client sent before TLS."""
    return with_markers(client_bytes, CredentialFinder().client(client_bytes))


class CredentialFinder:
    """Follows one connection and tells which client bytes are credentials (see the
    module docstring). ``client`` and ``server`` never raise, whatever the bytes."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Forget everything: TLS is up, and the client starts again from its EHLO
        (RFC 3207 4.2)."""
        self._mode = _Mode.COMMAND
        self._auth_open = False
        self._data_pending = False
        self._chunk_left = 0
        self._tail = b""
        self._reply_head = bytearray()
        self._head = bytearray()
        self._seen = 0
        self._secret_from: int | None = None
        self._decided = False
        self._auth_line = False
        self._response = False

    # --- client bytes --------------------------------------------------------------------
    def client(self, data: bytes) -> tuple[Span, ...]:
        """The spans of ``data`` (the client's next bytes) that are credentials."""
        spans: list[Span] = []
        i, n = 0, len(data)
        while i < n:
            if self._mode is _Mode.CHUNK:
                take = min(self._chunk_left, n - i)
                i += take
                self._chunk_left -= take
                if not self._chunk_left:
                    self._mode = _Mode.COMMAND
            elif self._mode is _Mode.CONTENT:
                i = self._skip_content(data, i)
            else:
                end = data.find(b"\n", i)
                stop = n if end < 0 else end + 1
                span = self._command_piece(data, i, stop, complete=end >= 0)
                if span is not None:
                    spans.append(span)
                i = stop
        return tuple(spans)

    def _skip_content(self, data: bytes, i: int) -> int:
        """Past the end of the content if it is in ``data[i:]`` (then COMMAND mode), else
        the end of ``data``."""
        junction = self._tail + data[i:i + len(_TERMINATOR) - 1]
        found = junction.find(_TERMINATOR)
        if found >= 0:
            end = i + found + len(_TERMINATOR) - len(self._tail)
        else:
            found = data.find(_TERMINATOR, i)
            end = found + len(_TERMINATOR) if found >= 0 else -1
        if end < 0:
            self._tail = (self._tail + data[i:])[-(len(_TERMINATOR) - 1):]
            return len(data)
        self._mode, self._tail = _Mode.COMMAND, b""
        return end

    def _command_piece(self, data: bytes, start: int, stop: int, complete: bool
                       ) -> Span | None:
        """One piece of a command line (``complete``: it ends the line)."""
        line_pos = self._seen
        if line_pos == 0 and self._auth_open:
            self._response, self._secret_from, self._decided = True, 0, True
        if len(self._head) < HEAD_LIMIT:
            self._head += data[start:min(stop, start + HEAD_LIMIT - len(self._head))]
        if not self._decided:
            self._classify(complete)
        self._seen += stop - start
        span = None
        if self._secret_from is not None:
            body_end = stop
            if complete:
                body_end -= 2 if data[max(start, stop - 2):stop] == b"\r\n" else 1
            elif data[stop - 1:stop] == b"\r":
                body_end -= 1  # most likely the line end, its LF in the next piece
            first = start + max(0, self._secret_from - line_pos)
            if body_end > first:
                span = (first, body_end)
        if complete:
            self._end_line()
        return span

    def _classify(self, complete: bool) -> None:
        """Decide from the head of the line whether (and where) it holds a credential."""
        head = bytes(self._head)
        verb = head[:5].upper()
        if len(head) < 5:
            self._decided = complete or not b"AUTH ".startswith(verb)
            return
        if verb != b"AUTH ":
            self._decided = True
            return
        self._auth_line = True
        at = 5
        while at < len(head) and head[at:at + 1] == b" ":
            at += 1
        mechanism = at
        while at < len(head) and head[at:at + 1] not in (b" ", b"\r", b"\n"):
            at += 1
        if at - mechanism > MECHANISM_LIMIT:
            self._secret_from, self._decided = mechanism + MECHANISM_LIMIT, True
        elif at < len(head) and head[at:at + 1] == b" ":
            while at < len(head) and head[at:at + 1] == b" ":
                at += 1
            self._secret_from, self._decided = at, True
        elif at < len(head) or complete:
            self._decided = True  # no initial response: nothing secret on this line

    def _end_line(self) -> None:
        if self._auth_line:
            self._auth_open = True
        elif not self._response and self._seen == len(self._head):
            self._framing(bytes(self._head))
        self._head.clear()
        self._seen = 0
        self._secret_from = None
        self._decided = self._auth_line = self._response = False

    def _framing(self, line: bytes) -> None:
        """DATA waits for the server's 354; BDAT's octets follow at once."""
        body = line[:-1].removesuffix(b"\r")
        verb, _, argument = body.decode("latin-1").partition(" ")
        if verb.upper() == "DATA" and not argument.strip():
            self._data_pending = True
        elif verb.upper() == "BDAT" and (match := _BDAT_ARGUMENT.fullmatch(argument)):
            self._chunk_left = int(match[1])
            if self._chunk_left:
                self._mode = _Mode.CHUNK

    # --- server bytes --------------------------------------------------------------------
    def server(self, data: bytes) -> None:
        """The server's next bytes: its final replies open and close AUTH exchanges and
        start DATA content."""
        i, n = 0, len(data)
        while i < n:
            end = data.find(b"\n", i)
            stop = n if end < 0 else end + 1
            if len(self._reply_head) < 4:
                self._reply_head += data[i:min(stop, i + 4 - len(self._reply_head))]
            if end >= 0:
                self._reply_line(bytes(self._reply_head))
                self._reply_head.clear()
            i = stop

    def _reply_line(self, head: bytes) -> None:
        code, separator = head[:3], head[3:4]
        if not code.isdigit() or separator == b"-":
            return  # a continuation line (or not a reply at all)
        if code == b"334":
            self._auth_open = True
            return
        self._auth_open = False
        if code == b"354" and self._data_pending:
            self._data_pending = False
            self._mode, self._tail = _Mode.CONTENT, b"\r\n"
