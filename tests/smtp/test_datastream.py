"""Tests for smtp/datastream.py: normalisation, dot-stuffing, BDAT chunks and SIZE."""

from __future__ import annotations

import itertools
import re
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp.datastream import (
    BdatChunker,
    CrlfNormalizer,
    DotStuffer,
    SizeCounter,
    dot_stuff,
    message_size,
    normalize,
    unstuff,
)
from smtp.errors import SmtpInputError

MiB = 1024 * 1024
TERMINATOR = b"\r\n.\r\n"

# -- reference model ----------------------------------------------------------------------


def reference_normalize(body: bytes) -> bytes:
    """CRLF, lone CR and lone LF each count as one line break."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", body)


def expected_message(body: bytes) -> bytes:
    """What the server must store: normalised, with a final CRLF if the body had none."""
    norm = reference_normalize(body)
    if norm and not norm.endswith(b"\r\n"):
        norm += b"\r\n"
    return norm


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(c for c in cuts if c <= len(body)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points)]


def stuff_pieces(pieces: list[bytes], **kwargs: int | None) -> bytes:
    stuffer = DotStuffer(**kwargs)
    return b"".join(stuffer.feed(p) for p in pieces) + stuffer.finish()


def has_bare_cr_or_lf(stream: bytes) -> bool:
    rest = stream.replace(b"\r\n", b"")
    return b"\r" in rest or b"\n" in rest


def assert_safe_stream(stream: bytes, body: bytes) -> None:
    """The smuggling invariants of hostile-servers.md section 3 and row 23."""
    assert not has_bare_cr_or_lf(stream), stream
    if expected_message(body) == b"":
        assert stream == b".\r\n"
    else:
        assert not stream.startswith(b".\r\n")
        assert stream.find(TERMINATOR) == len(stream) - len(TERMINATOR), stream
    assert unstuff(stream) == expected_message(body)
    # Every line of the content that starts with a dot was stuffed.
    content_lines = stream[: -len(b".\r\n")].split(b"\r\n")
    assert b"." not in content_lines


# -- properties ---------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b".", b"..", b"\x00", b"a", b"bc", b" ", b"\xff", b"\r\n.\r\n"]
)
BODIES = st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=60).map(b"".join))
CUTS = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@settings(max_examples=400, deadline=None)
@given(body=BODIES, cuts=CUTS)
def test_dot_stuffer_properties(body: bytes, cuts: list[int]) -> None:
    whole = dot_stuff(body)
    assert_safe_stream(whole, body)
    assert stuff_pieces(split(body, cuts)) == whole
    assert stuff_pieces([body[i : i + 1] for i in range(len(body))]) == whole


@settings(max_examples=300, deadline=None)
@given(body=BODIES, cuts=CUTS)
def test_normalizer_matches_reference_for_any_split(body: bytes, cuts: list[int]) -> None:
    normalizer = CrlfNormalizer()
    out = b"".join(normalizer.feed(p) for p in split(body, cuts)) + normalizer.finish()
    assert out == reference_normalize(body) == normalize(body)
    assert not has_bare_cr_or_lf(out)


@settings(max_examples=300, deadline=None)
@given(body=BODIES, cuts=CUTS, chunk_size=st.integers(min_value=1, max_value=17))
def test_bdat_chunker_properties(body: bytes, cuts: list[int], chunk_size: int) -> None:
    chunker = BdatChunker(chunk_size)
    full: list[bytes] = []
    for piece in split(body, cuts):
        full.extend(chunker.feed(piece))
    last = chunker.finish()
    assert all(len(chunk) == chunk_size for chunk in full)
    assert len(last) < chunk_size
    payload = b"".join(full) + last
    assert payload == reference_normalize(body)  # no stuffing, no terminator
    assert not has_bare_cr_or_lf(payload)
    assert message_size(split(body, cuts), for_data=False) == len(payload)


@settings(max_examples=300, deadline=None)
@given(body=BODIES, cuts=CUTS)
def test_size_matches_what_the_server_stores(body: bytes, cuts: list[int]) -> None:
    assert message_size(split(body, cuts)) == len(unstuff(dot_stuff(body)))


# -- explicit cases: SMTP smuggling (row 23) ----------------------------------------------

SMUGGLED = b"mail FROM:<x@y>\r\nrcpt TO:<z@y>\r\ndata\r\nFrom: spoofed\r\n\r\nsmuggled\r\n"
EOD_VARIANTS = [
    b"\n.\n",
    b"\n.\r",
    b"\r.\n",
    b"\r.\r",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n.\r\n",
]


@pytest.mark.parametrize("eod", EOD_VARIANTS)
@pytest.mark.parametrize("piece_size", [None, 1, 2, 3])
def test_smuggling_sequences_cannot_end_the_data(eod: bytes, piece_size: int | None) -> None:
    body = b"Subject: hi\r\n\r\nfirst message" + eod + SMUGGLED
    if piece_size is None:
        pieces = [body]
    else:
        pieces = [body[i : i + piece_size] for i in range(0, len(body), piece_size)]
    stream = stuff_pieces(pieces)
    assert_safe_stream(stream, body)
    assert stream.endswith(b"smuggled\r\n.\r\n")


@pytest.mark.parametrize(
    ("eod", "wire"),
    [
        (b"\n.\n", b"\r\n..\r\n"),
        (b"\r.\r", b"\r\n..\r\n"),
        (b"\r\n.\r\r\n", b"\r\n..\r\n\r\n"),
        (b"\r\r\n.\r\r\n", b"\r\n\r\n..\r\n\r\n"),
        (b"\r\n\x00.\r\n", b"\r\n\x00.\r\n"),
    ],
)
def test_smuggling_sequences_on_the_wire(eod: bytes, wire: bytes) -> None:
    assert dot_stuff(b"x" + eod + b"y") == b"x" + wire + b"y\r\n.\r\n"


# -- explicit cases: dot-stuffing edges (row 24) ------------------------------------------


@pytest.mark.parametrize(
    ("body", "stream"),
    [
        (b"", b".\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"..x", b"...x\r\n.\r\n"),
        (b".leading\r\nline\r\n", b"..leading\r\nline\r\n.\r\n"),
        (b"a\r\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"no final line break", b"no final line break\r\n.\r\n"),
        (b"\r\n", b"\r\n.\r\n"),
        (b"a\nb\rc", b"a\r\nb\r\nc\r\n.\r\n"),
        (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
        (b"a\x00b\r\n", b"a\x00b\r\n.\r\n"),
        (b" .x", b" .x\r\n.\r\n"),
    ],
)
def test_dot_stuffing_edges(body: bytes, stream: bytes) -> None:
    assert dot_stuff(body) == stream
    assert unstuff(stream) == expected_message(body)


def test_cr_at_the_end_of_a_chunk() -> None:
    stuffer = DotStuffer()
    assert stuffer.feed(b"a\r") == b"a\r\n"
    assert stuffer.feed(b"\n.b") == b"..b"
    assert stuffer.feed(b"\r") == b"\r\n"
    assert stuffer.feed(b"\r") == b"\r\n"  # a second CR is a second break
    assert stuffer.feed(b"\n") == b""  # the LF belongs to that second CR
    assert stuffer.feed(b"") == b""
    assert stuffer.finish() == b".\r\n"


def test_long_lines_pass_unless_a_limit_is_set() -> None:
    line = b"x" * 1500
    assert dot_stuff(line) == line + b"\r\n.\r\n"
    with pytest.raises(SmtpInputError, match="line 1 is longer than 998 octets"):
        dot_stuff(line, max_line_length=998)
    ok = b"y" * 998
    assert dot_stuff(b".\r\n" + ok, max_line_length=998) == b"..\r\n" + ok + b"\r\n.\r\n"


def test_line_limit_counts_lines_across_chunks() -> None:
    stuffer = DotStuffer(max_line_length=998)
    stuffer.feed(b"one\ntwo\r")
    with pytest.raises(SmtpInputError, match="line 3 is longer than 998 octets"):
        for _ in range(999):
            stuffer.feed(b"z")


def test_line_limit_is_validated() -> None:
    with pytest.raises(ValueError, match="max_line_length"):
        DotStuffer(max_line_length=0)


def test_stuffer_cannot_be_used_after_finish() -> None:
    stuffer = DotStuffer()
    stuffer.finish()
    with pytest.raises(RuntimeError):
        stuffer.feed(b"x")
    with pytest.raises(RuntimeError):
        stuffer.finish()


def test_stuffer_streams_in_constant_memory() -> None:
    stuffer = DotStuffer(max_line_length=998)
    piece = (b"." + b"q" * 70 + b"\n") * (MiB // 72)
    tracemalloc.start()
    try:
        stuffer.feed(piece)  # warm up
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(30):
            out = stuffer.feed(piece)
            del out
        growth = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert growth < 64 * 1024, f"DotStuffer kept {growth} bytes after 30 MiB"


# -- BDAT and SIZE ------------------------------------------------------------------------


def test_bdat_chunker_exact_chunks() -> None:
    chunker = BdatChunker(4)
    assert chunker.chunk_size == 4
    assert chunker.feed(b"ab\ncd\ref") == [b"ab\r\n", b"cd\r\n"]
    assert chunker.feed(b".") == []
    assert chunker.finish() == b"ef."


def test_bdat_chunker_empty_and_exact_multiple() -> None:
    chunker = BdatChunker(8)
    assert chunker.feed(b"") == []
    assert chunker.finish() == b""
    chunker = BdatChunker(2)
    assert chunker.feed(b"a\r") == [b"a\r"]
    assert chunker.feed(b"\n") == []
    assert chunker.finish() == b"\n"


@pytest.mark.parametrize("size", [0, -1, True])
def test_bdat_chunk_size_is_validated(size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        BdatChunker(size)


@pytest.mark.parametrize(
    ("pieces", "data_size", "bdat_size"),
    [
        ([], 0, 0),
        ([b""], 0, 0),
        ([b"a\nb"], 6, 4),
        ([b"a\r", b"\nb\r\n"], 6, 6),
        ([b".x\r\n"], 4, 4),
        ([b"..\r\n.\r\n"], 7, 7),
        ([b"\r\r\n"], 4, 4),
    ],
)
def test_message_size(pieces: list[bytes], data_size: int, bdat_size: int) -> None:
    assert message_size(pieces) == data_size
    assert message_size(pieces, for_data=False) == bdat_size
    counter = SizeCounter()
    for piece in pieces:
        counter.feed(piece)
    assert counter.size == data_size


# -- unstuff ------------------------------------------------------------------------------


def test_unstuff_needs_a_terminator() -> None:
    with pytest.raises(ValueError, match="no end-of-data terminator"):
        unstuff(b"abc\r\n")
    with pytest.raises(ValueError, match="no end-of-data terminator"):
        unstuff(b"abc\n.\n")


def test_unstuff_refuses_bytes_after_the_terminator() -> None:
    with pytest.raises(ValueError, match="11 bytes follow"):
        unstuff(b"abc\r\n.\r\nQUIT\r\nxyz\r\n")
    with pytest.raises(ValueError, match="2 bytes follow"):
        unstuff(b".\r\nxy")
