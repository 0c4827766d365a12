"""Typed trace records and the trace hash.

Every observable of a run is a record ``(t_us, source, kind, fields)``. The trace keeps a
running SHA-256 over a canonical encoding of each record, so the hash of a run is ready
the moment the run ends and costs no second pass.

This module knows how to encode field values canonically, and the vocabulary of kinds:
:data:`TraceKind` is the closed set of every kind any part of the world records (grouped
by who records it), checked by mypy at every call site and by
:meth:`~emulator.kernel.Kernel.emit` at run time, so a view that compares
``record.kind == "..."`` compares with a kind that exists. Sources stay an open set of
names (``<board>``, ``<board>.<task>``, ``tcp.<host>``, ``link.<name>``,
``server.c<N>``): boards, hosts, links and tasks are named by scenarios and tests, so no
list could close them. The module
knows nothing else about the sources: those only call :meth:`Trace.record`.

Field values are ``None``, ``bool``, ``int``, ``str``, ``bytes``, :class:`Opaque`,
:class:`Elided`, or tuples/lists of those. The hash covers bytes as their length and
SHA-256 (every byte counts; the hash input stays small). :class:`Opaque` wraps bytes
whose content varies from run to run (TLS ciphertext): the hash covers only their
length, views (pcap) still get the bytes. A trace made with ``keep_bytes`` keeps bulk
bytes only until its subscribers have seen them (streaming views write them to disk as
the run goes), then holds them as :class:`Elided`: length and digest, encoded exactly as
the bytes were, so memory does not grow with the payload a run carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TextIO, TypeAlias, TypeGuard, get_args


@dataclass(frozen=True, slots=True)
class Opaque:
    """Bytes that differ between identical runs (ciphertext); hashed by length only."""

    data: bytes

    def __len__(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Elided:
    """Bytes a trace let go of after hashing them (``Trace(keep_bytes=...)``): their
    length and SHA-256, or for ciphertext (:class:`Opaque`, hashed by length only) the
    length alone. It encodes exactly as the bytes did, so a record's canonical line, and
    every comparison of lines, is the same with or without the bytes."""

    length: int
    sha256: str | None

    def __len__(self) -> int:
        return self.length


FieldValue: TypeAlias = ("bool | int | str | bytes | Opaque | Elided | Sequence[FieldValue] "
                         "| None")

# ---- the vocabulary: every kind of record any part of the world writes -----------------

BoardKind: TypeAlias = Literal["boot", "rx_drop", "task_exit", "busy_wait", "busy_wait_end",
                               "watchdog_reset"]
"""The emulated board (source ``<board>``): :mod:`emulator.board`, :mod:`emulator.cfirmware`."""
FirmwareKind: TypeAlias = Literal["submit", "event", "log", "wire_problem", "contract_problem",
                                     "fault"]
"""The firmware on a board: jobs and events (``<board>.app``), a C firmware's log lines,
wire problems and faults (``<board>.fw``)."""
ClientKind: TypeAlias = Literal["send", "event", "message_composed", "discarded_plaintext",
                                "job_lost", "matched"]
"""The SMTP client task (``<board>.smtp``): :mod:`smtp.task`, :class:`smtp.outputs.Log`."""
UartKind: TypeAlias = Literal["rx", "rx_overrun", "tx"]
"""A UART (``<board>.uart``)."""
RtcKind: TypeAlias = Literal["set", "unset"]
"""A real-time clock (``<board>.rtc``)."""
PoolKind: TypeAlias = Literal["alloc", "free", "exhausted", "drop", "reclaimed"]
"""A buffer pool (``<board>.pool``): :mod:`stack.pool`."""
LinkKind: TypeAlias = Literal["tx", "drop", "fault"]
"""A link (``link.<name>``): every segment, every drop and every fault verb."""
TcpKind: TypeAlias = Literal["connect", "accept", "listen", "unlisten", "state", "retransmit",
                             "go_back", "rto", "probe", "timeout", "rst", "ooo_drop",
                             "deferred", "tx_blocked", "syn_dropped", "closed", "reset"]
"""A TCP stack (``tcp.<host>``): :mod:`stack.tcp`."""
TlsKind: TypeAlias = Literal["tls_start", "tls_established", "tls_close_notify_received",
                             "tls_close_notify_sent", "tls_failure"]
"""A TLS session's trace hook: :mod:`stack.tls.session`."""
ServerKind: TypeAlias = Literal["accept", "rx", "tx", "tls_established", "tls_failed",
                                "tls_close_notify", "discarded", "discarded_plaintext",
                                "close", "reset", "drop_tls", "silence", "closed", "refused",
                                "idle_timeout", "tls_stall", "tx_generated", "answer",
                                "stop_reading", "resume_reading"]
