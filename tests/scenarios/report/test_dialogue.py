"""The sequence diagram's rows (scenarios/report/dialogue.py), from real runs."""

from __future__ import annotations

from scenarios.report.dialogue import dialogue_rows
from scenarios.report.masking import report_records
from scenarios.report.model import DialogueRow
from scenarios.runner import resolve_scenario, run
from smtp.events import describe


def _rows(name: str, profile: str = "current") -> list[DialogueRow]:
    result = run(resolve_scenario(name), profile, 0)
    terminal = (result.terminal.t_us, describe(result.terminal.event)) \
        if result.terminal else None
    rows, omitted = dialogue_rows(report_records(result.world.kernel.trace.records),
                                  terminal=terminal)
    assert omitted == 0
    return rows


def _arrow(rows: list[DialogueRow], kind: str, first_line: str) -> DialogueRow:
    return next(r for r in rows if r.kind == kind and r.lines and
                r.lines[0].startswith(first_line))


def test_commands_carry_when_the_client_sent_them_and_when_the_server_read_them() -> None:
    rows = _rows("starttls")
    ehlo = _arrow(rows, "c2s", "EHLO")
    assert ehlo.client_t_us is not None and 0 < ehlo.client_t_us < ehlo.t_us
    quit_ = _arrow(rows, "c2s", "QUIT")
    assert quit_.client_t_us is not None and quit_.client_t_us < quit_.t_us
    arrows = [r.t_us for r in rows if r.kind != "mark"]
    assert arrows == sorted(arrows)


def test_tls_phases_follow_starttls_the_handshake_and_the_close() -> None:
    rows = _rows("starttls")
    starttls = rows.index(_arrow(rows, "c2s", "STARTTLS"))
    ready = rows.index(_arrow(rows, "s2c", "220 2.0.0"))
    assert starttls < ready
    assert {r.tls for r in rows[:ready + 1]} == {""}
    established = next(i for i, r in enumerate(rows) if r.style == "tls")
    assert {r.tls for r in rows[ready + 1:established]} == {"handshake"}
    assert _arrow(rows[established:], "c2s", "EHLO").tls == "tls"
    assert rows[-1].lines[0].startswith("connection 1 closed") and rows[-1].tls == ""


def test_implicit_tls_is_a_handshake_from_the_accept() -> None:
    rows = _rows("implicit-tls")
    accepted = next(i for i, r in enumerate(rows) if r.lines[0].startswith("connection 1 acc"))
    established = next(i for i, r in enumerate(rows) if r.style == "tls")
    assert rows[accepted].tls == "" and established > accepted + 1
    assert {r.tls for r in rows[accepted + 1:established + 1]} == {"handshake"}
    assert rows[established + 1].tls == "tls"


def test_a_pipelined_group_is_one_arrow_and_its_replies_one_arrow() -> None:
    rows = _rows("pipelining")
    group = next(r for r in rows if r.style == "group")
    assert [line.split()[0] for line in group.lines[:5]] == ["MAIL", "RCPT", "RCPT", "RCPT",
                                                            "DATA"]
    replies = rows[rows.index(group) + 1]
    assert replies.kind == "s2c" and replies.count == 5  # five writes, one arrow
    assert [line[:3] for line in replies.lines] == ["250", "250", "250", "250", "354"]


def test_the_terminal_event_timers_faults_and_drops_are_marked() -> None:
    rows = _rows("lossy-link")
    styles = {r.style for r in rows if r.kind == "mark"}
    assert {"terminal", "timer", "fault", "drop"} <= styles
    terminal = [r for r in rows if r.style == "terminal"]
    assert len(terminal) == 1 and terminal[0].lines[0].startswith("sent 250")
    faults = [r.lines[0] for r in rows if r.style == "fault"]
    assert any("drop_nth" in f for f in faults) and any("set_loss" in f for f in faults)


def test_the_watchdog_and_the_frames_the_board_dropped_are_on_the_client_lane() -> None:
    rows = _rows("buffer-exhaustion-during-content", "1.0")
    watchdog = [r for r in rows if r.style == "watchdog"]
    assert any(r.lines[0].startswith("watchdog fires") for r in watchdog)
    assert all(r.lane == "client" for r in watchdog)
    drops = [r for r in rows if r.style == "drop" and r.lane == "client"]
    assert sum(r.count for r in drops) == 3
    content = [r for r in rows if r.style == "content"]
    assert content and all(r.client_t_us is None for r in content)


def test_credentials_never_reach_a_row() -> None:
    for name in ("auth-plain", "auth-login", "auth-cram-md5"):
        rows = _rows(name)
        text = "\n".join(line for r in rows for line in r.lines)
        assert "AUTH" in text
        for secret in ("s3cret-pump7", "czNjcmV0LXB1bXA3",  # the password, and base64
                       "AHB1bXA3AHMzY3JldC1wdW1wNw=="):  # PLAIN: \0pump7\0s3cret-pump7
            assert secret not in text, name
