"""Round trips of the modelled client on OS sockets, counted from the server's transcript.

``send_jobs`` (the client task over the host stack) against the scripted server on
loopback (``scenarios.server.asyncdriver``), which writes down every read and write. A
round trip is a burst of server bytes between two bursts of client bytes: the client had
to wait for it. Nothing here measures time.
"""

from __future__ import annotations

import asyncio

import pytest

from scenarios.server.asyncdriver import Pacing
from scenarios.server.asyncserver import AsyncServer
from scenarios.server.rules import ServerConfig
from smtp.events import Sent, is_terminal
from smtp.hostclient import send_jobs
from smtp.message import MailJob
from smtp.profiles import PROFILES
from smtp.settings import ClientSettings

GUARD_S = 20.0  # a hang guard only
# PIPELINING without CHUNKING: the content goes after DATA's 354.
CAPABILITIES = ("PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES")


def _session(profile: str, jobs: int, capabilities: tuple[str, ...] = CAPABILITIES
             ) -> tuple[list[str], AsyncServer]:
    async def scenario() -> tuple[list[str], AsyncServer]:
        server = AsyncServer(ServerConfig(starttls=False, capabilities=capabilities), tls=None,
                             pacing=Pacing())
        _, port = await server.start("127.0.0.1", 0)
        settings = ClientSettings(server_host="127.0.0.1", server_port=port, security="none",
                                  device_domain="device.example.test")
        mails = [MailJob(sender="pump7@example.com", to=("ops@example.net",),
                         subject=f"reading {n}", body="21.5 C\n") for n in range(jobs)]
        events = await asyncio.to_thread(send_jobs, settings, mails,
                                         profile=PROFILES[profile], timeout_s=GUARD_S)
        assert await server.wait_all_closed(GUARD_S)
        await server.close()
        ends = [e for e in events if is_terminal(e)]
        assert len(ends) == jobs and all(isinstance(e, Sent) for e in ends)
        return [line.kind for line in server.connections[0].lines], server

    return asyncio.run(asyncio.wait_for(scenario(), GUARD_S))


def _round_trips(kinds: list[str]) -> int:
    """Bursts of server bytes ("S") with client bytes ("C") or the start before them."""
    bursts = 0
    previous = "C"
    for kind in kinds:
        if kind == "S" and previous != "S":
            bursts += 1
        if kind in ("C", "S"):
            previous = kind
    return bursts


def test_one_mail_takes_four_round_trips_with_pipelining() -> None:
    """Greeting; EHLO; MAIL, RCPT and DATA as one group; the content with QUIT right
    behind it (RFC 2920 3.1), answered by 250 and 221 together."""
    kinds, server = _session("current", 1)
    assert _round_trips(kinds) == 4, kinds
    observations = server.connections[0].engine.observations
    assert observations.pipelined and observations.pipelining_violations == []
    assert len(server.mailbox) == 1


def test_releases_up_to_2_5_wait_for_the_reply_to_the_data_before_quit() -> None:
    kinds, _ = _session("2.5", 1)
    assert _round_trips(kinds) == 5, kinds


def test_quit_waits_while_another_mail_is_queued() -> None:
    """Two mails: QUIT goes behind the second one's data only: 4 + 2 round trips."""
    kinds, server = _session("current", 2)
    assert _round_trips(kinds) == 6, kinds
    assert server.connections[0].engine.observations.pipelining_violations == []
    assert len(server.mailbox) == 2


@pytest.mark.parametrize("profile", ["current", "2.5"])
def test_without_pipelining_quit_waits_for_the_reply(profile: str) -> None:
    kinds, _ = _session(profile, 1, capabilities=("SIZE 10485760", "8BITMIME"))
    assert _round_trips(kinds) == 7, kinds  # greeting, EHLO, MAIL, RCPT, DATA, dot, QUIT
