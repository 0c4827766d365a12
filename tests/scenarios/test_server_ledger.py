"""Tests of scenarios/server/ledger.py: the engine's reply ledger, answer by answer."""

from __future__ import annotations

from scenarios.server.engine import ServerEngine
from scenarios.server.ledger import Answer
from scenarios.server.rules import Rule, ServerConfig

SESSION = [b"EHLO c.example\r\n", b"MAIL FROM:<d@example.org>\r\n",
           b"RCPT TO:<o@example.net>\r\n", b"DATA\r\n", b"Subject: s\r\n\r\nx\r\n.\r\n",
           b"QUIT\r\n"]


def ledger(*rules: Rule, lines: list[bytes] = SESSION, **config: object) -> list[Answer]:
    engine = ServerEngine(ServerConfig(rules=rules, **config), keep_answers=True)  # type: ignore[arg-type]
    engine.on_connect()
    for line in lines:
        engine.on_data(line)
    return engine.take_answers()


def test_a_correct_server_answers_each_command_once_cleanly_and_acts_on_it() -> None:
    answers = ledger()
    assert [(a.verb, a.code, a.acted, a.clean) for a in answers] == [
        ("GREETING", 220, True, True), ("EHLO", 250, True, True), ("MAIL", 250, True, True),
        ("RCPT", 250, True, True), ("DATA", 354, True, True), ("DATA_END", 250, True, True),
        ("QUIT", 221, True, True)]


def test_without_keep_answers_nothing_is_kept() -> None:
    engine = ServerEngine(ServerConfig())
    engine.on_connect()
    assert engine.take_answers() == []


def test_a_refused_recipient_is_not_acted_on() -> None:
    answers = ledger(rcpt_reject={"o@example.net": "550 5.1.1 no such user"})
    rcpt = next(a for a in answers if a.verb == "RCPT")
    assert (rcpt.code, rcpt.acted, rcpt.clean) == (550, False, True)


def test_an_odd_positive_code_keeps_the_effect_of_a_refusal_the_engine_made() -> None:
    """The rule's 251 keeps the command's normal effect, which for a refused address is
    the refusal: the server says 251 and does not add the recipient."""
    answers = ledger(Rule("RCPT", reply="251 odd"),
                     rcpt_reject={"o@example.net": "550 5.1.1 no such user"})
    rcpt = next(a for a in answers if a.verb == "RCPT")
    assert (rcpt.code, rcpt.acted) == (251, False)


def test_a_250_without_the_effect_and_a_refusal_with_it() -> None:
    quiet = ledger(Rule("DATA_END", reply="250 2.0.0 pretend", transition=False))
    assert next(a for a in quiet if a.verb == "DATA_END").acted is False
    acting = ledger(Rule("DATA_END", reply="451 4.3.0 later", transition=True))
    end = next(a for a in acting if a.verb == "DATA_END")
    assert (end.code, end.acted) == (451, True)


def test_injected_bytes_a_second_reply_and_a_missing_line_end_are_not_clean() -> None:
    injected = ledger(Rule("MAIL", inject="250 surplus\r\n"))
    assert next(a for a in injected if a.verb == "MAIL").clean is False
    two = ledger(Rule("MAIL", reply="250 a\n250 b"))
    assert next(a for a in two if a.verb == "MAIL").clean is False
    glued = ledger(Rule("MAIL", reply="250 no line end", raw=True))
    assert next(a for a in glued if a.verb == "MAIL").clean is False
    multi = ledger(Rule("MAIL", reply="250-first\n250 second"))
    assert next(a for a in multi if a.verb == "MAIL").clean is True


def test_unsolicited_bytes_after_the_354_make_the_data_answer_unclean() -> None:
    answers = ledger(send_during_data="250 OK")
    assert next(a for a in answers if a.verb == "DATA").clean is False


def test_no_reply_is_recorded_as_such() -> None:
    answers = ledger(Rule("RCPT", action="ignore"))
    rcpt = next(a for a in answers if a.verb == "RCPT")
    assert (rcpt.code, rcpt.acted, rcpt.clean) == (None, False, True)


def test_the_answer_that_stored_the_mail_says_so() -> None:
    answers = ledger()
    assert [a.verb for a in answers if a.stored] == ["DATA_END"]
    chunks = [b"EHLO c.example\r\n", b"MAIL FROM:<d@example.org>\r\n",
              b"RCPT TO:<o@example.net>\r\n", b"BDAT 3\r\nabc", b"BDAT 2 LAST\r\nde"]
    plain = ledger(lines=chunks)
    assert [(a.verb, a.stored) for a in plain[-2:]] == [("BDAT", False), ("DATA_END", True)]
    ruled = ledger(Rule("BDAT", reply="250 2.0.0 chunk or mail"), lines=chunks)
    assert [(a.verb, a.acted, a.stored) for a in ruled[-2:]] == [
        ("BDAT", True, False), ("BDAT", True, True)]
