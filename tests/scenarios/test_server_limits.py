"""Bounds on what one connection's engine holds (scenarios/server/limits.py), in memory:
the content of a mail beyond its cap is counted, not kept, and refused at its end; and
the memory budget several engines share, the same way."""

from __future__ import annotations

import tracemalloc

from scenarios.server import replies as R
from scenarios.server.engine import ServerEngine
from scenarios.server.limits import ContentHold, MemoryBudget, StorageShortfall
from scenarios.server.mailbox import ReceivedMail
from scenarios.server.rules import ServerConfig
from scenarios.server.spool import MailContent

ENVELOPE = b"EHLO dev.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"


def _engine(hold: ContentHold, max_size: int | None = None) -> ServerEngine:
    engine = ServerEngine(ServerConfig(starttls=False, max_size=max_size), hold=hold,
                          keep_transcript=False)
    engine.on_connect()
    for line in ENVELOPE.split(b"\r\n")[:-1]:
        engine.on_data(line + b"\r\n")
    return engine


def _replies(engine: ServerEngine, data: bytes) -> list[bytes]:
    return [a.data for a in engine.on_data(data) if hasattr(a, "data")]


def test_data_beyond_the_cap_is_counted_not_kept_and_refused_with_552() -> None:
    engine = _engine(ContentHold(per_mail=4096))
    _replies(engine, b"DATA\r\n")
    line = b"x" * 998 + b"\r\n"
    for _ in range(1000):  # 1 MB of content
        assert _replies(engine, line) == []
        assert len(engine.session.envelope.content) <= 4096
    replies = _replies(engine, b".\r\n")
    assert replies == [R.encode(R.S552_SIZE_EXCEEDED)]
    assert engine.mailbox == []
    assert engine.observations.sizes[-1].actual == 1_000_000
    assert engine.observations.data_bytes == 1_000_000
    assert _replies(engine, b"NOOP\r\n") == [R.encode(R.S250_OK)]  # the session goes on


