"""Per-record costs of the trace: building fields, encoding, hashing, storing.

Run as ``.venv/bin/python bench/bench_trace.py``. It prints microseconds per operation
(best of 5 repeats of N calls each, ``timeit``) for the record shapes that dominate a run:
a link ``tx`` of a full data segment (1460 bytes of payload), of a TLS data segment
(ciphertext, hashed by length), of a pure ACK, a pool ``alloc``, and a TCP
``tx_blocked``. For each: building the fields from a segment (link records only),
:func:`emulator.trace.encode_record`, the hash update of that line, and the whole
:meth:`emulator.trace.Trace.record` call. It asserts nothing.

This script knows the trace and the segment; it reads no clock but ``timeit``'s.
"""

from __future__ import annotations

import functools
import hashlib
import timeit
from collections.abc import Callable

from measure import load_average

from emulator.trace import FieldValue, Trace, TraceKind, TraceRecord, encode_record
from stack.segment import Flags, Segment

CALLS = 20_000
REPEATS = 5

DATA = Segment("192.0.2.10", 49152, "198.51.100.25", 25, 1_000_000, 2_000_000,
               Flags.ACK | Flags.PSH, 5840, bytes(range(256)) * 5 + bytes(180), ip_id=7)
CIPHER = Segment("192.0.2.10", 49152, "198.51.100.25", 25, 1_000_000, 2_000_000,
                 Flags.ACK | Flags.PSH, 5840, bytes(1460), ciphertext=True, ip_id=8)
PURE_ACK = Segment("198.51.100.25", 25, "192.0.2.10", 49152, 2_000_000, 1_001_460,
                   Flags.ACK, 5840, ip_id=9)

SHAPES: list[tuple[str, str, TraceKind, Segment | None, dict[str, FieldValue]]] = [
    ("link tx, 1460 B data", "link.link", "tx", DATA, {}),
    ("link tx, 1460 B ciphertext", "link.link", "tx", CIPHER, {}),
    ("link tx, pure ACK", "link.link", "tx", PURE_ACK, {}),
    ("pool alloc", "board.pool", "alloc", None, {"purpose": "tx", "id": 1234, "in_use": 5}),
    ("tcp tx_blocked", "tcp.board", "tx_blocked", None,
     {"conn": "192.0.2.10:49152-198.51.100.25:25", "accepted": 2920, "requested": 4096}),
]


def per_call_us(work: Callable[[], object]) -> float:
    best = min(timeit.repeat(work, number=CALLS, repeat=REPEATS))
    return best / CALLS * 1e6


def main() -> None:
    print(f"trace costs per record, us (best of {REPEATS} x {CALLS:,} calls; {load_average()})")
    print(f"  {'shape':<28} {'fields':>8} {'encode':>8} {'hash':>8} {'record':>8}  line bytes")
    for label, source, kind, segment, given in SHAPES:
        fields = segment.trace_fields() if segment is not None else given
        record = TraceRecord(1_234_567, source, kind, fields)
        line = encode_record(record)
        build = f"{per_call_us(segment.trace_fields):8.2f}" if segment is not None \
            else f"{'-':>8}"
        encode = per_call_us(lambda record=record: encode_record(record))
        digest = hashlib.sha256()
        hashing = per_call_us(functools.partial(digest.update, line))
        whole = per_call_us(functools.partial(Trace().record, record.t_us, record.source,
                                              record.kind, **record.fields))
        print(f"  {label:<28} {build} {encode:8.2f} {hashing:8.2f} {whole:8.2f}  {len(line)}")


if __name__ == "__main__":
    main()
