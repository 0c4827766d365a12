"""Replies too large to write out: generated as the socket takes them.

A hostile server's reply may be 10,000 continuation lines, a 100 MB line or a 1 MB AUTH
challenge (hostile-servers.md rows 29 to 32). :class:`GeneratedReply` describes one and
produces its bytes in chunks (:meth:`GeneratedReply.chunks`), so neither a scenario file
nor the server's memory ever holds it whole: a client that hangs up after 512 octets
costs the server one chunk. The kinds:

- ``lines``: ``head``, then ``line`` ``count`` times, then ``tail`` (each with CRLF;
  without ``tail`` the reply never ends);
- ``long_line``: ``prefix``, then ``fill`` (one character) ``size`` times, then CRLF
  unless ``crlf`` is false;
- ``challenge``: ``prefix`` (``334 ``), then the base64 of ``decoded_size`` octets (a
  fixed 48-octet pattern repeated), then CRLF.

This module knows bytes; nothing about sockets, engines or scenario files.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

GenerateKind: TypeAlias = Literal["lines", "long_line", "challenge"]
GENERATE_KINDS: Final[tuple[str, ...]] = get_args(GenerateKind)
CHUNK: Final = 64 * 1024
"""Bytes per chunk (a multiple of 4, so challenge chunks are whole base64 quanta)."""
MAX_SIZE: Final = 1 << 30
"""The largest generated reply: 1 GiB."""
MAX_COUNT: Final = 10_000_000
_PATTERN: Final = bytes(range(0x30, 0x60))
"""48 octets (a multiple of 3: the base64 of the pattern repeated is its base64 repeated)."""
_CRLF: Final = b"\r\n"


def _line_bytes(field: str, text: str) -> bytes:
    if not isinstance(text, str) or "\r" in text or "\n" in text:
        raise ValueError(f"GeneratedReply.{field}: expected one line of text, got {text!r}")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"GeneratedReply.{field}: expected ASCII text, got {text!r}") from None


@dataclass(frozen=True)
class GeneratedReply:
    """A reply made on the fly (see the module docstring); validated on construction."""

    kind: GenerateKind
    head: str | None = None
    line: str = "250-X"
    count: int = 0
    tail: str | None = None
    prefix: str = ""
    fill: str = "A"
    size: int = 0
    crlf: bool = True
    decoded_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in GENERATE_KINDS:
            raise ValueError(f"GeneratedReply.kind: expected one of {', '.join(GENERATE_KINDS)}, "
                             f"got {self.kind!r}")
        for name in ("head", "tail"):
            value = getattr(self, name)
            if value is not None:
                _line_bytes(name, value)
        _line_bytes("line", self.line)
        _line_bytes("prefix", self.prefix)
        if not isinstance(self.fill, str) or len(self.fill) != 1 or not self.fill.isprintable() \
                or not self.fill.isascii():
            raise ValueError(f"GeneratedReply.fill: expected one printable ASCII character, "
                             f"got {self.fill!r}")
        for name, top in (("count", MAX_COUNT), ("size", MAX_SIZE), ("decoded_size", MAX_SIZE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ValueError(f"GeneratedReply.{name}: expected an integer 0..{top}, "
                                 f"got {value!r}")
        if self.total == 0:
            field = {"lines": "count", "long_line": "size"}[self.kind]
            raise ValueError(f"GeneratedReply.{field}: the reply would be empty")

    @property
    def total(self) -> int:
        """How many octets the whole reply has."""
        if self.kind == "lines":
            head = len(self.head) + 2 if self.head is not None else 0
            tail = len(self.tail) + 2 if self.tail is not None else 0
            return head + self.count * (len(self.line) + 2) + tail
        if self.kind == "long_line":
            return len(self.prefix) + self.size + (2 if self.crlf else 0)
        return len(self.prefix) + 4 * ((self.decoded_size + 2) // 3) + 2

    def chunks(self) -> Iterator[bytes]:
        """The reply, in chunks of at most :data:`CHUNK` octets, made as they are taken."""
        pending = bytearray()
        for piece in self._pieces():
            pending += piece
            while len(pending) >= CHUNK:
                yield bytes(pending[:CHUNK])
                del pending[:CHUNK]
        if pending:
            yield bytes(pending)

    def start(self, octets: int = 64) -> bytes:
        """The first ``octets`` of the reply (what the engine takes for its first line)."""
        out = bytearray()
        for chunk in self.chunks():
            out += chunk
            if len(out) >= octets:
                break
        return bytes(out[:octets])

    def describe(self) -> str:
        """``generated 104857604 octets: "250 AAAA…", no CRLF`` (for transcripts)."""
        shown = self.start(12).decode("ascii").replace("\r\n", "\\r\\n")
        end = {"lines": "no final line" if self.tail is None else "ends with a final line",
               "long_line": "with CRLF" if self.crlf else "no CRLF",
               "challenge": "with CRLF"}[self.kind]
        return f'generated {self.total} octets: "{shown}…", {end}'

    def _pieces(self) -> Iterator[bytes]:
        if self.kind == "lines":
            if self.head is not None:
                yield _line_bytes("head", self.head) + _CRLF
            line = _line_bytes("line", self.line) + _CRLF
            per_chunk = max(1, CHUNK // len(line))
            left = self.count
            while left:
                take = min(left, per_chunk)
                yield line * take
                left -= take
            if self.tail is not None:
                yield _line_bytes("tail", self.tail) + _CRLF
        elif self.kind == "long_line":
            yield _line_bytes("prefix", self.prefix)
            fill = self.fill.encode("ascii")
            left = self.size
            while left:
                take = min(left, CHUNK)
                yield fill * take
                left -= take
            if self.crlf:
                yield _CRLF
        else:
            yield _line_bytes("prefix", self.prefix)
            block = _PATTERN * (CHUNK // 4 * 3 // len(_PATTERN))  # decodes to < CHUNK
            left = self.decoded_size
            while left:
                take = min(left, len(block))
                yield base64.b64encode(block[:take])
                left -= take
            yield _CRLF


class GeneratedStream:
    """A generated reply on its way out: the chunk under way, how much the socket took,
    and a running SHA-256 of it (the trace records that, never the bytes)."""

    def __init__(self, reply: GeneratedReply) -> None:
        self.reply = reply
        self._chunks = reply.chunks()
        self._pending = b""
        self._hash = hashlib.sha256()
        self.sent = 0
        self.done = False
        self._next()

    def pending(self) -> bytes:
        """What to write next (never empty while not ``done``)."""
        return self._pending

    def took(self, count: int) -> None:
        """The socket took ``count`` octets of :meth:`pending`."""
        self._hash.update(self._pending[:count])
        self.sent += count
        self._pending = self._pending[count:]
        if not self._pending:
            self._next()

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _next(self) -> None:
        self._pending = next(self._chunks, b"")
        self.done = not self._pending
