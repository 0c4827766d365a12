"""Dialogues in text as a :class:`~scenarios.capture.model.Session`: three notations.

- This project's ``transcript.txt``: ``0.005318 C: EHLO ...`` / ``0.005318 S: 250-...``
  lines stamped with the SERVER's virtual time (so a command's time is when the server had
  it), escapes as Python writes them (``\\r``, ``\\x00``), and ``--`` lines for
  ``accept``, ``tls_established``, ``tls_failed`` and ``closed``. The lines of one write
  share a time, so lines of one side at one time are one piece (a transcript shows lines,
  not segments: two writes at the same instant look like one).
- swaks output: ``<-`` server and `` ->`` client in plaintext, ``<~`` and `` ~>`` under
  TLS, ``<**`` and ``<~*`` a server error reply, ``===`` swaks's own notes (``TLS
  started``). No times: consecutive lines of one side are one piece, and no delays.
- A plain ``C:``/``S:`` dialogue (an optional time in seconds before each line), taken
  literally; ``#`` comments and blank lines are skipped.

A line these notations do not allow is bad input naming the line. This module knows the
three notations; it knows nothing about pcap files or scenarios.
"""

from __future__ import annotations

import codecs
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from scenarios.capture.model import Ending, InputKind, Piece, Session, Side, TlsFacts
from scenarios.capture.problems import TEXT_FILE, CaptureError, read_user_file

_TIMED: Final = re.compile(r"^(\d+(?:\.\d+)?) (C:|S:|--)(?: (.*))?$")
_PLAIN: Final = re.compile(r"^(?:(\d+(?:\.\d+)?)\s+)?(C|S):(?: ?(.*))?$")
_SWAKS: Final = re.compile(r"^(<~\*|<\*\*|<~|<-| ?~>| ?->|===|\*\*\*)(?: (.*))?$")
_SWAKS_SIDES: Final[dict[str, tuple[Side, bool]]] = {
    "<~*": ("server", True), "<**": ("server", False), "<~": ("server", True),
    "<-": ("server", False), "~>": ("client", True), "->": ("client", False)}


def _us(text: str, path: Path, number: int) -> int:
    try:
        return int((Decimal(text) * 1_000_000).to_integral_value())
    except InvalidOperation:
        raise CaptureError(f"{path}: line {number}: {text!r} is not a time in seconds") from None


class _Builder:
    """Collects lines into pieces: consecutive lines of one side (and one time) merge."""

    def __init__(self, path: Path, kind: InputKind, timed: bool) -> None:
        self.session = Session(source=str(path), kind=kind, timed=timed)
        self.timed = timed
        self.tls = False
        self.implicit = False
        self.lines = 0
        self._open: tuple[Side, int, bool] | None = None
        self._data = bytearray()

    def add(self, side: Side, t_us: int, data: bytes) -> None:
        self.lines += 1
        key = (side, t_us if self.timed else 0, self.tls)
        if self._open is not None and self._open != key:
            self.flush()
        self._open = key
        if not self._data:
            self._start_us = t_us if self.timed else self.lines
        self._data += data

    def flush(self) -> None:
        if self._open is not None and self._data:
            side, _, tls = self._open
            self.session.pieces.append(Piece(side, self._start_us, bytes(self._data), tls))
        self._open = None
        self._data = bytearray()

    def start_tls(self) -> None:
        self.flush()
        if not any(p.side == "server" for p in self.session.pieces):
            self.implicit = True
        self.tls = True

    def done(self, end_us: int) -> Session:
        self.flush()
        session = self.session
        if self.tls:
            session.tls = TlsFacts(implicit=self.implicit)
        session.end_us = end_us if self.timed else self.lines
        if not session.pieces and not session.endings:
            raise CaptureError(f"{session.source}: no C: or S: line in it: not a dialogue "
                               f"this reads (transcript.txt, swaks output or C:/S: lines)")
        return session


def _closed(builder: _Builder, t_us: int, details: str) -> None:
    reason = dict(re.findall(r"(\w+)=(\S+)", details)).get("reason", details)
    if reason in ("rst", "refused"):
        builder.session.endings.append(Ending("client", "rst", t_us))
    elif reason == "fin":
        builder.session.endings.append(Ending("client", "fin", t_us))
    elif "reset" in details or "(rst)" in details:
        builder.session.endings.append(Ending("server", "rst", t_us))
    elif reason == "local":
        builder.session.endings.append(Ending("server", "fin", t_us))


def _transcript(path: Path, lines: list[str]) -> Session:
    builder = _Builder(path, "transcript", timed=True)
    end = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _TIMED.match(line)
        if match is None:
            raise CaptureError(f"{path}: line {number}: expected '<seconds> C: ...', "
                               f"'<seconds> S: ...' or '<seconds> -- ...', got {line[:60]!r}")
        t_us = _us(match[1], path, number)
        end = max(end, t_us)
        what, rest = match[2], match[3] or ""
        if what == "--":
            if rest.startswith("accept"):
                builder.session.accepted_us = t_us
            elif rest.startswith("tls_established"):
                builder.start_tls()
            elif rest.startswith("closed"):
                builder.flush()
                _closed(builder, t_us, rest)
            continue
        text = codecs.decode(rest, "unicode_escape")
        side: Side = "client" if what == "C:" else "server"
        builder.add(side, t_us, text.encode("latin-1", "replace") + b"\r\n")
    return builder.done(end)


def _dialogue(path: Path, lines: list[str]) -> Session:
    timed = any(m is not None and m[1] for m in (_PLAIN.match(line) for line in lines))
    builder = _Builder(path, "dialogue", timed=timed)
    end = 0
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _PLAIN.match(line)
        if match is None:
            raise CaptureError(f"{path}: line {number}: expected 'C: ...' or 'S: ...', "
                               f"got {line[:60]!r}")
        t_us = _us(match[1], path, number) if match[1] else 0
        end = max(end, t_us)
        side: Side = "client" if match[2] == "C" else "server"
        builder.add(side, t_us, (match[3] or "").encode("utf-8") + b"\r\n")
    return builder.done(end)


def _swaks(path: Path, lines: list[str]) -> Session:
    builder = _Builder(path, "swaks", timed=False)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _SWAKS.match(line)
        if match is None:
            if line.startswith(" "):  # swaks's own indented notes (TLS details)
                continue
            raise CaptureError(f"{path}: line {number}: not a line of swaks output "
                               f"(<-, ->, <~, ~>, <**, ===), got {line[:60]!r}")
        marker, rest = match[1].strip(), match[2] or ""
        if marker == "===":
            if rest.startswith("TLS started"):
                builder.start_tls()
            elif rest.startswith("Connection closed"):
                builder.flush()
            continue
        if marker == "***":
            continue
        side, tls = _SWAKS_SIDES[marker]
        if tls and not builder.tls:
            builder.start_tls()
        text = rest[1:] if rest.startswith(" ") and side == "server" else rest
        builder.add(side, 0, text.encode("utf-8") + b"\r\n")
    return builder.done(0)


def read_text_session(path: Path, kind: str) -> Session:
    """The session of a transcript (``transcript``: this project's or a plain ``C:``/``S:``
    dialogue, told apart by the time stamps) or of swaks output (``swaks``)."""
    data = read_user_file(path, TEXT_FILE)
    if b"\0" in data[:65536]:
        raise CaptureError(f"{path}: not text (it has NUL bytes) and not a pcap or pcapng "
                           f"capture: give a capture, a transcript or swaks output")
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    if kind == "swaks":
        return _swaks(path, lines)
    first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    if _TIMED.match(first):
        return _transcript(path, lines)
    return _dialogue(path, lines)
