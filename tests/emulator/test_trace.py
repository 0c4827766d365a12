"""The trace: canonical encoding, running hash, opaque ciphertext."""

import hashlib
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.trace import (
    Elided,
    FieldValue,
    JsonlStream,
    Opaque,
    Trace,
    TraceRecord,
    _canonical,
    encode_record,
)


def _fill(trace: Trace, payload: object) -> None:
    trace.record(0, "board", "boot", boot=1)
    trace.record(5, "link", "tx", payload=payload, flags="PA")  # type: ignore[arg-type]


def test_same_records_same_hash_regardless_of_field_order() -> None:
    a, b = Trace(), Trace()
    a.record(1, "s", "k", x=1, y="two")
    b.record(1, "s", "k", y="two", x=1)
    assert a.sha256() == b.sha256()


def test_plain_bytes_are_hashed_by_content() -> None:
    a, b = Trace(), Trace()
    _fill(a, b"EHLO a\r\n")
    _fill(b, b"EHLO b\r\n")
    assert a.sha256() != b.sha256()


def test_opaque_bytes_are_hashed_by_length_only() -> None:
    a, b, c = Trace(), Trace(), Trace()
    _fill(a, Opaque(b"\x17\x03\x03abc"))
    _fill(b, Opaque(b"\x17\x03\x03xyz"))
    _fill(c, Opaque(b"\x17\x03\x03xyzw"))
    assert a.sha256() == b.sha256()
    assert a.sha256() != c.sha256()


def test_jsonl_view_keeps_opaque_bytes_for_artifacts() -> None:
    t = Trace()
    _fill(t, Opaque(b"\x01\x02"))
    lines = [json.loads(line) for line in t.to_jsonl()]
    assert lines[1]["fields"]["payload"] == {"opaque_hex": "0102"}
    assert b'"opaque_len":2' in encode_record(t.records[1])


def test_select_and_subscribe() -> None:
    t = Trace()
    seen: list[str] = []
    t.subscribe(lambda r: seen.append(r.kind))
    t.record(0, "board.pool", "alloc", in_use=1)
    t.record(1, "board", "boot")
    t.record(2, "boardx", "other")
    assert [r.kind for r in t.select(source="board")] == ["alloc", "boot"]
    assert seen == ["alloc", "boot", "other"]


def test_unsupported_field_type_is_refused() -> None:
    with pytest.raises(TypeError, match="unsupported type float"):
        Trace().record(0, "s", "k", x=1.5)  # type: ignore[arg-type]


_digests = st.none() | st.text("0123456789abcdef", min_size=64, max_size=64)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.binary(),
                     st.binary().map(Opaque), st.builds(Elided, st.integers(0, 10**9), _digests))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@given(st.integers(min_value=0), st.text(), st.text(),
       st.dictionaries(st.text(), _values, max_size=6))
def test_encoding_is_exactly_json_dumps_of_the_canonical_form(
        t_us: int, source: str, kind: str, fields: dict[str, FieldValue]) -> None:
    record = TraceRecord(t_us, source, kind, fields)
    reference = json.dumps(
        [t_us, source, kind, {k: _canonical(v) for k, v in sorted(fields.items())}],
        separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"
    assert encode_record(record) == reference


def test_bytes_are_hashed_as_their_length_and_digest() -> None:
    record = TraceRecord(1, "link", "tx", {"payload": b"EHLO a\r\n"})
    digest = hashlib.sha256(b"EHLO a\r\n").hexdigest()
    assert encode_record(record) == (
        b'[1,"link","tx",{"payload":{"len":8,"sha256":"' + digest.encode() + b'"}}]\n')


def test_a_trace_that_keeps_no_bulk_bytes_hashes_and_shows_the_same() -> None:
    full, lean = Trace(), Trace(keep_bytes=16)
    seen: list[TraceRecord] = []
    lean.subscribe(seen.append)
    big, secret = bytes(range(200)), Opaque(b"\x17\x03\x03" + bytes(100))
    for trace in (full, lean):
        trace.record(0, "link", "tx", payload=big, flags="PA")
        trace.record(1, "link", "tx", payload=secret)
        trace.record(2, "server.c1", "rx", data=b"QUIT\r\n")
    assert lean.sha256() == full.sha256()
    assert [encode_record(r) for r in lean] == [encode_record(r) for r in full]
    assert lean.records[0].get("payload") == Elided(200, hashlib.sha256(big).hexdigest())
    assert lean.records[1].get("payload") == Elided(103, None)
    assert lean.records[2].get("data") == b"QUIT\r\n"  # small: kept as it was
    assert seen[0].get("payload") == big and seen[1].get("payload") == secret


def test_a_jsonl_stream_writes_every_byte_as_the_records_come() -> None:
    trace = Trace(keep_bytes=0)
    out = io.StringIO()
    stream = JsonlStream(out, show=lambda r: None if r.kind == "boot" else r)
    trace.subscribe(stream)
    _fill(trace, b"\x01\x02")
    assert stream.lines == 1
    assert json.loads(out.getvalue())["fields"]["payload"] == {"hex": "0102"}
    assert list(trace.to_jsonl())[1] == (
        '{"t_us":5,"source":"link","kind":"tx","fields":{"flags":"PA","payload":'
        f'{{"len":2,"sha256":"{hashlib.sha256(bytes([1, 2])).hexdigest()}"}}}}}}')


def test_keep_latest_keeps_only_the_last_record_it_accepts_and_hashes_them_all() -> None:
    full = Trace()
    lean = Trace(keep=lambda r: r.kind == "boot", keep_latest=lambda r: r.kind == "tx")
    for trace in (full, lean):
        trace.record(0, "server.c1", "tx", data=b"220 hi\r\n")
        trace.record(1, "board", "boot")
        trace.record(2, "server.c1", "tx", data=b"250 ok\r\n")
        trace.record(3, "server.c1", "rx", data=b"QUIT\r\n")
    assert lean.sha256() == full.sha256() and lean.recorded == 4
    assert [(r.t_us, r.kind) for r in lean] == [(1, "boot"), (2, "tx")]
    with pytest.raises(ValueError, match="keep_latest: only with keep"):
        Trace(keep_latest=lambda r: True)


def test_keep_bytes_must_be_a_size() -> None:
    with pytest.raises(ValueError, match="keep_bytes"):
        Trace(keep_bytes=-1)


def test_a_trace_may_keep_only_some_records_and_hash_them_all() -> None:
    full = Trace()
    some = Trace(keep=lambda r: r.kind != "tx")
    seen: list[str] = []
    some.subscribe(lambda r: seen.append(r.kind))
    for trace in (full, some):
        _fill(trace, b"\x01\x02")
    assert some.sha256() == full.sha256()
    assert [r.kind for r in some] == ["boot"] and some.recorded == 2 and len(some) == 1
    assert seen == ["boot", "tx"]
