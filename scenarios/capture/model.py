"""One recorded SMTP session, whatever it was read from: the model between readers and analysis.

A reader (a pcap through tshark, the project's transcript, swaks output, a ``C:``/``S:``
dialogue) turns its input into a :class:`Session`: the bytes each side wrote, in order,
as :class:`Piece` objects (one per TCP segment or TLS record where the input shows them,
one per line otherwise) with their times, plus what the input tells about the transport:
when the server had each client byte (from its acknowledgements), how each side ended the
connection, frames lost on the way, TLS, and the link's delay.

Times are microseconds from the session's first frame (or line). ``start_epoch_us`` says
when that was, when the input knows.

This module is plain data; it reads nothing and knows nothing about SMTP.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from scenarios.capture.tlsflight import TlsStall

Side: TypeAlias = Literal["client", "server"]
InputKind: TypeAlias = Literal["pcap", "transcript", "swaks", "dialogue"]


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes one side wrote in one piece (a segment, a TLS record, or a line)."""

    side: Side
    t_us: int
    data: bytes
    tls: bool = False
    end_seq: int | None = None
    """The TCP sequence number right after the frame that completed this piece."""
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class Ending:
    """How one side ended the connection: FIN or RST, at ``t_us``. ``forged``: an RST that
    the side's own later frames show it did not send (a middlebox, or a link fault)."""

    side: Side
    kind: Literal["fin", "rst"]
    t_us: int
    forged: bool = False


@dataclass(frozen=True, slots=True)
class Loss:
    """A frame that never reached the other side (it was sent again, or the other side's
    acknowledgements never covered it): the ``index``-th frame ``side`` sent."""

    side: Side
    index: int
    t_us: int
    frame: int


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """What the input shows of TLS: implicit (from the first byte) or after STARTTLS, the
    negotiated version and cipher (OpenSSL's name), and whether the handshake failed."""

    implicit: bool
    version: str | None = None
    cipher: str | None = None
    handshake_failed: bool = False
    close_notify: tuple[tuple[Side, int], ...] = ()
    """Each close_notify alert: who sent it, when."""
    stall: TlsStall | None = None
    """Where the server stopped in the middle of the handshake (``[server] tls_stall``)."""
    certificate: bytes | None = None
    """The server's certificate (DER), read when the handshake failed otherwise."""
    server_name: str | None = None
    """The name the client asked for (SNI), with ``certificate``."""


@dataclass(frozen=True, slots=True)
class LinkEstimate:
    """The link the TCP handshake and bulk data show: one-way latency and, when the
    capture has back-to-back full segments, bandwidth."""

    latency_us: int
    bandwidth_bps: int | None = None


@dataclass
class Session:
    """One SMTP session as recorded (see the module docstring)."""

    source: str
    kind: InputKind
    pieces: list[Piece] = field(default_factory=list)
    start_epoch_us: int | None = None
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    server_acks: list[tuple[int, int]] = field(default_factory=list)
    """``(t_us, ack)`` of every server frame, in time order."""
    one_way_us: int = 0
    """How long a client frame took to reach the server, as the handshake shows it."""
    accepted_us: int = 0
    """When the server had the connection (the client's last handshake frame arrived)."""
    endings: list[Ending] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    tls: TlsFacts | None = None
    refused: bool = False
    """The server side answered the client's SYN with RST: nobody listened."""
    link: LinkEstimate | None = None
    server_mss: int | None = None
    """The most the server put in one segment (the MSS the client announced)."""
    plain_after_tls: Piece | None = None
    """Bytes the server wrote in the clear after its last TLS record (after a
    close_notify), with the time of the frame they began in."""
    notes: list[str] = field(default_factory=list)
    """Facts worth a comment in the scenario (e.g. frames lost)."""
    end_us: int = 0
    """The time of the last frame or line."""
    timed: bool = True
    """False when the input has no times (swaks output): times are only an order."""
    _ack_times: list[int] = field(default_factory=list, repr=False)

    def side_pieces(self, side: Side) -> list[Piece]:
        return [p for p in self.pieces if p.side == side]

    def arrival_us(self, piece: Piece) -> int:
        """When the server had ``piece``: its first acknowledgement covering the piece's
        last byte, sent no earlier than the piece; else the piece's time plus the one-way
        delay (a transcript's times are the server's own: no delay)."""
        if piece.side == "server":
            return piece.t_us
        if piece.end_seq is not None and self.server_acks:
            if len(self._ack_times) != len(self.server_acks):
                self._ack_times = [t for t, _ in self.server_acks]
            start = bisect.bisect_left(self._ack_times, piece.t_us)
            for t_us, ack in self.server_acks[start:]:
                if ack >= piece.end_seq:
                    return t_us
        return piece.t_us + self.one_way_us

    def ending(self, side: Side) -> Ending | None:
        """The first genuine FIN or RST of ``side``."""
        return next((e for e in self.endings if e.side == side and not e.forged), None)
