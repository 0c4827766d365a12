"""``[[server.replay]]`` and the replayed server: recorded answers as engine rules.

The section's keys map onto :class:`scenarios.server.replay.ReplayStep` (writes, gaps,
joined writes, what the server does after), bad keys are named, and the engine answers
each command's nth occurrence with the recorded bytes while keeping its session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.format import ScenarioError, parse_scenario
from scenarios.server.actions import Close, Delay, DropTls, Reset, Send, Silence, segment
from scenarios.server.engine import ServerEngine
from scenarios.server.replay import replay_step
from scenarios.server.rules import ServerConfig

HEAD = """
[scenario]
name = "replay"
title = "replay"
[job]
from = "a@example.com"
to = ["b@example.net"]
[expect]
event = "sent"
"""


def scenario(replay: str) -> list[object]:
    return list(parse_scenario(HEAD + replay, source="x.toml").server_config().rules)


def test_a_step_cuts_its_reply_into_writes_with_gaps_and_a_delay() -> None:
    step = replay_step("EHLO", 1, b"250-a\r\n250 b\r\n", writes=[3, 4], gaps_us=[10, 20],
                       delay_us=5)
    assert step.answer(step.reply_bytes(), []) == [
        Delay(5), Send(b"250"), Delay(10), Send(b"-a\r\n"), Delay(20), Send(b"250 b\r\n")]


def test_then_ends_the_connection_its_way_after_the_reply() -> None:
    close = replay_step("MAIL", 1, b"421 bye\r\n", then="close", then_delay_us=7)
    assert close.answer(close.reply_bytes(), []) == [Send(b"421 bye\r\n"), Delay(7), Close()]
    reset = replay_step("MAIL", 1, None, then="reset")
    assert reset.answer(None, []) == [Reset()] and reset.action == "reset"
    silent = replay_step("MAIL", 1, None, then="silent")
    assert silent.answer(None, []) == [Silence()]
    drop = replay_step("RCPT", 1, b"250 ok\r\n", then="drop_tls", drop_tls_mode="tcp_close")
    assert drop.answer(drop.reply_bytes(), [])[-1] == DropTls("tcp_close")
    ignored = replay_step("RCPT", 2, None)
    assert ignored.action == "ignore" and ignored.answer(None, [Close()]) == []


def test_a_joined_write_leaves_with_the_one_before_it() -> None:
    actions = [Send(b"250 a\r\n"), Send(b"250 b\r\n", join=True), Send(b"354 go\r\n")]
    assert segment(actions, "normal") == [Send(b"250 a\r\n250 b\r\n"), Send(b"354 go\r\n")]
    assert segment([Send(b"x"), Delay(1), Send(b"y", join=True)], "normal")[-1] == Send(
        b"y", join=True)


def test_the_section_numbers_each_verb_and_maps_seconds() -> None:
    rules = scenario("""
[[server.replay]]
on = "GREETING"
reply = "220 mx ESMTP"
write_size = 4
gaps_s = 0.5
[[server.replay]]
on = "EHLO"
reply = "250 one"
delay_s = 0.25
[[server.replay]]
on = "EHLO"
reply = "250-two\\n250 three"
join_previous = true
then = "close"
""")
    greeting, first, second = rules
    assert greeting.pieces() == [b"220 ", b"mx E", b"SMTP", b"\r\n"]  # type: ignore[attr-defined]
    assert greeting.gaps_us == (500_000,)  # type: ignore[attr-defined]
    assert (first.nth, second.nth) == (1, 2)  # type: ignore[attr-defined]
    assert first.delay_us == 250_000  # type: ignore[attr-defined]
    assert second.reply == b"250-two\r\n250 three\r\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("entry", "problem"), [
    ('on = "EHLO"\nwrites = [3]', "server.replay[0].writes: only used with reply"),
    ('on = "EHLO"\nreply = "250 ok"\nwrites = [30]',
     "server.replay[0].writes: 30 bytes in all, the reply has 8"),
    ('on = "EHLO"\nthen = "drop_tls"', "server.replay[0].drop_tls_mode: missing"),
    ('on = "ehlo!"\nreply = "250 ok"', "server.replay[0].on: expected a command verb"),
    ('on = "EHLO"\nreply = "250 ok"\nthen = "explode"', "server.replay[0].then: expected one of"),
    ('on = "EHLO"\nreply = "250 ok"\nwrite = 1', "server.replay[0].write: unknown key"),
])
def test_bad_entries_are_named(entry: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(f"[[server.replay]]\n{entry}\n")
    assert any(line.startswith(f"x.toml: {problem}") for line in caught.value.problems), \
        caught.value.problems


def test_two_entries_for_one_occurrence_are_refused() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario('[[server.replay]]\non = "MAIL"\nreply = "250 a"\n'
                 '[[server.replay]]\non = "MAIL"\nnth = 1\nreply = "250 b"\n')
    assert "x.toml: server.replay[1].nth: a second entry for MAIL number 1" in \
        caught.value.problems


def test_the_engine_answers_with_the_recording_and_keeps_its_session() -> None:
    config = ServerConfig(starttls=False, rules=(
        replay_step("GREETING", 1, b"220 recorded\r\n"),
        replay_step("MAIL", 1, b"250 recorded sender\r\n"),
        replay_step("RCPT", 1, b"550 recorded refusal\r\n"),
        replay_step("RCPT", 2, b"250 recorded ok\r\n", join_previous=True),
    ))
    engine = ServerEngine(config)
    assert engine.on_connect() == [Send(b"220 recorded\r\n")]
    engine.on_data(b"EHLO d.example\r\n")  # not recorded: the engine's own answer
    out = engine.on_data(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.net>\r\n"
                         b"RCPT TO:<b@example.net>\r\n")
    assert out == [Send(b"250 recorded sender\r\n"),
                   Send(b"550 recorded refusal\r\n250 recorded ok\r\n")]
    envelope = engine.session.envelope
    assert envelope.sender == "a@example.com"
    assert [r.address for r in envelope.recipients] == ["b@example.net"]  # 550: no effect


def test_the_example_in_the_format_documentation_loads() -> None:
    readme = (Path(__file__).parents[2] / "scenarios" / "README.md").read_text()
    block = readme.split("### [[server.replay]]", 1)[1].split("```toml", 1)[1].split("```")[0]
    rules = scenario(block)
    assert [r.verb for r in rules] == ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "DATA_END"]
    assert rules[0].pieces() == [b"220 mail.", b"customer.example ESMTP Postfix\r\n"]  # type: ignore[attr-defined]


def test_times_answers_a_run_of_occurrences_alike() -> None:
    rules = scenario('[[server.replay]]\non = "BDAT"\ntimes = 3\nreply = "250 chunk"\n'
                     '[[server.replay]]\non = "BDAT"\nreply = "250 last"\n')
    assert [(r.nth, r.times) for r in rules] == [(1, 3), (4, 1)]  # type: ignore[attr-defined]
    with pytest.raises(ScenarioError) as caught:
        scenario('[[server.replay]]\non = "BDAT"\ntimes = 3\nreply = "250 chunk"\n'
                 '[[server.replay]]\non = "BDAT"\nnth = 2\nreply = "250 last"\n')
    assert "x.toml: server.replay[1].nth: a second entry for BDAT number 2" in \
        caught.value.problems
