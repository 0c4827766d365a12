"""Credentials hidden from what a simulated run writes: transcript, trace lines, pcap.

The trace keeps every byte. It is the source of truth of a run: every view is computed
from it, and its hash covers what was on the wire, so two runs that differ only in the
password a client sent hash differently, and the catalog's hashes do not move when a
view changes. So nothing is hidden when a record is made; each view hides the
credentials when it is written, unless asked to show them (``show_secrets``).

Two places of a trace carry a client's plaintext:

* the scripted server's ``rx`` records (``server.c1``, ...): what it read, decrypted
  under TLS, in order. One :class:`~scenarios.server.authmask.CredentialFinder` per
  connection follows them with the server's ``tx`` records (a ``tls_established``
  starts it again): :func:`server_spans`.
* the link's segments (``link`` ``tx`` and ``drop`` records, the pcap's frames): the
  TCP payload of each direction, ciphertext (:class:`~emulator.trace.Opaque`) under
  TLS. Each connection's two byte streams are put back in order by sequence number
  (retransmissions and segments that overtook a lost one included), followed by a
  finder as they become contiguous, and every copy of a credential byte is blanked,
  whichever segment carried it: :func:`masked_records`.

Blanking keeps lengths (``*`` for each byte), so sequence numbers, the pcap's TCP
streams and the trace's record structure stay consistent; the transcript says what was
there instead (:func:`scenarios.server.authmask.with_markers`).

This module knows trace records, the field names of the link's segment records and of
the server's records; it runs nothing and knows no file formats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from emulator.trace import Opaque, TraceKind, TraceRecord
from scenarios.server.authmask import CredentialFinder, Span, blank

SERVER_PREFIX: Final = "server."
LINK_SOURCE: Final = "link"
_SEQ_SPACE: Final = 1 << 32
_SEGMENT_KINDS: Final[frozenset[TraceKind]] = frozenset({"tx", "drop"})
_NEW_SESSION_KINDS: Final[frozenset[TraceKind]] = frozenset({"tls_established", "accept"})


def _is_server(record: TraceRecord) -> bool:
    return record.source.startswith(SERVER_PREFIX)


def _is_link(record: TraceRecord) -> bool:
    return record.source == LINK_SOURCE or record.source.startswith(LINK_SOURCE + ".")


def server_spans(records: Sequence[TraceRecord]) -> dict[int, tuple[Span, ...]]:
    """For each server ``rx`` record (by index in ``records``) that holds credentials,
    their spans in its ``data``."""
    finders: dict[str, CredentialFinder] = {}
    spans: dict[int, tuple[Span, ...]] = {}
    for index, rec in enumerate(records):
        if not _is_server(rec):
            continue
        finder = finders.setdefault(rec.source, CredentialFinder())
        data = rec.fields.get("data")
        if rec.kind == "rx" and isinstance(data, bytes):
            found = finder.client(data)
            if found:
                spans[index] = found
        elif rec.kind == "tx" and isinstance(data, bytes):
            finder.server(data)
        elif rec.kind in _NEW_SESSION_KINDS:
            finder.restart()
    return spans


@dataclass
class _Stream:
    """One direction of a TCP connection: where its bytes start, what came so far."""

    isn: int
    expected: int = 0
    early: dict[int, bytes | Opaque] = field(default_factory=dict)
    secret: list[Span] = field(default_factory=list)
    """Credential byte ranges, as offsets in the stream."""

    def offset(self, seq: int) -> int:
        return (seq - self.isn - 1) % _SEQ_SPACE


@dataclass
class _Connection:
    """Both directions of one TCP connection and the finder that follows them."""

    client: str
    streams: dict[str, _Stream] = field(default_factory=dict)
    finder: CredentialFinder = field(default_factory=CredentialFinder)

    def take(self, src: str, stream: _Stream, offset: int, payload: bytes | Opaque) -> None:
        """A segment's payload at ``offset``: feed whatever it makes contiguous."""
        if offset + len(payload) <= stream.expected:
            return  # a retransmission: nothing new
        if offset > stream.expected:
            stream.early[offset] = payload
            return
        self._feed(src, stream, payload, stream.expected - offset)
        while stream.early:
            ready = [o for o in stream.early if o <= stream.expected]
            if not ready:
                return
            for o in sorted(ready):
                piece = stream.early.pop(o)
                if o + len(piece) > stream.expected:
                    self._feed(src, stream, piece, stream.expected - o)

    def _feed(self, src: str, stream: _Stream, payload: bytes | Opaque, skip: int) -> None:
        start = stream.expected
        stream.expected += len(payload) - skip
        if isinstance(payload, Opaque):
            self.finder.restart()  # TLS: nothing to find until plaintext comes again
            return
        data = payload[skip:]
        if src == self.client:
            stream.secret += [(start + a, start + b) for a, b in self.finder.client(data)]
        else:
            self.finder.server(data)


def _endpoints(rec: TraceRecord) -> tuple[str, str, int, str] | None:
    src, dst, seq, flags = (rec.fields.get(k) for k in ("src", "dst", "seq", "flags"))
    if not (isinstance(src, str) and isinstance(dst, str) and isinstance(seq, int)
            and isinstance(flags, str)):
        return None
    return src, dst, seq, flags


def _link_placements(records: Sequence[TraceRecord]) -> dict[int, tuple[_Stream, int]]:
    """For each link record with a plaintext payload (by index): its TCP stream and the
    payload's offset in it. Once this returns, every stream holds all its credential
    ranges, so a segment sent before the bytes that complete a credential is covered."""
    placements: dict[int, tuple[_Stream, int]] = {}
    connections: dict[frozenset[str], _Connection] = {}
    for index, rec in enumerate(records):
        if not _is_link(rec) or rec.kind not in _SEGMENT_KINDS:
            continue
        ends = _endpoints(rec)
        if ends is None:
            continue
        src, dst, seq, flags = ends
        key = frozenset((src, dst))
        connection = connections.get(key)
        opens = rec.kind == "tx" and "S" in flags and "A" not in flags
        if connection is None or (opens and (src not in connection.streams
                                             or connection.streams[src].isn != seq)):
            connection = connections[key] = _Connection(client=src)
        stream = connection.streams.get(src)
        if stream is None or (rec.kind == "tx" and "S" in flags and stream.isn != seq):
            stream = _Stream(isn=seq if "S" in flags else (seq - 1) % _SEQ_SPACE)
            connection.streams[src] = stream
        payload = rec.fields.get("payload")
        if not isinstance(payload, bytes | Opaque) or not len(payload):
            continue
        offset = stream.offset(seq)
        if isinstance(payload, bytes):
            placements[index] = (stream, offset)
        if rec.kind == "tx":
            connection.take(src, stream, offset, payload)
    return placements


def masked_records(records: Sequence[TraceRecord]) -> list[TraceRecord]:
    """Copies of ``records`` with every credential byte blanked (``*``, same length):
    in the server's ``rx`` data and in the link's segment payloads (module docstring).
    Records without credentials are the same objects."""
    out = list(records)
    for index, spans in server_spans(records).items():
        rec = out[index]
        data = rec.fields["data"]
        assert isinstance(data, bytes)  # server_spans only reports rx data
        out[index] = dataclasses.replace(rec, fields={**rec.fields, "data": blank(data, spans)})
    for index, (stream, offset) in _link_placements(records).items():
        rec = out[index]
        payload = rec.fields["payload"]
        assert isinstance(payload, bytes)  # only plaintext payloads are placed
        overlap = [(max(a - offset, 0), min(b - offset, len(payload)))
                   for a, b in stream.secret if a < offset + len(payload) and b > offset]
        if overlap:
            out[index] = dataclasses.replace(
                rec, fields={**rec.fields, "payload": blank(payload, overlap)})
    return out
