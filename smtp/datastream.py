"""Message content on the wire: CRLF normalisation, dot-stuffing, BDAT chunks, SIZE.

All transforms stream: they keep a few bits of state between chunks and no buffer that
grows with the message, so a body of any size goes through in constant memory (the
``BdatChunker`` holds at most one chunk).

Normalisation: CRLF, a lone CR and a lone LF each count as ONE line break and each
becomes CRLF, so ``b"\\r\\r\\n"`` is two breaks. A CR at the end of a chunk is emitted as
CRLF at once and an LF at the start of the next chunk is then swallowed, so chunk
boundaries never change the result. After normalisation no bare CR or LF exists; this is
what makes SMTP smuggling (hostile-servers.md row 23) impossible through this client.

DATA (``DotStuffer``): normalise, then dot-stuff (a line starting with '.' gets another
'.'), then terminate: CRLF if the data did not end with a line break, then ``.\\r\\n``.
The only ``\\r\\n.\\r\\n`` in the stream is the terminator; an empty body is just
``.\\r\\n`` (the CRLF of the DATA command line precedes it).

NUL bytes pass through unchanged. They cannot form or hide a terminator: after
normalisation ``\\r\\n\\x00.\\r\\n`` is a line "\\x00." which does not start with a dot.
Whether a server accepts NUL is its business; the client does not rewrite content.

BDAT (``BdatChunker``, RFC 3030): normalised, no stuffing, no terminator, exact counts.

SIZE (``SizeCounter``, RFC 1870): the octets of the message as the server stores it:
normalised, with the CRLF that DATA adds to an unterminated last line, without stuffing
dots and without the terminator.

This module knows nothing about commands, replies, sockets or time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from smtp.errors import SmtpInputError

_CRLF = b"\r\n"
_TERMINATOR = b".\r\n"


class CrlfNormalizer:
    """Streaming line-break normalisation: CRLF, lone CR and lone LF all become CRLF."""

    def __init__(self) -> None:
        self._swallow_lf = False

    def feed(self, chunk: bytes) -> bytes:
        """Normalise one chunk; the output always holds whole CRLF pairs."""
        if not chunk:
            return b""
        if self._swallow_lf and chunk[0] == 0x0A:
            chunk = chunk[1:]
            if not chunk:
                self._swallow_lf = False
                return b""
        self._swallow_lf = chunk[-1] == 0x0D
        if b"\r" not in chunk and b"\n" not in chunk:
            return bytes(chunk)
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")

    def finish(self) -> bytes:
        """Nothing is ever held back; returns b"" and resets for reuse."""
        self._swallow_lf = False
        return b""


class _LineLengthCheck:
    """Counts octets per normalised line and raises on the first line over the limit."""

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_line_length must be a positive int or None, got {limit!r}")
        self._limit = limit
        self._line_number = 1
        self._length = 0

    def check(self, normalised: bytes) -> None:
        """Check one normalised chunk (whole CRLF pairs only). C-speed split, no loop per line."""
        lengths = list(map(len, normalised.split(_CRLF)))
        lengths[0] += self._length
        if max(lengths) > self._limit:
            over = next(i for i, length in enumerate(lengths) if length > self._limit)
            raise SmtpInputError(
                f"line {self._line_number + over} is longer than {self._limit} octets"
            )
        self._line_number += len(lengths) - 1
        self._length = lengths[-1]


class DotStuffer:
    """The DATA transform: normalise, dot-stuff, terminate. Streaming.

    ``max_line_length`` (octets without CRLF, before stuffing; RFC 5321 allows 998) makes
    ``feed`` raise ``SmtpInputError("line N is longer than ... octets")``; callers encode
    bodies (quoted-printable, base64) beforehand so this never fires.
    """

    def __init__(self, *, max_line_length: int | None = None) -> None:
        self._normalizer = CrlfNormalizer()
        self._at_line_start = True
        self._finished = False
        self._line_check = None if max_line_length is None else _LineLengthCheck(max_line_length)

    def feed(self, chunk: bytes) -> bytes:
        """Transform one chunk of the body; return what can go on the wire now."""
        if self._finished:
            raise RuntimeError("DotStuffer.feed called after finish()")
        out = self._normalizer.feed(chunk)
        if not out:
            return b""
        if self._line_check is not None:
            self._line_check.check(out)
        stuffed = out.replace(b"\r\n.", b"\r\n..")
        if self._at_line_start and out[0] == 0x2E:
            stuffed = b"." + stuffed
        self._at_line_start = out.endswith(_CRLF)
        return stuffed

    def finish(self) -> bytes:
        """The tail: CRLF if the last line is open, then the ``.\\r\\n`` terminator."""
        if self._finished:
            raise RuntimeError("DotStuffer.finish called twice")
        self._finished = True
        self._normalizer.finish()
        return _TERMINATOR if self._at_line_start else _CRLF + _TERMINATOR


class BdatChunker:
    """Normalised body in BDAT chunks of exactly ``chunk_size`` octets (RFC 3030).

    No stuffing and no terminator; ``finish`` returns the last chunk (possibly empty,
    always shorter than ``chunk_size``) to send with ``BDAT n LAST``.
    """

    def __init__(self, chunk_size: int) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self._chunk_size = chunk_size
        self._normalizer = CrlfNormalizer()
        self._buffer = bytearray()

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take body bytes; return every full chunk now available (maybe none)."""
        self._buffer += self._normalizer.feed(chunk)
        size = self._chunk_size
        full = len(self._buffer) // size
        if not full:
            return []
        chunks = [bytes(self._buffer[i * size : (i + 1) * size]) for i in range(full)]
        del self._buffer[: full * size]
        return chunks

    def finish(self) -> bytes:
        """The last chunk: whatever is left (fewer than ``chunk_size`` octets)."""
        self._buffer += self._normalizer.finish()
        last = bytes(self._buffer)
        self._buffer.clear()
        return last