def _growth(engine: ServerEngine, pieces: list[bytes]) -> int:
    """How much more memory the engine holds after taking ``pieces`` (tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for piece in pieces:
            _replies(engine, piece)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_data_line_without_end_is_not_kept_whole() -> None:
    engine = _engine(ContentHold(per_mail=4096))
    _replies(engine, b"DATA\r\n")
    assert _growth(engine, [b"y" * 10_000] * 100) < 100_000  # 1 MB, no line end
    assert _replies(engine, b"\r\n.\r\n") == [R.encode(R.S552_SIZE_EXCEEDED)]


def test_a_bdat_chunk_beyond_the_cap_is_counted_not_kept_and_refused() -> None:
    engine = _engine(ContentHold(per_mail=4096))
    size = 1_000_000
    assert _replies(engine, b"BDAT %d\r\n" % size) == []
    assert _growth(engine, [b"z" * (size // 100 - 2) + b"\r\n"] * 100) < 100_000
    assert _replies(engine, b"BDAT 0 LAST\r\n") == [R.encode(R.S552_SIZE_EXCEEDED)]
    assert engine.mailbox == []


def test_a_mail_within_the_cap_is_whole() -> None:
    engine = _engine(ContentHold(per_mail=4096))
    _replies(engine, b"DATA\r\n")
    assert _replies(engine, b"Subject: x\r\n\r\nhello\r\n.\r\n")[0].startswith(b"250 ")
    assert engine.mailbox[0].content == b"Subject: x\r\n\r\nhello\r\n"


def test_the_connection_budget_refuses_further_mails_with_452() -> None:
    engine = _engine(ContentHold(per_mail=4096, per_connection=5000))
    body = b"a" * 3000 + b"\r\n"
    _replies(engine, b"DATA\r\n")
    assert _replies(engine, body + b".\r\n")[0].startswith(b"250 ")
    for line in (b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.net>", b"DATA"):
        _replies(engine, line + b"\r\n")
    assert _replies(engine, body + b".\r\n") == [R.encode(R.S452_INSUFFICIENT_STORAGE)]
    assert len(engine.mailbox) == 1


# ---- the memory budget all connections share ---------------------------------------------

LINE = b"m" * 998 + b"\r\n"  # 1,000 bytes


def _in_data(budget: MemoryBudget) -> tuple[ServerEngine, ContentHold]:
    """An engine whose hold shares ``budget``, in DATA."""
    hold = ContentHold(per_mail=1_000_000, per_connection=1_000_000, budget=budget)
    engine = _engine(hold)
    _replies(engine, b"DATA\r\n")
    return engine, hold


def test_mails_in_flight_share_the_budget_and_the_one_past_it_gets_452() -> None:
    """Two connections with a mail in flight at once: the budget (100 KB) holds the
    first's 60 KB; the second's does not fit, so it keeps none of it from the line that
    did not fit (what it had kept goes back), is counted, and gets 452 4.3.1 at its end.
    Without a budget both were kept whole."""
    budget = MemoryBudget(100_000)
    (first, first_hold), (second, second_hold) = _in_data(budget), _in_data(budget)
    for engine in (first, second):
        for _ in range(60):
            _replies(engine, LINE)
            assert budget.used <= budget.total
    assert len(first.session.envelope.content) == 60_000
    assert len(second.session.envelope.content) == 0
    assert second_hold.claimed == 0 and budget.peak == 100_000
    assert _replies(first, b".\r\n")[0].startswith(b"250 ")
    assert budget.used == 60_000  # the mail's end: the claim is what is kept, no reserve
    assert _replies(second, b".\r\n") == [R.encode(R.S452_INSUFFICIENT_STORAGE)]
    assert second.mailbox == [] and second.observations.data_bytes == 60_000
    assert first.mailbox[0].size == 60_000
    assert second_hold.shortfalls == {StorageShortfall.SERVER: 1}
    assert first_hold.shortfalls == {}
    assert _replies(second, b"NOOP\r\n") == [R.encode(R.S250_OK)]  # the session goes on
    assert second_hold.held == 0 and budget.used == 60_000


def test_of_mails_in_flight_at_once_one_is_kept_whole_rather_than_both_cut() -> None:
    """Line by line in turn, 120 KB against a 100 KB budget: the first whose next line
    does not fit gives its share back, and the other is kept whole."""
    budget = MemoryBudget(100_000)
    pair = [_in_data(budget)[0] for _ in range(2)]
    for _ in range(60):
        for engine in pair:
            _replies(engine, LINE)
            assert budget.used <= budget.total
    replies = sorted(_replies(engine, b".\r\n")[0][:3] for engine in pair)
    assert replies == [b"250", b"452"]
    assert [m.size for e in pair for m in e.mailbox] == [60_000]


def test_a_mail_cut_by_the_budget_is_refused_even_when_room_came_back() -> None:
    """The budget frees up (another connection released) before the cut mail ends: the
    mail is still refused, never accepted without the bytes that were not kept."""
    budget = MemoryBudget(50_000)
    full, full_hold = _in_data(budget)
    for _ in range(50):
        _replies(full, LINE)
    cut, _ = _in_data(budget)
    for _ in range(10):
        _replies(cut, LINE)  # none kept: the budget is full
    full_hold.release()
    assert budget.used == 0
    assert _replies(cut, b".\r\n") == [R.encode(R.S452_INSUFFICIENT_STORAGE)]
    assert cut.mailbox == []


def test_a_released_connection_gives_its_mail_back_to_the_budget() -> None:
    budget = MemoryBudget(100_000)
    first, first_hold = _in_data(budget)
    for _ in range(80):
        _replies(first, LINE)
    assert _replies(first, b".\r\n")[0].startswith(b"250 ")
    second, _ = _in_data(budget)
    for _ in range(30):
        _replies(second, LINE)
    assert _replies(second, b".\r\n") == [R.encode(R.S452_INSUFFICIENT_STORAGE)]
    first_hold.release()
    for line in (b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.net>", b"DATA"):
        _replies(second, line + b"\r\n")
    for _ in range(30):
        _replies(second, LINE)
    assert _replies(second, b".\r\n")[0].startswith(b"250 ")
    assert second.mailbox[0].size == 30_000


def test_bdat_chunks_claim_from_the_budget_too() -> None:
    budget = MemoryBudget(100_000)
    first, _ = _in_data(budget)
    for _ in range(70):
        _replies(first, LINE)
    second = _engine(ContentHold(per_mail=1_000_000, per_connection=1_000_000,
                                 budget=budget))
    assert _replies(second, b"BDAT 50000 LAST\r\n" + b"z" * 50_000) == [
        R.encode(R.S452_INSUFFICIENT_STORAGE)]
    assert budget.used <= budget.total
    assert _replies(first, b".\r\n")[0].startswith(b"250 ")


def test_without_a_hold_nothing_changes() -> None:
    engine = _engine(ContentHold())
    _replies(engine, b"DATA\r\n")
    content = b"q" * 998 + b"\r\n"
    for _ in range(200):
        _replies(engine, content)
    assert _replies(engine, b".\r\n")[0].startswith(b"250 ")
    assert len(engine.mailbox[0].content) == 200_000


def test_the_transcript_is_kept_only_when_asked() -> None:
    assert _engine(ContentHold()).transcript == []
    kept = ServerEngine(ServerConfig(starttls=False))
    kept.on_connect()
    kept.on_data(b"NOOP\r\n")
    assert ("C", b"NOOP\r\n") in kept.transcript


def test_reading_a_header_of_a_big_mail_does_not_copy_its_body() -> None:
    content = b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\nSubject: x\r\n\r\n" + b"b" * 10_000_000
    mail = ReceivedMail(sender="a@example.com", recipients=(), mail_params={},
                        stored=MailContent.of(content), via="DATA")
    tracemalloc.start()
    try:
        assert mail.date_header == "Mon, 03 Jun 2024 10:00:00 +0000"
        assert mail.header("subject") == "x"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak
