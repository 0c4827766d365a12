"""Tests for smtp/replies.py: the Reply value and the strict streaming ReplyParser."""

from __future__ import annotations

import itertools
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp.errors import RemoteProtocolError
from smtp.replies import Reply, ReplyLineTooLong, ReplyParser

MiB = 1024 * 1024

# -- helpers ------------------------------------------------------------------------------


def drain(parser: ReplyParser) -> list[Reply]:
    out: list[Reply] = []
    while (reply := parser.next_reply()) is not None:
        out.append(reply)
    return out


def parse_whole(data: bytes) -> list[Reply]:
    parser = ReplyParser()
    parser.feed(data)
    return drain(parser)


def parse_bytewise(data: bytes) -> list[Reply]:
    parser = ReplyParser()
    out: list[Reply] = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        out.extend(drain(parser))
    return out


def outcome(data: bytes, cuts: list[int] | None = None) -> tuple[list[Reply], str | None]:
    """Replies and the error reason (if any) when ``data`` is fed split at ``cuts``."""
    parser = ReplyParser()
    points = [0, *sorted(cuts or []), len(data)]
    got: list[Reply] = []
    try:
        for start, end in itertools.pairwise(points):
            parser.feed(data[start:end])
            # One at a time: the replies before a malformed tail count, even when the
            # error comes in the same call (drain() would lose them with the exception).
            while (reply := parser.next_reply()) is not None:
                got.append(reply)
    except RemoteProtocolError as exc:
        return got, exc.reason
    return got, None


# -- valid replies ------------------------------------------------------------------------

VALID_CASES: list[tuple[bytes, list[Reply]]] = [
    (b"250 OK\r\n", [Reply(250, ("OK",))]),
    (b"220 smtp.example.com ESMTP ready\r\n", [Reply(220, ("smtp.example.com ESMTP ready",))]),
    (b"250\r\n", [Reply(250, ("",))]),
    (b"250 \r\n", [Reply(250, ("",))]),
    (b"250-first\r\n250\r\n", [Reply(250, ("first", ""))]),
    (b"250-\r\n250 last\r\n", [Reply(250, ("", "last"))]),
    (
        b"250-smtp.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
        b"250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-8BITMIME\r\n250 CHUNKING\r\n",
        [
            Reply(
                250,
                (
                    "smtp.example.com Hello",
                    "PIPELINING",
                    "SIZE 10240000",
                    "STARTTLS",
                    "AUTH PLAIN LOGIN CRAM-MD5",
                    "8BITMIME",
                    "CHUNKING",
                ),
            )
        ],
    ),
    (b"250 OK\n", [Reply(250, ("OK",))]),
    (b"250-a\r\n250 b\n", [Reply(250, ("a", "b"))]),
    (
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        [Reply(354, ("End data with <CR><LF>.<CR><LF>",))],
    ),
    (b"334 \r\n", [Reply(334, ("",))]),
    (b"334 VXNlcm5hbWU6\r\n", [Reply(334, ("VXNlcm5hbWU6",))]),
    (b"451 4.3.0 try later\r\n", [Reply(451, ("4.3.0 try later",))]),
    (b"559 x\r\n", [Reply(559, ("x",))]),
    (b"250 a\tb\r\n", [Reply(250, ("a\tb",))]),
    (
        b"250-\xff\xfe\x00\x1b[2J text\r\n250 ok\r\n",
        [Reply(250, ("\xff\xfe??[2J text", "ok"))],
    ),
    (b"250 \x7f\x85\x9b\xa0\r\n", [Reply(250, ("???\xa0",))]),
    (b"250 " + b"a" * 506 + b"\r\n", [Reply(250, ("a" * 506,))]),  # exactly 512 octets
    (b"250 " + b"a" * 507 + b"\n", [Reply(250, ("a" * 507,))]),  # 512 with bare LF
    (
        b"".join(b"250-line %d\r\n" % i for i in range(99)) + b"250 end\r\n",
        [Reply(250, (*(f"line {i}" for i in range(99)), "end"))],
    ),
    (
        b"250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 Enter mail\r\n",
        [
            Reply(250, ("2.1.0 Sender ok",)),
            Reply(250, ("2.1.5 Recipient ok",)),
            Reply(354, ("Enter mail",)),
        ],
    ),
    (
        b"220 Ready to start TLS\r\n250-example.org\r\n250 AUTH LOGIN\r\n",
        [Reply(220, ("Ready to start TLS",)), Reply(250, ("example.org", "AUTH LOGIN"))],
    ),
]


