"""The server's mail content spool: what goes in comes back, whole, in blocks and in
ranges, in memory or in its file; equal contents compare equal, and a content pickles."""

from __future__ import annotations

import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenarios.server import spool
from scenarios.server.spool import MailContent


@given(chunks=st.lists(st.binary(max_size=40), max_size=30),
       start=st.integers(min_value=-50, max_value=700),
       end=st.one_of(st.none(), st.integers(min_value=-50, max_value=700)),
       needle=st.binary(min_size=1, max_size=3))
def test_content_reads_back_as_the_bytes_appended(
        chunks: list[bytes], start: int, end: int | None, needle: bytes) -> None:
    original = spool.IN_MEMORY_LIMIT
    spool.IN_MEMORY_LIMIT = 16  # type: ignore[misc]  # the file, with small contents
    try:
        content = MailContent()
        for chunk in chunks:
            content.append(chunk)
    finally:
        spool.IN_MEMORY_LIMIT = original  # type: ignore[misc]
    whole = b"".join(chunks)
    assert content.to_bytes() == whole and len(content) == len(whole)
    assert content.in_memory == (len(whole) <= 16)
    assert content.read(start, end) == whole[start:end]
    assert b"".join(content.blocks(start, end, size=7)) == whole[start:end]
    assert content.find(needle, block=5) == whole.find(needle)
    assert content.sha256 == hashlib.sha256(whole).hexdigest()
    assert content.prefix(start if start >= 0 else None).to_bytes() == (
        whole[:start] if start >= 0 else whole)
    assert content == MailContent.of(whole) and hash(content) == hash(MailContent.of(whole))
    assert pickle.loads(pickle.dumps(content)).to_bytes() == whole


def test_a_large_content_lives_in_a_file_not_in_memory() -> None:
    data = bytes(range(256)) * (3 * spool.IN_MEMORY_LIMIT // 256 + 5)
    content = MailContent()
    for at in range(0, len(data), 1000):
        content.append(data[at:at + 1000])
    assert not content.in_memory
    assert content.to_bytes() == data and content.read(12_345, 54_321) == data[12_345:54_321]
    assert content != MailContent.of(data[:-1] + b"\x00")
    content.close()
    with pytest.raises(ValueError):
        content.read(0, 10)
