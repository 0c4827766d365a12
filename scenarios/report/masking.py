"""Credentials out of the records a report is made from.

The report shows what the scripted server read (its ``rx`` records, decrypted), so an
AUTH exchange would show the client's credentials: the initial response of ``AUTH
PLAIN``/``LOGIN``/``XOAUTH2``, the LOGIN user name and password lines, the CRAM-MD5
response. :func:`report_records` blanks them with ``*`` (same length) before anything
else sees the records: from an ``AUTH`` command line (its argument after the mechanism)
through every client line until the server's next final reply that is not ``334``. It
errs on the side of hiding: a chunk that continues an open exchange is hidden whole.

Nothing else in a report carries client bytes: the TCP view shows segment lengths only,
never payloads.

This module knows SMTP lines and the server's trace records; it knows nothing about
HTML.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Final

from emulator.trace import TraceRecord

_AUTH: Final = re.compile(rb"AUTH +[^ \r\n]+ +", re.IGNORECASE)
_FINAL_REPLY: Final = re.compile(rb"^[0-9]{3}(?: |$)")


def _blank(line: bytes) -> bytes:
    """The line's text as ``*``, its CR LF kept."""
    text = line.rstrip(b"\r\n")
    return b"*" * len(text) + line[len(text):]


class _Exchange:
    """Whether an AUTH exchange is open on one connection."""

    def __init__(self) -> None:
        self.open = False

    def client(self, data: bytes) -> bytes:
        out = bytearray()
        for line in data.splitlines(keepends=True):
            if self.open:
                out += _blank(line)
            elif line[:5].upper() == b"AUTH ":
                self.open = True
                head = _AUTH.match(line)
                out += line[:head.end()] + _blank(line[head.end():]) if head else line
            else:
                out += line
        return bytes(out)

    def server(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            if self.open and _FINAL_REPLY.match(line) and not line.startswith(b"334"):
                self.open = False


def report_records(records: Sequence[TraceRecord]) -> list[TraceRecord]:
    """``records`` with the credentials in the server's ``rx`` data blanked (module
    docstring); other records are the same objects."""
    exchanges: dict[str, _Exchange] = {}
    out: list[TraceRecord] = []
    for rec in records:
        if not rec.source.startswith("server."):
            out.append(rec)
            continue
        if rec.kind in ("accept", "tls_established"):
            exchanges[rec.source] = _Exchange()
        exchange = exchanges.setdefault(rec.source, _Exchange())
        data = rec.fields.get("data")
        if rec.kind == "rx" and isinstance(data, bytes):
            hidden = exchange.client(data)
            if hidden != data:
                rec = dataclasses.replace(rec, fields={**rec.fields, "data": hidden})
        elif rec.kind == "tx" and isinstance(data, bytes):
            exchange.server(data)
        out.append(rec)
    return out