@pytest.mark.parametrize(("data", "expected"), VALID_CASES)
def test_valid_reply_fed_whole(data: bytes, expected: list[Reply]) -> None:
    assert parse_whole(data) == expected


@pytest.mark.parametrize(("data", "expected"), VALID_CASES)
def test_valid_reply_fed_byte_by_byte(data: bytes, expected: list[Reply]) -> None:
    assert parse_bytewise(data) == expected


@pytest.mark.parametrize(("data", "expected"), VALID_CASES)
def test_valid_reply_with_trailing_partial_data(data: bytes, expected: list[Reply]) -> None:
    parser = ReplyParser()
    parser.feed(data + b"250-next")
    assert drain(parser) == expected
    assert parser.pending_bytes() == len(b"250-next")
    parser.feed(b"\r\n250 done\r\n")
    assert drain(parser) == [Reply(250, ("next", "done"))]
    assert parser.pending_bytes() == 0


def test_many_replies_in_one_feed() -> None:
    data = b"".join(b"250 2.1.5 ok %d\r\n" % i for i in range(500))
    got = parse_whole(data)
    assert [r.lines[0] for r in got] == [f"2.1.5 ok {i}" for i in range(500)]


def test_incomplete_reply_waits_for_more() -> None:
    parser = ReplyParser()
    for piece in (b"2", b"50", b"-a\r\n250", b" b", b"\r"):
        parser.feed(piece)
        assert parser.next_reply() is None
    parser.feed(b"\n")
    assert parser.next_reply() == Reply(250, ("a", "b"))
    assert parser.next_reply() is None


# -- malformed replies --------------------------------------------------------------------

