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
  whichever segment carried it: :func:`masked_records`, or as the run goes,
  :class:`MaskingStream` (a segment is shown once the finder has followed its bytes).

Blanking keeps lengths (``*`` for each byte), so sequence numbers, the pcap's TCP
streams and the trace's record structure stay consistent; the transcript says what was
there instead (:func:`scenarios.server.authmask.with_markers`).

This module knows trace records, the field names of the link's segment records and of
the server's records; it runs nothing and knows no file formats.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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


class ServerFollower:
    """Follows the scripted server's records in order, one finder per connection: the
    credential spans of each ``rx`` record's ``data`` as it comes."""

    def __init__(self) -> None:
        self._finders: dict[str, CredentialFinder] = {}

    def spans(self, rec: TraceRecord) -> tuple[Span, ...]:
        """The spans of ``rec``'s data that are credentials (none unless a server
        ``rx`` record holds some); every server record must be shown, in order."""
        if not _is_server(rec):
            return ()
        finder = self._finders.setdefault(rec.source, CredentialFinder())
        data = rec.fields.get("data")
        if rec.kind == "rx" and isinstance(data, bytes):
            return finder.client(data)
        if rec.kind == "tx" and isinstance(data, bytes):
            finder.server(data)
        elif rec.kind in _NEW_SESSION_KINDS:
            finder.restart()
        return ()


def server_spans(records: Sequence[TraceRecord]) -> dict[int, tuple[Span, ...]]:
    """For each server ``rx`` record (by index in ``records``) that holds credentials,
    their spans in its ``data``."""
    follower = ServerFollower()
    return {index: found for index, rec in enumerate(records)
            if (found := follower.spans(rec))}


@dataclass
class _Stream:
    """One direction of a TCP connection: where its bytes start, what came so far."""

    isn: int
    expected: int = 0
    early: dict[int, bytes | Opaque] = field(default_factory=dict)
    secret: list[Span] = field(default_factory=list)
    """Credential byte ranges, as offsets in the stream."""
    done: bool = False
    """A new connection took this one's place: no more bytes will come."""

    def decided(self, offset: int, length: int) -> bool:
        """Whether every credential range over ``[offset, offset + length)`` is known:
        the finder has followed those bytes, or never will."""
        return self.done or offset + length <= self.expected

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


class _Placer:
    """Follows the link's segment records in order: which TCP stream and offset each
    payload is at, the streams' finders fed as their bytes become contiguous."""

    def __init__(self) -> None:
        self._connections: dict[frozenset[str], _Connection] = {}

    def place(self, rec: TraceRecord) -> tuple[_Stream, int] | None:
        """Where ``rec``'s plaintext payload sits (None: not a link segment record with
        one); every link record must be shown, in order."""
        if not _is_link(rec) or rec.kind not in _SEGMENT_KINDS:
            return None
        ends = _endpoints(rec)
        if ends is None:
            return None
        src, dst, seq, flags = ends
        key = frozenset((src, dst))
        connection = self._connections.get(key)
        opens = rec.kind == "tx" and "S" in flags and "A" not in flags
        if connection is None or (opens and (src not in connection.streams
                                             or connection.streams[src].isn != seq)):
            if connection is not None:
                for old in connection.streams.values():
                    old.done = True
            connection = self._connections[key] = _Connection(client=src)
        stream = connection.streams.get(src)
        if stream is None or (rec.kind == "tx" and "S" in flags and stream.isn != seq):
            if stream is not None:
                stream.done = True
            stream = _Stream(isn=seq if "S" in flags else (seq - 1) % _SEQ_SPACE)
            connection.streams[src] = stream
        payload = rec.fields.get("payload")
        if not isinstance(payload, bytes | Opaque) or not len(payload):
            return None
        offset = stream.offset(seq)
        if rec.kind == "tx":
            connection.take(src, stream, offset, payload)
        return (stream, offset) if isinstance(payload, bytes) else None


def _link_placements(records: Sequence[TraceRecord]) -> dict[int, tuple[_Stream, int]]:
    """For each link record with a plaintext payload (by index): its TCP stream and the
    payload's offset in it. Once this returns, every stream holds all its credential
    ranges, so a segment sent before the bytes that complete a credential is covered."""
    placer = _Placer()
    return {index: placed for index, rec in enumerate(records)
            if (placed := placer.place(rec)) is not None}


