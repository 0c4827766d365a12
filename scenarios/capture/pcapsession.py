"""A pcap or pcapng file as a :class:`~scenarios.capture.model.Session`, through tshark.

Steps: list the TCP streams (:func:`streams`) and pick the SMTP one (``--stream N``, or
the only one on an SMTP port); identify the client (the side that sent the SYN, else the
side not on the SMTP port); take each side's bytes per segment from tshark's followed TCP
stream and, after STARTTLS or from the first byte under implicit TLS, per decrypted TLS
record from the followed TLS stream; and read from the frames what the dialogue does not
show: when the server acknowledged what (so when it had each command), FIN and RST (an
RST followed by more frames from the same side was forged on the way), frames lost on the
way, the TLS version and cipher, close_notify alerts, the handshake delay and the link.

Finding where TLS starts in a side's byte stream reads one TLS record header (content
type, version, length, handshake type); everything else about TCP and TLS is tshark's.

This module knows tshark's frames and the session model; it knows SMTP only as far as
finding the STARTTLS command.
"""

from __future__ import annotations

import bisect
import re
import ssl
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from scenarios.capture.model import Ending, LinkEstimate, Loss, Piece, Session, Side, TlsFacts
from scenarios.capture.problems import CAPTURE_FILE, CaptureError, check_user_file
from scenarios.capture.tlsflight import records_end, stall_of
from scenarios.capture.tshark import (
    ACK,
    FIN,
    RST,
    SYN,
    FollowedChunk,
    Frame,
    follow_tcp,
    follow_tls,
    frames,
    handshake_facts,
)

SMTP_PORTS: Final = frozenset({25, 465, 587, 2525})
IMPLICIT_TLS_PORTS: Final = frozenset({465})
TSHARK_SMTP_PORTS: Final = frozenset({25, 587})
"""Ports tshark dissects as SMTP (and 465 as TLS) without being told."""
PCAP_MAGICS: Final = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d",
                      b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a")
_STARTTLS_LINE: Final = re.compile(rb"(?:^|\n)STARTTLS[ \t]*\r?\n", re.IGNORECASE)
_TLS_VERSIONS: Final = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_CLIENT_HELLO, _SERVER_HELLO, _FINISHED = 1, 2, 20
_ALERT, _APPLICATION_DATA = 21, 23


@dataclass(frozen=True)
class StreamSummary:
    """One TCP stream of a capture, for choosing."""

    index: int
    client: tuple[str, int]
    server: tuple[str, int]
    frame_count: int
    payload_bytes: int
    first_us: int
    last_us: int

    @property
    def smtp_port(self) -> bool:
        return self.server[1] in SMTP_PORTS

    def line(self) -> str:
        return (f"  --stream {self.index}: {_endpoint(self.client)} -> {_endpoint(self.server)}, "
                f"{self.frame_count} frames, {self.payload_bytes} payload bytes, "
                f"{(self.last_us - self.first_us) / 1e6:.3f} s")


def _endpoint(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def looks_like_capture(path: Path) -> bool:
    """Whether the file starts with a pcap or pcapng magic number."""
    with path.open("rb") as fh:
        return fh.read(4) in PCAP_MAGICS


def _client_and_server(stream_frames: list[Frame]) -> tuple[tuple[str, int], tuple[str, int]]:
    for frame in stream_frames:
        if frame.has(SYN) and not frame.has(ACK):
            return frame.src, frame.dst
        if frame.has(SYN) and frame.has(ACK):
            return frame.dst, frame.src
    first = stream_frames[0]
    if first.dst[1] in SMTP_PORTS and first.src[1] not in SMTP_PORTS:
        return first.src, first.dst
    if first.src[1] in SMTP_PORTS and first.dst[1] not in SMTP_PORTS:
        return first.dst, first.src
    return (first.src, first.dst) if first.src[1] > first.dst[1] else (first.dst, first.src)


def streams(all_frames: list[Frame]) -> list[StreamSummary]:
    """The TCP streams of a capture, in order."""
    grouped: dict[int, list[Frame]] = defaultdict(list)
    for frame in all_frames:
        grouped[frame.stream].append(frame)
    out = []
    for index, group in sorted(grouped.items()):
        client, server = _client_and_server(group)
        out.append(StreamSummary(index, client, server, len(group),
                                 sum(f.length for f in group), group[0].t_us, group[-1].t_us))
    return out


def choose_stream(path: Path, summaries: list[StreamSummary], wanted: int | None) -> StreamSummary:
    """The stream to import: ``wanted``, or the only SMTP one; CaptureError listing them."""
    listing = "; ".join(s.line().strip() for s in summaries)
    if wanted is not None:
        for summary in summaries:
            if summary.index == wanted:
                return summary
        raise CaptureError(f"{path}: no TCP stream {wanted} (the capture has "
                           f"{len(summaries)}: {listing or 'none'})")
    if not summaries:
        raise CaptureError(f"{path}: no TCP traffic at all, so no SMTP session: capture on the "
                           f"interface and port the device's mail goes through")
    candidates = [s for s in summaries if s.smtp_port] or [s for s in summaries if s.payload_bytes]
    if not candidates:
        raise CaptureError(f"{path}: no SMTP session: no TCP stream to an SMTP port "
                           f"({', '.join(map(str, sorted(SMTP_PORTS)))}) and none with payload")
    if len(candidates) > 1:
        lines = "; ".join(s.line().strip() for s in candidates)
        raise CaptureError(f"{path}: {len(candidates)} SMTP sessions in the capture: choose "
                           f"one with {lines}")
    return candidates[0]


def _side(frame: Frame, client: tuple[str, int]) -> Side:
    return "client" if frame.src == client else "server"


def _tls_start(data: bytes, start: int, hello: int) -> int | None:
    """Where the first TLS handshake record of type ``hello`` starts at or after ``start``."""
    index = data.find(b"\x16\x03", start)
    while index >= 0:
        header = data[index:index + 6]
        if len(header) < 6:
            return index  # the record is cut off by the end of the capture
        if header[2] <= 4 and header[5] == hello:
            return index
        index = data.find(b"\x16\x03", index + 1)
    return None


def _bytes_with_frames(chunks: list[FollowedChunk]) -> tuple[bytes, list[tuple[int, int]]]:
    """The side's byte stream and, for each chunk, (start offset, frame)."""
    offsets, position, parts = [], 0, []
    for chunk in chunks:
        offsets.append((position, chunk.frame))
        parts.append(chunk.data)
        position += len(chunk.data)
    return b"".join(parts), offsets


class _Reader:
    """Builds the session of one chosen stream (see the module docstring)."""

    def __init__(self, path: Path, keylog: Path | None, summary: StreamSummary,
                 stream_frames: list[Frame]) -> None:
        self.path = path
        self.keylog = keylog
        self.summary = summary
        self.frames = stream_frames
        self.by_number = {f.number: f for f in stream_frames}
        self.client = summary.client
        self.origin = stream_frames[0].t_us
        port = summary.server[1]
        self.implicit = port in IMPLICIT_TLS_PORTS
        self.decode_as: list[str] = []
        if port not in TSHARK_SMTP_PORTS | IMPLICIT_TLS_PORTS:
            self.decode_as = [f"tcp.port=={port},smtp"]

    def rel(self, frame_number: int) -> int:
        return self.by_number[frame_number].t_us - self.origin

    def side_of(self, frame_number: int) -> Side:
        return _side(self.by_number[frame_number], self.client)

    def session(self) -> Session:
        tcp_chunks = follow_tcp(self.path, self.summary.index, decode_as=self.decode_as)
        client_chunks = [c for c in tcp_chunks if self.side_of(c.frame) == "client"]
        if client_chunks and client_chunks[0].data[:2] == b"\x16\x03" and not self.implicit:
            self.implicit = True
            self.decode_as = [f"tcp.port=={self.summary.server[1]},tls"]
            self.frames = [f for f in frames(self.path, keylog=self.keylog,
                                             decode_as=self.decode_as)
                           if f.stream == self.summary.index]
            self.by_number = {f.number: f for f in self.frames}
        elif self.decode_as:
            self.frames = [f for f in frames(self.path, keylog=self.keylog,
                                             decode_as=self.decode_as)
                           if f.stream == self.summary.index]
            self.by_number = {f.number: f for f in self.frames}
        session = Session(source=str(self.path), kind="pcap", start_epoch_us=self.origin,
                          client=self.client, server=self.summary.server,
                          end_us=self.frames[-1].t_us - self.origin)
        session.server_acks = [(f.t_us - self.origin, f.ack) for f in self.frames
                               if _side(f, self.client) == "server" and f.has(ACK)
                               and not f.has(RST)]
        self._handshake(session)
        session.server_mss = self._peer_mss("server")
        self._pieces(session, tcp_chunks)
        session.endings = self._endings()
        session.losses = self._losses()
        if session.losses:
            by_side = {s: sum(1 for loss in session.losses if loss.side == s)
                       for s in ("client", "server")}
            session.notes.append(f"frames lost on the way: {by_side['client']} from the "
                                 f"client, {by_side['server']} from the server "
                                 f"(each sent again later)")
        return session

    # -- the TCP handshake and the link
    def _handshake(self, session: Session) -> None:
        syn = next((f for f in self.frames if f.has(SYN) and not f.has(ACK)), None)
        answer = next((f for f in self.frames if syn is not None and f.number > syn.number
                       and _side(f, self.client) == "server"), None)
        if syn is not None and answer is not None and answer.has(RST) and not answer.has(SYN):
            session.refused = True
            return
        if syn is None or answer is None or not answer.has(SYN):
            return
        session.one_way_us = answer.t_us - syn.t_us
        third = next((f for f in self.frames if f.number > answer.number
                      and _side(f, self.client) == "client"), None)
        session.link = self._fit_link(syn, answer)
        if third is not None:
            arrival = third.t_us + _wire_us(third, session.link.bandwidth_bps or 10**10)
            session.accepted_us = round(arrival + session.link.latency_us) - self.origin

    def _fit_link(self, syn: Frame, answer: Frame) -> LinkEstimate:
        """The link (one-way latency, bandwidth) that best explains when the server
        acknowledged each client frame: frames leave one after another at the link's
        speed and arrive a latency later (the simulated link's own model)."""
        client = [f for f in self.frames if _side(f, self.client) == "client"
                  and not f.has(RST)]
        exact: dict[int, int] = {}
        for frame in self.frames:
            if _side(frame, self.client) == "server" and frame.has(ACK):
                exact.setdefault(frame.ack, frame.t_us)
        seqs: dict[int, int] = defaultdict(int)
        for frame in client:
            seqs[frame.seq] += frame.end_seq > frame.seq
        observed = [(f, exact[f.end_seq]) for f in client  # sent once: no loss in the way
                    if f.end_seq > f.seq and seqs[f.seq] == 1 and f.end_seq in exact
                    and exact[f.end_seq] >= f.t_us]
        best: tuple[float, int, float] | None = None
        for bps in (_DEFAULT_BANDWIDTH, *_BANDWIDTHS):  # the default wins a tie
            latency = answer.t_us - syn.t_us - _wire_us(syn, bps)
            if latency < 0:
                continue
            error = _fit_error(client, observed, bps, latency)
            if best is None or error < best[0]:
                best = (error, bps, latency)
        if best is None:
            return LinkEstimate(latency_us=answer.t_us - syn.t_us)
        return LinkEstimate(latency_us=round(best[2]), bandwidth_bps=best[1])

    # -- the bytes
    def _pieces(self, session: Session, tcp_chunks: list[FollowedChunk]) -> None:
        sides: dict[Side, list[FollowedChunk]] = {
            "client": [c for c in tcp_chunks if self.side_of(c.frame) == "client"],
            "server": [c for c in tcp_chunks if self.side_of(c.frame) == "server"]}
        client_bytes, client_offsets = _bytes_with_frames(sides["client"])
        tls_from: dict[Side, int | None] = {"client": None, "server": None}
        if self.implicit:
            tls_from = {"client": 0, "server": 0}
        else:
            command = _STARTTLS_LINE.search(client_bytes)
            if command is not None:
                tls_from["client"] = _tls_start(client_bytes, command.end(), _CLIENT_HELLO)
                starttls_frame = _frame_at(client_offsets, command.end() - 1)
                later = [c for c in sides["server"] if c.frame > starttls_frame]
                server_bytes, _ = _bytes_with_frames(later)
                found = _tls_start(server_bytes, 0, _SERVER_HELLO)
                if found is not None:
                    skipped = sum(len(c.data) for c in sides["server"]) - len(server_bytes)
                    tls_from["server"] = skipped + found
        pieces: list[Piece] = []
        for side, chunks in sides.items():
            pieces += self._plain_pieces(side, chunks, tls_from[side])
        if tls_from["client"] is not None or tls_from["server"] is not None:
            session.tls = self._tls_facts()
            tls_pieces = self._tls_pieces(session.tls)
            pieces += tls_pieces
            if self.implicit:
                self._greeting_ready(session, tls_pieces)
        pieces.sort(key=lambda p: (p.frame or 0, 0 if not p.tls else 1))
        session.pieces = pieces
        if tls_from["server"] is not None:
            session.plain_after_tls = self._plain_after_tls(sides["server"], tls_from["server"])

    def _plain_after_tls(self, chunks: list[FollowedChunk], tls_from: int) -> Piece | None:
        """What the server wrote in the clear after its TLS records ended."""
        data, offsets = _bytes_with_frames(chunks)
        end = records_end(data, tls_from)
        if end >= len(data) or end == tls_from:
            return None
        frame = _frame_at(offsets, end)
        return Piece("server", self.rel(frame), data[end:], False,
                     self.by_number[frame].end_seq, frame)

    def _greeting_ready(self, session: Session, tls_pieces: list[Piece]) -> None:
        """Under implicit TLS the server greets once the handshake is done: when it had
        the client's last handshake frame (the last one before the greeting)."""
        greeting = next((p for p in tls_pieces if p.side == "server"), None)
        if greeting is None or greeting.frame is None:
            return
        before = [f for f in self.frames if _side(f, self.client) == "client"
                  and f.length and f.number < greeting.frame]
        if before:
            last = before[-1]
            session.accepted_us = session.arrival_us(
                Piece("client", last.t_us - self.origin, b"", True, last.end_seq, last.number))

    def _plain_pieces(self, side: Side, chunks: list[FollowedChunk],
                      tls_from: int | None) -> list[Piece]:
        """The side's plaintext per segment; the server's segments TCP cut from one write
        (a full segment and the next one sent at the same instant) are one piece again.
        (The client's stay apart: each tells when the server had its bytes.)"""
        out: list[Piece] = []
        position = 0
        limit = self._peer_mss(side) if side == "server" else None
        for chunk in chunks:
            data = chunk.data
            if tls_from is not None:
                data = data[:max(0, tls_from - position)]
            position += len(chunk.data)
            if not data:
                continue
            frame = self.by_number[chunk.frame]
            t_us = self.rel(chunk.frame)
            if out and limit is not None and len(out[-1].data) % limit == 0 \
                    and out[-1].t_us == t_us:
                last = out[-1]
                out[-1] = Piece(side, last.t_us, last.data + data, False, frame.end_seq,
                                chunk.frame)
                continue
            out.append(Piece(side, t_us, data, False, frame.end_seq, chunk.frame))
        return out

    def _peer_mss(self, side: Side) -> int | None:
        """The MSS the other side announced: the most ``side`` puts in one segment."""
        return next((f.mss for f in self.frames if f.mss is not None
                     and _side(f, self.client) != side), None)

    def _tls_pieces(self, facts: TlsFacts) -> list[Piece]:
        records = follow_tls(self.path, self.summary.index, keylog=self.keylog,
                             decode_as=self.decode_as)
        if not records and not facts.handshake_failed and self._application_data():
            if self.keylog is None:
                raise CaptureError(
                    f"{self.path}: the SMTP session is encrypted "
                    f"({'implicit TLS' if facts.implicit else 'after STARTTLS'}) and no key "
                    f"log was given: pass --keylog FILE with the session's TLS secrets "
                    f"(SSLKEYLOGFILE format, from the client or the server)")
            raise CaptureError(
                f"{self.path}: tshark could not decrypt the TLS session with {self.keylog}: "
                f"the key log holds no secrets for it (it belongs to another session?)")
        out = []
        for record in records:
            frame = self.by_number.get(record.frame)
            if frame is None or not record.data:
                continue
            out.append(Piece(_side(frame, self.client), self.rel(record.frame), record.data,
                             True, frame.end_seq, record.frame))
        return out

    def _application_data(self) -> bool:
        return any(_APPLICATION_DATA in f.tls_content_types for f in self.frames)

    def _tls_facts(self) -> TlsFacts:
        hello = next((f for f in self.frames if _SERVER_HELLO in f.tls_handshake_types
                      and _side(f, self.client) == "server"), None)
        version = cipher = None
        if hello is not None:
            version = next((_TLS_VERSIONS[v] for v in hello.tls_versions if v in _TLS_VERSIONS),
                           None)
            if hello.tls_ciphersuites:
                cipher = openssl_cipher_name(hello.tls_ciphersuites[0])
        server_app = any(_APPLICATION_DATA in f.tls_content_types or _FINISHED
                         in f.tls_handshake_types for f in self.frames
                         if _side(f, self.client) == "server")
        client_done = any(_APPLICATION_DATA in f.tls_content_types or _FINISHED
                          in f.tls_handshake_types for f in self.frames
                          if _side(f, self.client) == "client")
        failed = hello is None or not server_app or not client_done
        stall = certificate = server_name = None
        start = next((f.number for f in self.frames if _CLIENT_HELLO
                      in f.tls_handshake_types and _side(f, self.client) == "client"), None)
        flights = {side: [(f.tls_content_types, f.tls_handshake_types) for f in self.frames
                          if start is not None and f.number >= start and f.length
                          and _side(f, self.client) == side]
                   for side in ("client", "server")}
        stall = stall_of(flights["server"], flights["client"])
        failed = failed or stall is not None
        if failed and stall is None and hello is not None:
            certificate, server_name = handshake_facts(self.path, self.summary.index,
                                                       keylog=self.keylog,
                                                       decode_as=self.decode_as)
        notifies = tuple((_side(f, self.client), f.t_us - self.origin) for f in self.frames
                         if _ALERT in f.tls_content_types and 0 in f.tls_alerts)
        return TlsFacts(implicit=self.implicit, version=version, cipher=cipher,
                        handshake_failed=failed, close_notify=notifies, stall=stall,
                        certificate=certificate, server_name=server_name)

    # -- how it ended, and what was lost
    def _endings(self) -> list[Ending]:
        out: list[Ending] = []
        for side in ("client", "server"):
            own = [f for f in self.frames if _side(f, self.client) == side]
            fin = next((f for f in own if f.has(FIN)), None)
            if fin is not None:
                out.append(Ending(side, "fin", fin.t_us - self.origin))
            for index, frame in enumerate(own):
                if not frame.has(RST):
                    continue
                forged = any(not later.has(RST) for later in own[index + 1:])
                out.append(Ending(side, "rst", frame.t_us - self.origin, forged=forged))
                if not forged:
                    break
        return sorted(out, key=lambda e: e.t_us)

    def _losses(self) -> list[Loss]:
        """Frames that never arrived: sent again later by the same side, while the other
        side's frames in between never acknowledged them; and acknowledgements that never
        arrived: the other side sent again what they acknowledged."""
        lost: dict[int, Loss] = {}
        forged = {e.t_us for e in self._endings() if e.forged}
        own: dict[Side, list[Frame]] = {"client": [], "server": []}
        for frame in self.frames:
            if not (frame.has(RST) and frame.t_us - self.origin in forged):
                own[_side(frame, self.client)].append(frame)
        numbers = {side: [f.number for f in sent] for side, sent in own.items()}
        for side, sent in own.items():
            other: Side = "server" if side == "client" else "client"
            used: set[int] = set()
            by_seq: dict[int, list[int]] = defaultdict(list)
            for index, frame in enumerate(sent):
                if frame.end_seq > frame.seq:
                    by_seq[frame.seq].append(index)
            for index, frame in enumerate(sent):
                if frame.end_seq == frame.seq or len(by_seq[frame.seq]) < 2:
                    continue  # a pure ACK is never sent again; nor is most data
                again = next((sent[i] for i in by_seq[frame.seq] if i > index
                              and sent[i].end_seq >= frame.end_seq), None)
                if again is None:
                    continue
                low = bisect.bisect_right(numbers[other], frame.number)
                high = bisect.bisect_left(numbers[other], again.number)
                between = own[other][low:high]
                covering = [f for f in between if f.has(ACK) and f.ack >= frame.end_seq]
                if covering:
                    for ack in covering:  # the acknowledgement never arrived
                        position = own[other].index(ack)
                        lost[ack.number] = Loss(other, position + 1, ack.t_us - self.origin,
                                                ack.number)
                    continue
                # A duplicate ACK still asking for an earlier byte: this frame arrived out
                # of order (and was dropped by the receiver), it was not lost.
                duplicate = next((f for f in between if f.number not in used and f.length == 0
                                  and f.ack < frame.seq), None)
                if duplicate is not None:
                    used.add(duplicate.number)
                    continue
                lost[frame.number] = Loss(side, index + 1, frame.t_us - self.origin, frame.number)
        return sorted(lost.values(), key=lambda loss: loss.frame)


_BANDWIDTHS: Final = (9_600, 19_200, 38_400, 56_000, 64_000, 115_200, 128_000, 256_000,
                      512_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000,
                      50_000_000, 100_000_000, 1_000_000_000, 10_000_000_000)
"""The link speeds :meth:`_Reader._fit_link` tries (bits per second)."""
_DEFAULT_BANDWIDTH: Final = 10_000_000
"""The scenario format's default link speed: kept when the capture cannot tell."""
_ETHERNET_IP_TCP: Final = 54


def _wire_us(frame: Frame, bps: int) -> float:
    size = frame.length + _ETHERNET_IP_TCP + (4 if frame.has(SYN) else 0)
    return size * 8 * 1_000_000 / bps


def _fit_error(client: list[Frame], observed: list[tuple[Frame, int]], bps: int,
               latency: float) -> float:
    arrivals: dict[int, float] = {}
    busy = 0.0
    for frame in client:
        busy = max(float(frame.t_us), busy) + _wire_us(frame, bps)
        arrivals[frame.number] = busy + latency
    return sum(abs(arrivals[f.number] - t) for f, t in observed)


def _frame_at(offsets: list[tuple[int, int]], position: int) -> int:
    frame = offsets[0][1] if offsets else 0
    for start, number in offsets:
        if start > position:
            break
        frame = number
    return frame


def openssl_cipher_name(suite: int) -> str | None:
    """OpenSSL's name of IANA cipher suite ``suite`` (``0xc014`` -> ``ECDHE-RSA-AES256-SHA``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    for cipher in context.get_ciphers():
        if cipher["id"] & 0xFFFF == suite:
            return str(cipher["name"])
    return None


def read_pcap(path: Path, *, keylog: Path | None = None, stream: int | None = None) -> Session:
    """The SMTP session of the capture at ``path`` (``stream``: its TCP stream index)."""
    if check_user_file(path, CAPTURE_FILE) == 0:
        raise CaptureError(f"{path}: the file is empty: copy the capture again")
    if not looks_like_capture(path):
        raise CaptureError(f"{path}: not a pcap or pcapng capture file: give the capture "
                           f"itself, or --format transcript, swaks or dialogue for text")
    all_frames = frames(path, keylog=keylog)
    summary = choose_stream(path, streams(all_frames), stream)
    chosen = [f for f in all_frames if f.stream == summary.index]
    return _Reader(path, keylog, summary, chosen).session()