MALFORMED_CASES: list[tuple[bytes, str]] = [
    (b"25\r\n", "too short"),
    (b"\r\n", "empty reply line"),
    (b"\n", "empty reply line"),
    (b"2x0 ok\r\n", "bad reply code"),
    (b"099 ok\r\n", "bad reply code"),
    (b"650 ok\r\n", "bad reply code"),
    (b"160 ok\r\n", "bad reply code"),
    (b"260 ok\r\n", "bad reply code"),
    (b"25a ok\r\n", "bad reply code"),
    (b"250_ok\r\n", "not followed by"),
    (b"250ok\r\n", "not followed by"),
    (b"25000\r\n", "not followed by"),
    (b"250\tok\r\n", "not followed by"),
    (b"-250 ok\r\n", "bad reply code"),
    (b" 250 ok\r\n", "bad reply code"),
    (b"250-first\r\n25\r\n", "too short"),
    (b"250-x\r\n\r\n", "empty reply line"),
    (b"250-a\r\n451-b\r\n250 c\r\n", "mixed reply codes in one reply: 250 then 451"),
    (b"250-a\r\n550 b\r\n", "mixed reply codes in one reply: 250 then 550"),
    (b"250 a\rb\r\n", "bare CR in reply"),
    (b"250 OK\r\r\n", "bare CR in reply"),
    (b"\r250 OK\r\n", "bare CR in reply"),
    (b"250 " + b"a" * 507 + b"\r\n", "reply line longer than 512 octets"),
    (b"250 " + b"a" * 600, "reply line longer than 512 octets"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED_CASES)
@pytest.mark.parametrize("bytewise", [False, True])
def test_malformed_reply_is_a_protocol_error(data: bytes, reason: str, bytewise: bool) -> None:
    parser = ReplyParser()
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    with pytest.raises(RemoteProtocolError) as caught:
        for piece in pieces:
            parser.feed(piece)
            parser.next_reply()
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason
    # The parser stays broken, even if good replies follow.
    parser.feed(b"250 OK\r\n")
    with pytest.raises(RemoteProtocolError, match=reason.split(":")[0]):
        parser.next_reply()
    with pytest.raises(RemoteProtocolError):
        parser.next_reply()


def test_replies_before_a_malformed_line_are_still_returned() -> None:
    parser = ReplyParser()
    parser.feed(b"250 first\r\n220 second\r\n2x0 broken\r\n250 after\r\n")
    assert parser.next_reply() == Reply(250, ("first",))
    assert parser.next_reply() == Reply(220, ("second",))
    with pytest.raises(RemoteProtocolError, match="bad reply code"):
        parser.next_reply()


def test_bare_cr_at_end_of_data_is_not_yet_a_line() -> None:
    parser = ReplyParser()
    parser.feed(b"250 OK\r")
    assert parser.next_reply() is None
    assert parser.pending_bytes() == 7


def test_long_line_error_comes_before_any_newline() -> None:
    parser = ReplyParser()
    parser.feed(b"250 ")
    fed = 4
    with pytest.raises(RemoteProtocolError, match="longer than 512"):
        while True:
            parser.feed(b"A" * 64)
            fed += 64
            parser.next_reply()
    assert fed <= 512 + 64


@pytest.mark.parametrize("chunks", [[b"334 " + b"Q" * 600], [b"33", b"4 ", b"Q" * 600],
                                    [b"334 QQ", b"Q" * 600 + b"\r\n"]])
def test_a_line_too_long_keeps_its_first_octets(chunks: list[bytes]) -> None:
    parser = ReplyParser()
    for chunk in chunks:
        parser.feed(chunk)
    for _ in range(2):  # raised again on every later call, the same
        with pytest.raises(ReplyLineTooLong) as info:
            parser.next_reply()
        assert (info.value.limit, info.value.line_start) == (512, b"334 ")
        assert info.value.reason == "reply line longer than 512 octets"


def test_the_line_limit_can_change_between_feeds() -> None:
    parser = ReplyParser()
    parser.max_line_length = 2000
    parser.feed(b"334 " + b"Q" * 1000)
    parser.feed(b"\r\n")
    assert parser.next_reply() == Reply(334, ("Q" * 1000,))
    parser.max_line_length = 512
    parser.feed(b"250 " + b"x" * 600)
    with pytest.raises(ReplyLineTooLong):
        parser.next_reply()
    for bad in (4, True, "512"):
        with pytest.raises(ValueError, match="max_line_length"):
            parser.max_line_length = bad  # type: ignore[assignment]


def test_custom_max_line_length() -> None:
    parser = ReplyParser(max_line_length=1000)
    parser.feed(b"250 " + b"b" * 994 + b"\r\n")
    assert parser.next_reply() == Reply(250, ("b" * 994,))
    parser.feed(b"250 " + b"b" * 995 + b"\r\n")
    with pytest.raises(RemoteProtocolError, match="longer than 1000 octets"):
        parser.next_reply()


def test_hundred_megabyte_line_is_never_buffered() -> None:
    parser = ReplyParser()
    piece = b"A" * MiB
    parser.feed(b"250 ")
    errors_at: list[int] = []
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(100):
            parser.feed(piece)
            try:
                parser.next_reply()
            except RemoteProtocolError as exc:
                assert "longer than 512" in exc.reason
                errors_at.append(index)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert errors_at == list(range(100))  # the first piece already fails, and it stays
    assert peak < 64 * 1024, f"parser allocated {peak} bytes while fed 100 MiB"
    assert parser.pending_bytes() == 100 * MiB + 4


def test_endless_multiline_reply_hits_max_lines() -> None:
    parser = ReplyParser()
    parser.feed(b"250-example.org\r\n")
    lines = 1
    with pytest.raises(RemoteProtocolError, match="more than 100 lines"):
        for _ in range(100_000):
            parser.feed(b"250-X\r\n")
            lines += 1
            assert parser.next_reply() is None
    assert lines == 100


def test_custom_max_lines() -> None:
    parser = ReplyParser(max_lines=3)
    parser.feed(b"250-a\r\n250-b\r\n250 c\r\n")
    assert parser.next_reply() == Reply(250, ("a", "b", "c"))
    parser.feed(b"250-a\r\n250-b\r\n250-c\r\n")
    with pytest.raises(RemoteProtocolError, match="more than 3 lines"):
        parser.next_reply()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_line_length": 4}, "max_line_length"),
        ({"max_line_length": True}, "max_line_length"),
        ({"max_lines": 0}, "max_lines"),
    ],
)
def test_parser_limits_are_validated(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ReplyParser(**kwargs)


# -- pending bytes and discarding (RFC 3207 4.2) ------------------------------------------


def test_pending_bytes_show_injection_after_starttls_220() -> None:
    injected = b"250-example.org\r\n250 AUTH LOGIN\r\n"
    parser = ReplyParser()
    parser.feed(b"220 Ready to start TLS\r\n" + injected)
    assert parser.next_reply() == Reply(220, ("Ready to start TLS",))
    assert parser.pending_bytes() == len(injected)
    assert parser.discard_buffer() == len(injected)
    assert parser.pending_bytes() == 0
    assert parser.next_reply() is None
    parser.feed(b"250 after TLS\r\n")
    assert parser.next_reply() == Reply(250, ("after TLS",))


def test_pending_bytes_count_partial_and_malformed_tails() -> None:
    parser = ReplyParser()
    parser.feed(b"220 go\r\n250-par")
    assert parser.next_reply() == Reply(220, ("go",))
    assert parser.pending_bytes() == 7
    parser.feed(b"\r\n2x0\r\n")
    assert parser.pending_bytes() == 7 + 7
    assert parser.discard_buffer() == 14
    # The malformed tail was never reported and is gone with its bytes.
    assert parser.next_reply() is None


def test_discard_does_not_clear_a_reported_error() -> None:
    parser = ReplyParser()
    parser.feed(b"2x0\r\n")
    with pytest.raises(RemoteProtocolError):
        parser.next_reply()
    parser.discard_buffer()
    parser.feed(b"250 OK\r\n")
    with pytest.raises(RemoteProtocolError, match="bad reply code"):
        parser.next_reply()


# -- the Reply value ----------------------------------------------------------------------


def test_reply_properties() -> None:
    reply = Reply(250, ("2.0.0 OK", "more"))
    assert str(reply) == "250 2.0.0 OK"
    assert reply.text == "2.0.0 OK\nmore"
    assert reply.enhanced == (2, 0, 0)
    assert reply.is_positive_completion
    assert not (reply.is_intermediate or reply.is_transient or reply.is_permanent)
    assert Reply(354, ("go",)).is_intermediate
    assert Reply(451, ("x",)).is_transient
    assert Reply(554, ("x",)).is_permanent
    assert str(Reply(250, ("",))) == "250"


@pytest.mark.parametrize(
    ("reply", "enhanced"),
    [
        (Reply(250, ("2.1.0 Sender ok",)), (2, 1, 0)),
        (Reply(451, ("4.3.0",)), (4, 3, 0)),
        (Reply(550, ("5.7.1 Relaying denied",)), (5, 7, 1)),
        (Reply(550, ("5.123.456 x",)), (5, 123, 456)),
        (Reply(550, ("4.7.1 wrong class",)), None),
        (Reply(354, ("3.0.0 no class 3",)), None),
        (Reply(250, ("2.1.0x",)), None),
        (Reply(250, ("2.1234.0 x",)), None),
        (Reply(250, ("OK 2.1.0",)), None),
        (Reply(250, ("ok", "2.1.0 second line")), None),
        # RFC 3463 digits are ASCII: \d would take ARABIC-INDIC ZERO, and int() reads it
        (Reply(250, ("2.\u0660.0 ok",)), None),
        (Reply(550, ("5.7.\u0661 x",)), None),
    ],
)
def test_reply_enhanced_status(reply: Reply, enhanced: tuple[int, int, int] | None) -> None:
    assert reply.enhanced == enhanced


@pytest.mark.parametrize(
    ("code", "lines"), [(1000, ("x",)), (-1, ("x",)), (250, ()), (250, ("a\r\nb",))]
)
def test_reply_rejects_bad_fields(code: int, lines: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="Reply"):
        Reply(code, lines)


def test_reply_encode_round_trips() -> None:
    reply = Reply(250, ("example.org", "", "SIZE 100"))
    assert reply.encode() == b"250-example.org\r\n250-\r\n250 SIZE 100\r\n"
    assert parse_whole(reply.encode()) == [reply]
    assert Reply(250, ("",)).encode() == b"250\r\n"


# -- properties ---------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    [
        b"250",
        b"451",
        b"550",
        b"25",
        b"2x0",
        b"650",
        b" ",
        b"-",
        b"\r\n",
        b"\n",
        b"\r",
        b"OK",
        b"\x00",
        b"\xff",
        b"\x1b",
        b"2.0.0",
        b"\t",
        b"A" * 300,
    ]
)
_STRUCTURED = st.lists(_TOKENS, max_size=40).map(b"".join)
_ANY_BYTES = st.one_of(st.binary(max_size=2000), _STRUCTURED)


@settings(max_examples=300, deadline=None)
@given(data=_ANY_BYTES, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_parser_only_ever_raises_remote_protocol_error(data: bytes, cuts: list[int]) -> None:
    cuts = [c for c in cuts if c <= len(data)]
    whole = outcome(data)  # any other exception fails the test
    assert outcome(data, cuts) == whole  # and splitting never changes the result


_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from([211, 220, 221, 235, 250, 334, 354, 421, 451, 500, 535, 554]),
    lines=st.lists(_TEXT, min_size=1, max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=10),
)
def test_encoded_replies_parse_back(code: int, lines: list[str], cuts: list[int]) -> None:
    reply = Reply(code, tuple(lines))
    data = reply.encode() * 2
    cuts = [c for c in cuts if c <= len(data)]
    assert outcome(data, cuts) == ([reply, reply], None)