def _blank_server(rec: TraceRecord, spans: Sequence[Span]) -> TraceRecord:
    data = rec.fields["data"]
    assert isinstance(data, bytes)  # spans are only found in rx data
    return dataclasses.replace(rec, fields={**rec.fields, "data": blank(data, spans)})


def _blank_link(rec: TraceRecord, stream: _Stream, offset: int) -> TraceRecord:
    payload = rec.fields["payload"]
    assert isinstance(payload, bytes)  # only plaintext payloads are placed
    overlap = [(max(a - offset, 0), min(b - offset, len(payload)))
               for a, b in stream.secret if a < offset + len(payload) and b > offset]
    if not overlap:
        return rec
    return dataclasses.replace(rec, fields={**rec.fields, "payload": blank(payload, overlap)})


def masked_records(records: Sequence[TraceRecord]) -> list[TraceRecord]:
    """Copies of ``records`` with every credential byte blanked (``*``, same length):
    in the server's ``rx`` data and in the link's segment payloads (module docstring).
    Records without credentials are the same objects."""
    out = list(records)
    for index, spans in server_spans(records).items():
        out[index] = _blank_server(out[index], spans)
    for index, (stream, offset) in _link_placements(records).items():
        out[index] = _blank_link(out[index], stream, offset)
    return out


class MaskingStream:
    """:func:`masked_records` as the run goes: call it with each record in order (or
    subscribe it to a trace) and it calls ``show`` with the same record, credentials
    blanked, as soon as every byte the record carries has been followed.

    A segment's bytes are followed when they become contiguous in their TCP stream, so
    a segment sent after a gap (never, from a TCP that sends in order; retransmissions
    fill gaps) waits, with every record after it, until the gap is filled or its
    connection is replaced; records keep their order. :meth:`close` shows what still
    waits, blanked by what is known then, as :func:`masked_records` does. What it
    shows is, record for record, what :func:`masked_records` gives for the whole
    trace."""

    def __init__(self, show: Callable[[TraceRecord], None]) -> None:
        self._show = show
        self._server = ServerFollower()
        self._placer = _Placer()
        self._waiting: deque[tuple[TraceRecord, tuple[_Stream, int] | None]] = deque()

    def __call__(self, rec: TraceRecord) -> tuple[Span, ...]:
        """Take the next record; the credential spans of its data (a server ``rx``
        record's), for a view that marks them rather than blanks them."""
        spans = self._server.spans(rec)
        shown = _blank_server(rec, spans) if spans else rec
        placed = self._placer.place(shown)
        if placed is None and not self._waiting:
            self._show(shown)  # the usual case: nothing to wait for
            return spans
        self._waiting.append((shown, placed))
        self._release(final=False)
        return spans

    def close(self) -> None:
        """The run ended: show every record still waiting."""
        self._release(final=True)

    @property
    def waiting(self) -> int:
        """Records held back, waiting for bytes before them in their stream."""
        return len(self._waiting)

    def _release(self, final: bool) -> None:
        while self._waiting:
            rec, placed = self._waiting[0]
            if placed is not None:
                stream, offset = placed
                if not final and not stream.decided(offset, _payload_length(rec)):
                    return
                rec = _blank_link(rec, stream, offset)
            self._waiting.popleft()
            self._show(rec)


def _payload_length(rec: TraceRecord) -> int:
    payload = rec.fields["payload"]
    assert isinstance(payload, bytes)  # only plaintext payloads are placed
    return len(payload)


def iter_masked(records: Iterable[TraceRecord]) -> Iterator[TraceRecord]:
    """:func:`masked_records` record by record, reading ``records`` once in order
    (:class:`MaskingStream`: the same records; a trace kept on disk is never held whole)."""
    shown: deque[TraceRecord] = deque()
    stream = MaskingStream(shown.append)
    for rec in records:
        stream(rec)
        while shown:
            yield shown.popleft()
    stream.close()
    yield from shown