class SizeCounter:
    """RFC 1870 SIZE of a message fed in chunks.

    ``for_data=True`` (default) counts the CRLF that DATA adds to an unterminated last
    line, as the server stores it; ``for_data=False`` counts BDAT bytes exactly.
    """

    def __init__(self, *, for_data: bool = True) -> None:
        self._normalizer = CrlfNormalizer()
        self._for_data = for_data
        self._size = 0
        self._ends_with_break = True

    def feed(self, chunk: bytes) -> None:
        out = self._normalizer.feed(chunk)
        if out:
            self._size += len(out)
            self._ends_with_break = out.endswith(_CRLF)

    @property
    def size(self) -> int:
        """The size so far, as if the message ended now."""
        if self._for_data and not self._ends_with_break:
            return self._size + len(_CRLF)
        return self._size


def message_size(chunks: Iterable[bytes], *, for_data: bool = True) -> int:
    """RFC 1870 SIZE of the message made of ``chunks`` (see ``SizeCounter``)."""
    counter = SizeCounter(for_data=for_data)
    for chunk in chunks:
        counter.feed(chunk)
    return counter.size


def normalize(body: bytes) -> bytes:
    """The whole-message form of ``CrlfNormalizer`` (for tests and small bodies)."""
    return CrlfNormalizer().feed(body)


def dot_stuff(body: bytes, *, max_line_length: int | None = None) -> bytes:
    """The whole-message form of ``DotStuffer``: the full DATA stream with terminator."""
    stuffer = DotStuffer(max_line_length=max_line_length)
    return stuffer.feed(body) + stuffer.finish()


def unstuff(stream: bytes) -> bytes:
    """What a server stores from a DATA stream: the inverse of ``DotStuffer``.

    Ends the data at the first terminator (``.\\r\\n`` at the very start, or
    ``\\r\\n.\\r\\n``), keeps the CRLF that ends the last line, and removes one leading
    dot from every line. Raises ValueError if there is no terminator, or if bytes follow
    it (in a real session those would be read as commands: smuggling).
    """
    if stream.startswith(_TERMINATOR):
        content = b""
        rest = stream[len(_TERMINATOR) :]
    else:
        end = stream.find(b"\r\n.\r\n")
        if end < 0:
            raise ValueError("stream has no end-of-data terminator <CRLF>.<CRLF>")
        content = stream[: end + 2]
        rest = stream[end + 5 :]
    if rest:
        raise ValueError(f"{len(rest)} bytes follow the end-of-data terminator")
    if content.startswith(b"."):
        content = content[1:]
    return content.replace(b"\r\n.", b"\r\n")


def stuffed_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The DATA stream of a message given as chunks: normalised, stuffed, terminated."""
    stuffer = DotStuffer()
    for chunk in chunks:
        out = stuffer.feed(chunk)
        if out:
            yield out
    yield stuffer.finish()


def bdat_stream(chunks: Iterator[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """BDAT chunks of ``size`` octets with a LAST flag; the last one may be empty."""
    chunker = BdatChunker(size)
    for chunk in chunks:
        for full in chunker.feed(chunk):
            yield full, False
    yield chunker.finish(), True
