"""What a scripted server on a real socket reports of each connection, and how it is shown.

:class:`TranscriptLine` is one thing the server saw or did: client bytes (``C``),
server bytes (``S``), or an event. Client bytes carry the spans that are credentials
(:mod:`scenarios.server.authmask`, found by the driver as the dialogue goes), so each
view decides what to show: :meth:`~TranscriptLine.text_lines` and
:meth:`~TranscriptLine.as_dict` hide them (``AUTH PLAIN <credentials hidden, 28
bytes>``) unless ``show_secrets``, and cut each line at ``line_limit`` bytes, saying how
many were left out (``... <9437184 bytes elided>``).

This module knows the authmask views; it knows nothing about sockets, engines or time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from scenarios.server.authmask import CredentialFinder, Span, with_markers

CRLF: Final = "\r\n"


def elided(count: int) -> str:
    """What stands at the end of a cut line for the ``count`` bytes left out."""
    return f"... <{count} bytes elided>"


@dataclass(frozen=True)
class TranscriptLine:
    """One thing the server saw or did on connection ``connection`` (1-based).

    ``kind`` is ``"C"`` (client bytes, plaintext), ``"S"`` (server bytes, plaintext) or
    an event: ``accept``, ``tls_established``, ``tls_failed``, ``close``, ``reset``,
    ``drop_tls``, ``discarded`` (client bytes after our close_notify, not processed),
    ``silence``, ``stop_reading``, ``resume_reading``, ``closed``, ``refused``,
    ``idle_timeout``; ``detail`` says more about an
    event. ``secrets``: the spans of ``data`` that are credentials.
    """

    connection: int
    t_s: float
    kind: str
    data: bytes = b""
    detail: str = ""
    secrets: tuple[Span, ...] = ()

    def _parts(self, show_secrets: bool, line_limit: int | None) -> tuple[list[str], int]:
        """The CRLF lines of ``data`` as shown (latin-1 text) and the bytes elided."""
        data = self.data if show_secrets else with_markers(self.data, self.secrets)
        parts = data.decode("latin-1").split(CRLF)
        if parts and parts[-1] == "":
            parts.pop()
        cut = 0
        if line_limit is not None:
            for index, part in enumerate(parts):
                if len(part) > line_limit:
                    cut += len(part) - line_limit
                    parts[index] = part[:line_limit] + elided(len(part) - line_limit)
        return parts, cut

    def text_lines(self, *, show_secrets: bool = False,
                   line_limit: int | None = None) -> list[str]:
        """``0.012 C: EHLO x`` per CRLF line (escaped), or ``0.013 -- closed ...``."""
        stamp = f"{self.t_s:.3f}"
        if self.kind in ("C", "S"):
            parts, _ = self._parts(show_secrets, line_limit)
            return [f"{stamp} {self.kind}: {p.encode('unicode_escape').decode('ascii')}"
                    for p in parts]
        return [f"{stamp} -- {self.kind} {self.detail}".rstrip()]

    def as_dict(self, *, show_secrets: bool = False,
                line_limit: int | None = None) -> dict[str, object]:
        """JSON-ready: ``data`` as latin-1 text, credentials hidden and lines cut as in
        :meth:`text_lines` (``elided``: how many bytes were cut, when any)."""
        parts, cut = self._parts(show_secrets, line_limit)
        data = CRLF.join(parts) + (CRLF if self.data.endswith(b"\r\n") else "")
        out: dict[str, object] = {"connection": self.connection, "t_s": round(self.t_s, 6),
                                  "kind": self.kind, "data": data, "detail": self.detail}
        if cut:
            out["elided"] = cut
        return out


TranscriptSink = Callable[[TranscriptLine], None]


def credential_spans(finder: CredentialFinder, kind: str, data: bytes) -> tuple[Span, ...]:
    """Show ``finder`` one transcript entry; the spans of ``data`` that are credentials
    (client bytes only). A ``tls_established`` event starts the finder again."""
    if kind == "C":
        return finder.client(data)
    if kind == "S":
        finder.server(data)
    elif kind == "tls_established":
        finder.restart()
    return ()
