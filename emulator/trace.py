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

Field values are ``None``, ``bool``, ``int``, ``str``, ``bytes``, :class:`Opaque`, or
tuples/lists of those. :class:`Opaque` wraps bytes whose content varies from run to run
(TLS ciphertext): the hash covers only their length, views (pcap) still get the bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, TypeGuard, get_args


@dataclass(frozen=True, slots=True)
class Opaque:
    """Bytes that differ between identical runs (ciphertext); hashed by length only."""

    data: bytes

    def __len__(self) -> int:
        return len(self.data)


FieldValue: TypeAlias = "bool | int | str | bytes | Opaque | Sequence[FieldValue] | None"

# ---- the vocabulary: every kind of record any part of the world writes -----------------

BoardKind: TypeAlias = Literal["boot", "rx_drop", "task_exit", "busy_wait", "busy_wait_end",
                               "watchdog_reset"]
"""The emulated board (source ``<board>``): :mod:`emulator.board`, :mod:`emulator.cfirmware`."""
FirmwareKind: TypeAlias = Literal["submit", "event", "log", "wire_problem", "contract_problem",
                                     "fault"]
"""The firmware on a board: jobs and events (``<board>.app``), a C firmware's log lines,
wire problems and faults (``<board>.fw``)."""
ClientKind: TypeAlias = Literal["send", "event", "message_composed", "discarded_plaintext",
                                "job_lost"]
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
                                "idle_timeout"]
"""A scripted server's connection (``server.c<N>``), simulated or on real sockets (the
asyncio driver's transcript lines become these records in reports)."""
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
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, Opaque):
        return {"opaque_len": len(value.data)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    raise TypeError(f"trace field of unsupported type {type(value).__name__}")


def _jsonable(value: FieldValue) -> object:
    """Like the canonical form, but keeps opaque bytes (for artifacts, not hashing)."""
    if isinstance(value, Opaque):
        return {"opaque_hex": value.data.hex()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _canonical(value)


_json_str = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses


def _encode_bytes(value: bytes) -> str:
    return '{"hex":"' + value.hex() + '"}'


def _encode_opaque(value: Opaque) -> str:
    return '{"opaque_len":' + int.__repr__(len(value.data)) + "}"


def _encode_sequence(value: Sequence[FieldValue]) -> str:
    return "[" + ",".join([_encode(v) for v in value]) + "]"


_ENCODERS: Final[dict[type, Callable[[Any], str]]] = {
    int: int.__repr__,
    str: _json_str,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _value: "null",
    bytes: _encode_bytes,
    Opaque: _encode_opaque,
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
    if isinstance(value, list | tuple):
        return _encode_sequence(value)
    raise TypeError(f"trace field of unsupported type {type(value).__name__}")


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
    fields = record.fields
    encoders = _ENCODERS
    parts = []
    for key, prefix in _key_order(tuple(fields)):
        value = fields[key]
        encoder = encoders.get(type(value))
        parts.append(prefix + (encoder(value) if encoder is not None else _encode(value)))
    line = (f"[{int.__repr__(record.t_us)},{_json_str(record.source)},"
            f"{_json_str(record.kind)},{{{','.join(parts)}}}]\n")
    return line.encode("ascii")


class Trace:
    """An append-only list of records with a running hash and live subscribers."""

    def __init__(self) -> None:
        self._records: list[TraceRecord] = []
        self._hash = hashlib.sha256()
        self._subscribers: list[Callable[[TraceRecord], None]] = []

    def record(self, t_us: int, source: str, kind: TraceKind,
               **fields: FieldValue) -> TraceRecord:
        return self.add(t_us, source, kind, fields)

    def add(self, t_us: int, source: str, kind: TraceKind,
            fields: dict[str, FieldValue]) -> TraceRecord:
        """:meth:`record` with the fields as a dict, which the record keeps (the caller
        must not change it afterwards)."""
        rec = TraceRecord(t_us, source, kind, fields)
        self._records.append(rec)
        self._hash.update(encode_record(rec))
        for subscriber in self._subscribers:
            subscriber(rec)
        return rec

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
        return self._hash.copy().hexdigest()

    def to_jsonl(self) -> Iterator[str]:
        """Records as JSON lines for artifacts (opaque bytes included as hex)."""
        return records_to_jsonl(self._records)


def records_to_jsonl(records: Iterable[TraceRecord]) -> Iterator[str]:
    """Records as JSON lines for artifacts (opaque bytes included as hex)."""
    for r in records:
        fields = {k: _jsonable(v) for k, v in sorted(r.fields.items())}
        yield json.dumps(
            {"t_us": r.t_us, "source": r.source, "kind": r.kind, "fields": fields},
            separators=(",", ":"),
        )
