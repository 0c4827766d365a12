"""A recorded answer too large to write out, recognised as a generated reply.

A hostile server's reply of 10,000 capability lines, a 100 MB line or a 1 MB AUTH
challenge does not fit in a scenario file (at most 1 MiB), and the recorded part of it is
only what went out before the client hung up. :func:`recognise` finds the
:class:`~scenarios.server.generated.GeneratedReply` (``[server.rules.generate]``) whose
first bytes are exactly the recorded ones: ``lines`` (a head line, one line repeated, a
last line when the capture has it), ``long_line`` (a prefix and one character repeated)
or ``challenge`` (``334 `` and the base64 of the generator's own pattern). The generator
itself checks the candidate, byte for byte, against the whole recorded answer.

What a capture cannot tell: how long a reply the client cut short would have gone on,
nor what the server had queued beyond what reached the wire. Such a reply is generated
one chunk (64 KiB, what the simulated server queues at most) beyond what the capture
shows, and ``lines`` without a last line: the server is still sending when the client
hangs up, as recorded. A reply the capture shows whole is generated exactly.

This module knows replies as bytes and the generator; it knows nothing about captures.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from scenarios.server.generated import CHUNK, MAX_COUNT, MAX_SIZE, GeneratedReply

LARGE: Final = CHUNK
"""A whole answer at least this long is generated (a smaller one is written out)."""
CUT_SHORT: Final = 4096
"""An answer the client cut short at least this long is generated: a reply that long
which never ended is a hostile one, and how it went on is not in the capture."""
_PREFIX: Final = re.compile(rb"^\d{3}[ -]")


@dataclass(frozen=True)
class Recognised:
    """A generated reply whose start is the recorded answer, and what the capture showed."""

    reply: GeneratedReply
    whole: bool
    """The capture has the whole reply (else only its start: the client cut it short)."""


def recognise(data: bytes, complete: bool) -> Recognised | None:
    """The generated reply that starts with ``data`` (``complete``: the capture shows the
    reply's end), or None when no kind fits exactly or ``data`` is small."""
    if len(data) < (LARGE if complete else CUT_SHORT):
        return None
    for candidate in (_lines(data, complete), _long_line(data, complete),
                      _challenge(data, complete)):
        if candidate is not None and _starts(candidate, data, complete):
            return Recognised(candidate, complete)
    return None


def _starts(reply: GeneratedReply, data: bytes, complete: bool) -> bool:
    """``reply`` is ``data`` (``complete``), or ``data`` and more."""
    fits = reply.total == len(data) if complete else reply.total > len(data)
    return fits and reply.start(len(data)) == data


def _text(line: bytes) -> str | None:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def _lines(data: bytes, complete: bool) -> GeneratedReply | None:
    lines = data.split(b"\r\n")
    if len(lines) < 4:
        return None
    head, line = _text(lines[0]), _text(lines[1])
    if head is None or line is None or not _PREFIX.match(lines[0]):
        return None
    whole = [text for text in lines[1:-1] if text == lines[1]]
    tail = None
    if complete and lines[-1] == b"" and lines[-2] != lines[1]:
        tail = _text(lines[-2])
        if tail is None:
            return None
    count = len(whole) if complete else min(MAX_COUNT, len(whole) + 2 + CHUNK // len(lines[1]))
    return _made(kind="lines", head=head, line=line, count=count, tail=tail)


def _long_line(data: bytes, complete: bool) -> GeneratedReply | None:
    if not _PREFIX.match(data):
        return None
    prefix, fill = _text(data[:4]), _text(data[4:5])
    if prefix is None or fill is None:
        return None
    crlf = complete and data.endswith(b"\r\n")
    size = len(data) - 4 - (2 if crlf else 0) if complete else min(MAX_SIZE, len(data) + CHUNK)
    return _made(kind="long_line", prefix=prefix, fill=fill, size=size, crlf=crlf)


def _challenge(data: bytes, complete: bool) -> GeneratedReply | None:
    if not data.startswith(b"334 "):
        return None
    encoded = data[4:].removesuffix(b"\r\n") if complete else data[4:]
    if complete:
        try:
            size = len(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            return None
    else:
        size = min(MAX_SIZE, (len(encoded) + CHUNK) // 4 * 3 + 3)
    return _made(kind="challenge", prefix="334 ", decoded_size=size)


def _made(**keys: object) -> GeneratedReply | None:
    try:
        return GeneratedReply(**keys)  # type: ignore[arg-type]
    except ValueError:
        return None


def generate_keys(reply: GeneratedReply) -> dict[str, object]:
    """The ``[server.rules.generate]`` keys of ``reply`` (its defaults left out)."""
    keys: dict[str, object] = {"kind": reply.kind}
    if reply.kind == "lines":
        keys.update({"head": reply.head, "line": reply.line, "count": reply.count})
        if reply.tail is not None:
            keys["tail"] = reply.tail
    elif reply.kind == "long_line":
        keys.update({"prefix": reply.prefix, "fill": reply.fill, "size": reply.size,
                     "crlf": reply.crlf})
    else:
        keys.update({"prefix": reply.prefix, "decoded_size": reply.decoded_size})
    return {k: v for k, v in keys.items() if v is not None}