"""A scripted server's connection (``server.c<N>``), simulated or on real sockets (the
asyncio driver's transcript lines become these records in reports); ``answer`` is an
entry of the simulated server's reply ledger."""
TestKind: TypeAlias = Literal["done", "reply", "hello", "set_order"]
"""Kinds the test suite's own tasks and hooks record (``tests/``): listed so that the
check below lets them through."""

TraceKind: TypeAlias = Literal[BoardKind, FirmwareKind, ClientKind, UartKind, RtcKind, PoolKind,
                               LinkKind, TcpKind, TlsKind, ServerKind, TestKind]
"""Every kind of trace record: a closed set, checked by mypy at each call site and by
:meth:`emulator.kernel.Kernel.emit` at run time."""

TRACE_KINDS: Final[frozenset[str]] = frozenset(get_args(TraceKind))


def _is_trace_kind(value: str) -> TypeGuard[TraceKind]:
    return value in TRACE_KINDS


def unknown_kind(kind: object, source: str) -> str:
    """The one wording of a refused kind."""
    return (f"trace kind: {kind!r} (source {source!r}) is not one of emulator.trace.TraceKind "
            f"(expected one of {', '.join(sorted(TRACE_KINDS))})")


def trace_kind(value: str, source: str = "?") -> TraceKind:
    """``value`` as a :data:`TraceKind`; ValueError when it is none (for kinds that come
    from outside the type checker's sight, such as a transcript's lines)."""
    if _is_trace_kind(value):
        return value
    raise ValueError(unknown_kind(value, source))


@dataclass(slots=True)
class TraceRecord:
    """One observable event: when, who, what, and the details.

    Read-only by convention: the trace hashed the record as it was made, so nothing
    changes a record afterwards (views that need another one make a copy with
    :func:`dataclasses.replace`). Not frozen only because a frozen dataclass costs three
    times as much to build, and the trace builds one for every event of every run.
    """

    t_us: int
    source: str
    kind: TraceKind
    fields: Mapping[str, FieldValue]

    def get(self, name: str, default: FieldValue = None) -> FieldValue:
        return self.fields.get(name, default)


def _canonical(value: FieldValue) -> object:
    """The value as the hash sees it (the reference :func:`encode_record` must match)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return {"len": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Opaque):
        return {"opaque_len": len(value.data)}
    if isinstance(value, Elided):
        if value.sha256 is None:
            return {"opaque_len": value.length}
        return {"len": value.length, "sha256": value.sha256}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    raise TypeError(f"trace field of unsupported type {type(value).__name__}")


def _jsonable(value: FieldValue) -> object:
    """The value for artifacts (not hashing): bytes and opaque bytes in hex."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, Opaque):
        return {"opaque_hex": value.data.hex()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _canonical(value)


_json_str = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses


def _encode_bytes(value: bytes) -> str:
    if not value:
        return _NO_BYTES  # every pure ACK's payload
    return ('{"len":' + int.__repr__(len(value)) + ',"sha256":"'
            + hashlib.sha256(value).hexdigest() + '"}')


_NO_BYTES: Final = '{"len":0,"sha256":"' + hashlib.sha256(b"").hexdigest() + '"}'


def _encode_opaque(value: Opaque) -> str:
    return '{"opaque_len":' + int.__repr__(len(value.data)) + "}"


def _encode_elided(value: Elided) -> str:
    if value.sha256 is None:
        return '{"opaque_len":' + int.__repr__(value.length) + "}"
    return '{"len":' + int.__repr__(value.length) + ',"sha256":"' + value.sha256 + '"}'


def _encode_sequence(value: Sequence[FieldValue]) -> str:
    return "[" + ",".join([_encode(v) for v in value]) + "]"


_ENCODERS: Final[dict[type, Callable[[Any], str]]] = {
    int: int.__repr__,
    str: _json_str,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _value: "null",
    bytes: _encode_bytes,
    Opaque: _encode_opaque,
    Elided: _encode_elided,
    tuple: _encode_sequence,
    list: _encode_sequence,
}
"""The encoder of each exact value type (the per-record fast path); subclasses (an
``IntFlag``, a ``str`` enum) go through :func:`_encode`'s ``isinstance`` chain."""


def _encode(value: FieldValue) -> str:
    """One field value as ``json.dumps`` writes its canonical form (compact, ASCII)."""
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, bytes):
        return _encode_bytes(value)
    if isinstance(value, Opaque):
        return _encode_opaque(value)
    if isinstance(value, Elided):
        return _encode_elided(value)
    if isinstance(value, list | tuple):
        return _encode_sequence(value)
    raise TypeError(f"trace field of unsupported type {type(value).__name__}")


