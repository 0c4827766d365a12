"""Tests of smtp/phases.py: the client core's transition table and its one checked funnel.

The table is exact both ways: every move the core makes is in it (``enter`` raises on
any other, and the sessions below would fail), and every move in it is one the core
makes (the sessions below, driven input by input, take every edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from smtp.client import ClientCore
from smtp.errors import LocalProtocolError
from smtp.jobs import Job
from smtp.message import MailJob
from smtp.outputs import Output, SendContent, StartTls
from smtp.phases import TRANSITIONS, IllegalTransition, Phase, PhaseMachine
from smtp.profiles import get_profile
from smtp.rtcdate import RtcTime
from smtp.settings import ClientSettings, Security

RTC = RtcTime(2017, 6, 22, 12, 22, 7, 3, True)
MAIL = MailJob(sender="dev@example.org", to=("ops@example.net",), subject="s", body="b\r\n")


@dataclass
class _Porting:
    def rtc_get(self) -> RtcTime:
        return RTC

    def host_domain(self) -> str | None:
        return "device.example.com"

    def host_address(self) -> str:
        return "192.0.2.10"

    def template_hostname(self) -> str:
        return "device"


def core(*, security: Security = "none", profile: str = "current",
         jobs: tuple[Job, ...] = (MAIL,)) -> ClientCore:
    return ClientCore(ClientSettings(server_host="mx.example.net", security=security),
                      get_profile(profile), _Porting(), jobs)


def replies(c: ClientCore, *lines: bytes) -> list[Output]:
    out: list[Output] = []
    for line in lines:
        out += c.receive(line + b"\r\n")
    return out


# ---- the table ---------------------------------------------------------------------------

def test_every_phase_has_a_row_and_only_done_and_stuck_are_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert {p for p, row in TRANSITIONS.items() if not row} == {Phase.DONE, Phase.STUCK}
    for old, row in TRANSITIONS.items():
        assert old not in row, f"{old} moves to itself"
        assert all(reason for reason in row.values()), f"a move from {old} says no why"


def test_enter_moves_records_and_tells_the_observer() -> None:
    seen: list[tuple[Phase, Phase]] = []
    machine = PhaseMachine(observer=lambda old, new: seen.append((old, new)))
    machine.enter_phase(Phase.CONNECTING)
    machine.enter_phase(Phase.SESSION)

    assert machine.phase is Phase.SESSION
    assert machine.transitions == seen == [(Phase.IDLE, Phase.CONNECTING),
                                           (Phase.CONNECTING, Phase.SESSION)]


@pytest.mark.parametrize(("path", "illegal"), [
    ((), Phase.SESSION),
    ((Phase.CONNECTING, Phase.SESSION), Phase.IDLE),
    ((Phase.CONNECTING, Phase.SESSION, Phase.QUITTING), Phase.CONTENT),
    ((Phase.DONE,), Phase.CONNECTING),
])
def test_an_illegal_move_raises_naming_both_phases_and_changes_nothing(
        path: tuple[Phase, ...], illegal: Phase) -> None:
    machine = PhaseMachine()
    for phase in path:
        machine.enter_phase(phase)
    before = machine.phase

    with pytest.raises(IllegalTransition) as caught:
        machine.enter_phase(illegal)

    assert isinstance(caught.value, LocalProtocolError)
    assert caught.value.old is before and caught.value.new is illegal
    assert f"illegal phase transition {before.value} -> {illegal.value}" in str(caught.value)
    assert machine.phase is before and len(machine.transitions) == len(path)


# ---- the core takes every edge, and only edges of the table -------------------------------

def _plain_mail() -> ClientCore:
    c = core()
    c.start()
    c.connected("mx.example.net", 25)
    out = replies(c, b"220 mx", b"250 mx", b"250 ok", b"250 ok", b"354 go")
    assert any(isinstance(o, SendContent) for o in out) and c.phase is Phase.CONTENT
    c.content_sent()
    replies(c, b"250 queued")
    assert c.phase is Phase.QUITTING
    replies(c, b"221 bye")
    return c


def _no_valid_job() -> ClientCore:
    c = core(jobs=(MailJob(sender="a\r\nb@example.org", to=("ops@example.net",)),))
    c.start()
    return c


def _refused() -> ClientCore:
    c = core()
    c.start()
    c.connect_failed(True, "connect failed: refused")
    return c


def _implicit_tls_then_greeting_421() -> ClientCore:
    c = core(security="tls")
    c.start()
    assert any(isinstance(o, StartTls) for o in c.connected("mx.example.net", 465))
    c.tls_established("TLS_AES_256_GCM_SHA384", "TLSv1.3")
    replies(c, b"421 going down")
    return c


def _starttls_then_data_block_timer() -> ClientCore:
    c = core(security="starttls")
    c.start()
    c.connected("mx.example.net", 25)
    replies(c, b"220 mx", b"250-mx", b"250 STARTTLS", b"220 go ahead")
    c.tls_established("TLS_AES_256_GCM_SHA384", "TLSv1.3")
    replies(c, b"250-mx", b"250 STARTTLS", b"250 ok", b"250 ok", b"354 go")
    c.timer_expired()  # the data-block timer, while the content streams
    return c


def _implicit_tls_fails() -> ClientCore:
    c = core(security="tls")
    c.start()
    c.connected("mx.example.net", 465)
    c.tls_failed("handshake failed")
    return c


def _lost_job_of_2_0() -> ClientCore:
    c = core(profile="2.0")
    c.start()
    c.connected("mx.example.net", 25)
    replies(c, b"220 mx", b"250-mx", b"250 PIPELINING")
    c.receive(b"550 no\r\n554 no rcpt\r\n554 no data\r\n")
    return c


SESSIONS = {
    "plain mail": (_plain_mail, Phase.DONE),
    "no valid job": (_no_valid_job, Phase.DONE),
    "refused": (_refused, Phase.DONE),
    "implicit TLS, greeting 421": (_implicit_tls_then_greeting_421, Phase.DONE),
    "STARTTLS, data-block timer": (_starttls_then_data_block_timer, Phase.DONE),
    "implicit TLS fails": (_implicit_tls_fails, Phase.DONE),
    "2.0 loses a pipelined mail": (_lost_job_of_2_0, Phase.STUCK),
}


@pytest.mark.parametrize("name", SESSIONS)
def test_each_session_ends_where_it_should_through_legal_moves(name: str) -> None:
    drive, end = SESSIONS[name]
    c = drive()

    assert c.phase is end
    assert c.transitions[0][0] is Phase.IDLE
    for (_, reached), (left, _) in zip(c.transitions, c.transitions[1:], strict=False):
        assert reached is left
    assert all(new in TRANSITIONS[old] for old, new in c.transitions)


def test_the_sessions_take_every_move_of_the_table() -> None:
    taken = {move for drive, _ in SESSIONS.values() for move in drive().transitions}
    table = {(old, new) for old, row in TRANSITIONS.items() for new in row}

    assert table - taken == set(), "moves the table allows but the core never makes"
