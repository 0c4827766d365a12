"""emulator/tracespill.py: trace records past a bound on disk, read back as they went in."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import pytest

from emulator.trace import Elided, Opaque, Trace, TraceRecord, encode_record
from emulator.tracespill import SpillingRecords, kept_records


def _records(count: int) -> list[TraceRecord]:
    return [TraceRecord(i, "link.link", "tx", {"seq": i, "payload": bytes([i % 256]) * (i % 7),
                                                "cipher": Opaque(b"x" * (i % 3)),
                                                "gone": Elided(i, "ab"), "path": (i, "a")})
            for i in range(count)]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the spill file would be made in (and must not stay in)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("bound", "block"), [(0, 1), (3, 2), (5, 4), (100, 7)])
def test_records_come_back_as_they_went_in_in_order_and_by_index(
        bound: int, block: int, private_tmp: Path) -> None:
    records = _records(40)
    spilling = SpillingRecords(bound, block)
    spilling.extend(records)
    assert len(spilling) == 40
    assert list(spilling) == records
    assert [spilling[i] for i in range(40)] == records
    assert spilling[-1] == records[-1] and spilling[-40] == records[0]
    assert spilling[5:30:3] == records[5:30:3]
    assert spilling.spilled == max(0, 40 - bound)
    assert list(spilling) == records  # a second pass reads the file again
    assert os.listdir(private_tmp) == []  # the file has no name


def test_an_index_out_of_range_says_how_many_records_there_are() -> None:
    spilling = SpillingRecords(2, 2)
    spilling.extend(_records(5))
    with pytest.raises(IndexError, match="trace record 5: the trace has 5 records"):
        spilling[5]
    with pytest.raises(IndexError, match="trace record -6"):
        spilling[-6]


def test_only_records_not_yet_written_can_be_replaced_or_removed() -> None:
    records = _records(7)
    spilling = SpillingRecords(2, 3)
    spilling.extend(records)  # 2 in memory, 3 on disk, 2 waiting
    spilling[6] = records[0]
    assert spilling[6] == records[0]
    del spilling[5]
    assert list(spilling) == [*records[:5], records[0]]
    with pytest.raises(ValueError, match="replace trace record 3: it was written to disk"):
        spilling[3] = records[0]
    with pytest.raises(ValueError, match="remove trace record 0: records after it are on disk"):
        del spilling[0]
    with pytest.raises(ValueError, match="insert at 0: records can only be appended"):
        spilling.insert(0, records[0])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_a_bad_bound_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="bound: expected a whole number >= 0"):
        SpillingRecords(bad)  # type: ignore[arg-type]


def test_pickled_it_becomes_a_tuple_of_its_records() -> None:
    records = _records(9)
    spilling = SpillingRecords(2, 2)
    spilling.extend(records)
    assert pickle.loads(pickle.dumps(spilling)) == tuple(records)


def test_a_finished_run_keeps_a_tuple_unless_records_went_to_disk() -> None:
    few = SpillingRecords(10)
    few.extend(_records(3))
    assert kept_records(few) == tuple(_records(3))
    many = SpillingRecords(1)
    many.extend(_records(3))
    assert kept_records(many) is many


def test_a_trace_keeping_its_records_on_disk_hashes_and_keeps_what_a_list_would(
        private_tmp: Path) -> None:
    plain, spilled = Trace(keep_bytes=4), Trace(keep_bytes=4, records=SpillingRecords(3, 2))
    for trace in (plain, spilled):
        for rec in _records(25):
            trace.add(rec.t_us, rec.source, rec.kind, dict(rec.fields))
    assert spilled.sha256() == plain.sha256()
    assert len(spilled) == len(plain) == 25
    assert [encode_record(r) for r in spilled] == [encode_record(r) for r in plain]
    assert list(spilled) == list(plain)  # lean copies (Elided) included
    assert spilled.select("link", "tx") == plain.select("link", "tx")
    assert os.listdir(private_tmp) == []


def test_closed_the_file_is_gone() -> None:
    spilling = SpillingRecords(0, 1)
    spilling.extend(_records(2))
    spilling.close()
    with pytest.raises(ValueError):
        list(spilling)