_HASH_BATCH: Final = 64
"""Encoded lines a trace collects before it hashes them in one update (SHA-256 over
their concatenation is the same as over each in turn; one call per batch instead of an
``encode`` and an ``update`` per record)."""

_KEY_ORDER_LIMIT = 4096
_key_orders: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}


def _key_order(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The keys of a field set sorted, each with its encoded ``"key":`` prefix.

    Records come from a few dozen call sites, so the same key sets recur on every
    record: sorted and encoded once (per process, bounded) instead of per record."""
    order = _key_orders.get(keys)
    if order is None:
        if len(_key_orders) >= _KEY_ORDER_LIMIT:
            _key_orders.clear()
        order = tuple((key, _json_str(key) + ":") for key in sorted(keys))
        _key_orders[keys] = order
    return order


def encode_record(record: TraceRecord) -> bytes:
    """Canonical, hash-stable encoding of one record (one JSON line).

    The same bytes as ``json.dumps([t_us, source, kind, {sorted fields}],
    separators=(",", ":"), ensure_ascii=True)`` over the canonical field values, written
    directly because this runs for every record of every run.
    """
    return _encode_line(record).encode("ascii")


def _encode_line(record: TraceRecord) -> str:
    """:func:`encode_record` as text (ASCII only: the trace hashes its lines in batches)."""
    fields = record.fields
    keys = tuple(fields)
    order = _key_orders.get(keys)  # _key_order's cache, without its call per record
    if order is None:
        order = _key_order(keys)
    encoders = _ENCODERS
    parts = []
    for key, prefix in order:
        value = fields[key]
        encoder = encoders.get(type(value))
        parts.append(prefix + (encoder(value) if encoder is not None else _encode(value)))
    return (f"[{int.__repr__(record.t_us)},{_json_str(record.source)},"
            f"{_json_str(record.kind)},{{{','.join(parts)}}}]\n")


def _elided(fields: Mapping[str, FieldValue], limit: int) -> dict[str, FieldValue] | None:
    """``fields`` with bytes and Opaque values longer than ``limit`` as :class:`Elided`,
    or None when there is none."""
    out: dict[str, FieldValue] | None = None
    for key, value in fields.items():
        if type(value) is bytes and len(value) > limit:
            elided = Elided(len(value), hashlib.sha256(value).hexdigest())
        elif type(value) is Opaque and len(value) > limit:
            elided = Elided(len(value), None)
        else:
            continue
        if out is None:
            out = dict(fields)
        out[key] = elided
    return out


class Trace:
    """An append-only list of records with a running hash and live subscribers.

    ``keep_bytes``: None keeps every record as it was made. A number N makes the trace
    keep bytes and :class:`Opaque` fields longer than N bytes only until the record is
    hashed and every subscriber has seen it; the stored record then holds them as
    :class:`Elided` (length and digest: the same canonical line). Views that need the
    bulk bytes (the capture, the JSON lines of the trace) subscribe before the run and
    write them as they come (:class:`stack.pcap.PcapStream`, :class:`JsonlStream`).

    ``keep``: None keeps every record; a predicate keeps only the records it accepts
    (the others are hashed and seen by the subscribers, then let go: a run whose views
    need only a few kinds of record does not hold one per segment). ``keep_latest``
    (with ``keep`` only): of the records this predicate accepts and ``keep`` does not,
    only the latest stays (a view that reads the last server reply does not hold one
    per chunk of a 20 MiB mail). :attr:`recorded` counts them all, ``len()`` the
    records kept.

    ``records``: the list to keep them in (default a new list; a
    :class:`emulator.tracespill.SpillingRecords` keeps those past a bound on disk)."""

    def __init__(self, *, keep_bytes: int | None = None,
                 keep: Callable[[TraceRecord], bool] | None = None,
                 keep_latest: Callable[[TraceRecord], bool] | None = None,
                 records: MutableSequence[TraceRecord] | None = None) -> None:
        if keep_bytes is not None and (not isinstance(keep_bytes, int)
                                       or isinstance(keep_bytes, bool) or keep_bytes < 0):
            raise ValueError(f"keep_bytes: expected None or a number of bytes >= 0, "
                             f"got {keep_bytes!r}")
        self.keep_bytes = keep_bytes
        if keep_latest is not None and keep is None:
            raise ValueError("keep_latest: only with keep (without it every record stays)")
        self.keep = keep
        self.keep_latest = keep_latest
        self._latest_at: int | None = None
        self.recorded = 0
        self._records: MutableSequence[TraceRecord] = [] if records is None else records
        self._hash = hashlib.sha256()
        self._unhashed: list[str] = []  # encoded lines the hash has not had yet
        self._subscribers: list[Callable[[TraceRecord], None]] = []

    def record(self, t_us: int, source: str, kind: TraceKind,
               **fields: FieldValue) -> TraceRecord:
        return self.add(t_us, source, kind, fields)

    def add(self, t_us: int, source: str, kind: TraceKind,
            fields: dict[str, FieldValue]) -> TraceRecord:
        """:meth:`record` with the fields as a dict, which the record keeps (the caller
        must not change it afterwards)."""
        rec = TraceRecord(t_us, source, kind, fields)
        self.recorded += 1
        position, latest = -1, False
        if self.keep is None or self.keep(rec):
            position = len(self._records)
            self._records.append(rec)
        elif self.keep_latest is not None and self.keep_latest(rec):
            self._drop_latest()
            position, latest = len(self._records), True
            self._records.append(rec)
        unhashed = self._unhashed
        unhashed.append(_encode_line(rec))
        if len(unhashed) >= _HASH_BATCH:
            self._hash_unhashed()
        for subscriber in self._subscribers:
            subscriber(rec)
        if position >= 0 and self.keep_bytes is not None:
            slim = _elided(fields, self.keep_bytes)
            if slim is not None:
                self._records[position] = TraceRecord(t_us, source, kind, slim)
        if latest:
            self._latest_at = position
        return rec

    def _drop_latest(self) -> None:
        """Let go of the record ``keep_latest`` kept last: always the one at
        :attr:`_latest_at` (records after it only move down by one when it goes)."""
        if self._latest_at is not None:
            del self._records[self._latest_at]
            self._latest_at = None

    def _hash_unhashed(self) -> None:
        """Feed the lines encoded so far to the running hash (one update per batch)."""
        self._hash.update("".join(self._unhashed).encode("ascii"))
        self._unhashed.clear()

    def subscribe(self, callback: Callable[[TraceRecord], None]) -> None:
        """Call ``callback`` with every record from now on (live views)."""
        self._subscribers.append(callback)

    @property
    def records(self) -> Sequence[TraceRecord]:
        return self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self._records)

    def select(self, source: str | None = None,
               kind: TraceKind | None = None) -> list[TraceRecord]:
        """Records matching a source prefix and/or an exact kind."""
        return [
            r
            for r in self._records
            if (source is None or r.source == source or r.source.startswith(source + "."))
            and (kind is None or r.kind == kind)
        ]

    def sha256(self) -> str:
        """Hex digest over the canonical encoding of every record so far."""
        if self._unhashed:
            self._hash_unhashed()
        return self._hash.copy().hexdigest()

    def to_jsonl(self) -> Iterator[str]:
        """Records as JSON lines for artifacts (opaque bytes included as hex)."""
        return records_to_jsonl(self._records)


def record_to_jsonl(record: TraceRecord) -> str:
    """One record as a JSON line for artifacts (bytes and opaque bytes as hex; elided
    bytes as their length and digest), without the line end."""
    fields = {k: _jsonable(v) for k, v in sorted(record.fields.items())}
    return json.dumps(
        {"t_us": record.t_us, "source": record.source, "kind": record.kind, "fields": fields},
        separators=(",", ":"),
    )


def records_to_jsonl(records: Iterable[TraceRecord]) -> Iterator[str]:
    """Records as JSON lines for artifacts (opaque bytes included as hex)."""
    return (record_to_jsonl(r) for r in records)


class JsonlStream:
    """Writes each record it is given as a JSON line (:func:`record_to_jsonl`) to ``out``
    as it comes: subscribe it to a trace (``trace.subscribe(stream)``) and the run's
    records are on disk as the run goes, bytes and all, even when the trace itself keeps
    only their digests. ``show`` may replace a record before it is written (masking), or
    drop it (None). The caller opens and closes ``out``."""

    def __init__(self, out: TextIO,
                 show: Callable[[TraceRecord], TraceRecord | None] | None = None) -> None:
        self._out = out
        self._show = show
        self.lines = 0

    def __call__(self, record: TraceRecord) -> None:
        shown = record if self._show is None else self._show(record)
        if shown is not None:
            self._out.write(record_to_jsonl(shown) + "\n")
            self.lines += 1
