"""The SMTP client task: its job queue, its TLS parameters, and a real run on the board.

The queue and ``tls_config_for`` are plain data and are checked directly (the cipher
strings also through OpenSSL, which decides what is offered). The task itself runs on
the emulated board of a world built from a parsed scenario, against the scripted server
over the simulated link: nothing stands in for the stack, the server or TLS.
"""

from __future__ import annotations

import ssl

import pytest

from scenarios.format import parse_scenario
from scenarios.world import World, build_world
from smtp.events import (
    ClientError,
    ClientEvent,
    Connected,
    ErrorKind,
    Sent,
    TlsEstablished,
    describe,
)
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import MailJob
from smtp.profiles import get_profile
from smtp.settings import ClientSettings, TlsSettings
from smtp.task import (
    CURRENT_CIPHERS,
    WEAK_CIPHERS,
    WEAK_MAX_VERSION,
    ClientState,
    ClientStatus,
    JobQueue,
    tls_config_for,
)
from stack.tls.config import make_context

LIMIT_US = 600_000_000

# ---- JobQueue --------------------------------------------------------------------------


def test_jobs_wait_in_order_until_taken_all_at_once() -> None:
    queue = JobQueue()
    jobs: list[Job] = [VrfyJob("ops@example.net"), EtrnJob("example.net"),
                       VrfyJob("root@example.net")]
    for job in jobs:
        queue.submit(job)
    assert len(queue) == 3
    assert queue.take_all() == jobs
    assert len(queue) == 0
    assert queue.take_all() == []


def test_bind_wakes_the_task_on_every_submit_after_it() -> None:
    queue = JobQueue()
    queue.submit(VrfyJob("early@example.net"))  # before bind: queued, nobody woken
    wakes: list[int] = []
    queue.bind(lambda: wakes.append(len(queue)))
    queue.submit(VrfyJob("a@example.net"))
    queue.submit(EtrnJob("example.net"))
    assert wakes == [2, 3]  # woken after the job is in the queue
    assert [type(j).__name__ for j in queue.take_all()] == ["VrfyJob", "VrfyJob", "EtrnJob"]


def test_a_fresh_status_is_idle_with_no_events() -> None:
    status = ClientStatus()
    assert (status.state, status.events, status.sessions) == ("idle", [], 0)


def test_a_status_takes_only_a_client_state() -> None:
    assert ClientStatus(state="busy").state is ClientState.BUSY  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'sleeping' is not a valid ClientState"):
        ClientStatus(state="sleeping")  # type: ignore[arg-type]


# ---- tls_config_for --------------------------------------------------------------------


def _settings(tls: TlsSettings | None = None) -> ClientSettings:
    return ClientSettings(server_host="smtp.example.test", tls=tls or TlsSettings())


def _tls12_cipher_names(context: ssl.SSLContext) -> set[str]:
    return {c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"}


def test_current_offers_forward_secret_suites_including_0xc014() -> None:
    config = tls_config_for(_settings(), get_profile("current"))
    assert config.ciphers == CURRENT_CIPHERS
    assert "ECDHE-RSA-AES256-SHA" in CURRENT_CIPHERS.split(":")
    assert config.max_version is None
    assert config.server_name == "smtp.example.test"  # falls back to the server host
    offered = _tls12_cipher_names(make_context(config, server_side=False))
    assert "ECDHE-RSA-AES256-SHA" in offered  # TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    assert all(name.startswith("ECDHE-") for name in offered)


def test_weak_releases_offer_only_static_rsa_suites_up_to_tls_1_2() -> None:
    for name in ("2.0", "2.4", "2.5"):
        config = tls_config_for(_settings(), get_profile(name))
        assert (config.ciphers, config.max_version) == ("AES128-SHA:AES256-SHA", "TLSv1.2")
    assert (WEAK_CIPHERS, WEAK_MAX_VERSION) == ("AES128-SHA:AES256-SHA", "TLSv1.2")
    context = make_context(tls_config_for(_settings(), get_profile("2.4")), server_side=False)
    assert _tls12_cipher_names(context) == {"AES128-SHA", "AES256-SHA"}
    assert context.maximum_version is ssl.TLSVersion.TLSv1_2


def test_a_weak_release_ignores_configured_ciphers_and_version() -> None:
    tls = TlsSettings(ciphers="ECDHE-RSA-AES256-SHA", min_version="TLSv1.2",
                      max_version="TLSv1.3", server_name="mx.example.net", verify=False)
    weak = tls_config_for(_settings(tls), get_profile("2.3"))
    assert (weak.ciphers, weak.min_version, weak.max_version) == (
        WEAK_CIPHERS, "TLSv1.2", "TLSv1.2")
    assert (weak.server_name, weak.verify) == ("mx.example.net", False)
    current = tls_config_for(_settings(tls), get_profile("current"))
    assert (current.ciphers, current.max_version) == ("ECDHE-RSA-AES256-SHA", "TLSv1.3")


# ---- the task on the emulated board ----------------------------------------------------


def _world(*, security: str = "none", server: str = "starttls = false",
           profile: str = "current", link: str = "") -> World:
    text = f"""
[scenario]
name = "task-probe"
title = "task probe"

[device.config.server]
security = "{security}"

[link]
{link}

[server]
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Hourly status"
body = "Pressure nominal.\\n"

[expect]
event = "sent"
"""
    return build_world(parse_scenario(text, source="task-probe.toml"), profile)


def _job(subject: str = "Hourly status") -> MailJob:
    return MailJob(sender="pump7@example.com", to=("ops@example.net",), subject=subject,
                   body="Pressure nominal.\n")


def _run_until_terminal(world: World, count: int) -> None:
    firmware = world.firmware
    world.kernel.run(until_us=LIMIT_US, stop=lambda: len(firmware.terminal_events) >= count)


def _lines(events: list[ClientEvent]) -> list[str]:
    return [describe(e) for e in events]


def test_the_task_idles_until_a_job_is_submitted_then_sends_it() -> None:
    world = _world()
    firmware, status = world.firmware, world.firmware.status
    world.kernel.run(until_us=1_000_000)
    assert (status.state, status.sessions, status.events) == ("idle", 0, [])

    firmware.submit(_job())  # the queue's bound wake gets the task going
    _run_until_terminal(world, 1)

    assert status.sessions == 1
    assert [type(e) for e in status.events] == [Connected, Sent]
    assert _lines(status.events) == ["connected 198.51.100.25:25",
                                     "sent 250 2.0.0 OK queued as HIL000001"]
    assert [e.event for e in firmware.events] == status.events
    assert world.server is not None
    (mail,) = [m for c in world.server.connections for m in c.engine.mailbox]
    assert b"Subject: Hourly status" in mail.content


def test_the_task_returns_to_idle_after_the_session() -> None:
    world = _world()
    world.firmware.submit(_job())
    _run_until_terminal(world, 1)
    world.kernel.run(until_us=world.kernel.now_us + 60_000_000)
    assert world.firmware.status.state == "idle"
    assert world.board.pool.in_use == 0


def test_jobs_queued_together_go_in_one_session_and_a_later_one_in_another() -> None:
    world = _world()
    firmware = world.firmware
    firmware.submit(_job("first"))
    firmware.submit(_job("second"))
    _run_until_terminal(world, 2)
    assert firmware.status.sessions == 1
    assert _lines(firmware.status.events)[1:] == ["sent 250 2.0.0 OK queued as HIL000001",
                                                  "sent 250 2.0.0 OK queued as HIL000002"]

    world.kernel.run(until_us=world.kernel.now_us + 60_000_000)
    firmware.submit(_job("third"))
    _run_until_terminal(world, 3)
    assert firmware.status.sessions == 2
    assert world.server is not None
    assert len(world.server.connections) == 2


def test_current_negotiates_0xc014_with_a_server_that_accepts_only_that() -> None:
    server = 'tls_ciphers = "ECDHE-RSA-AES256-SHA"\ntls_max_version = "TLSv1.2"'
    world = _world(security="required", server=server)
    world.firmware.submit(_job())
    _run_until_terminal(world, 1)
    events = world.firmware.status.events
    assert TlsEstablished(cipher="ECDHE-RSA-AES256-SHA", version="TLSv1.2") in events
    assert isinstance(events[-1], Sent)


def test_a_weak_release_offers_only_static_rsa_on_the_wire() -> None:
    server = 'tls_ciphers = "ECDHE+AESGCM:AES128-SHA:AES256-SHA"'
    world = _world(security="required", server=server, profile="2.4")
    world.firmware.submit(_job())
    _run_until_terminal(world, 1)
    events = world.firmware.status.events
    (tls,) = [e for e in events if isinstance(e, TlsEstablished)]
    assert tls.version == "TLSv1.2"
    assert tls.cipher in {"AES128-SHA", "AES256-SHA"}
    assert isinstance(events[-1], Sent)



# ---- why the connection ended, in the event -----------------------------------------


def _lost(world: World) -> ClientError:
    world.firmware.submit(_job())
    _run_until_terminal(world, 1)
    event = world.firmware.status.events[-1]
    assert isinstance(event, ClientError) and event.kind is ErrorKind.CONNECTION_LOST, event
    return event


def test_a_partition_says_the_devices_tcp_gave_up_not_that_the_server_closed() -> None:
    # From 4 ms on, nothing crosses the link either way: the greeting is in, the EHLO is
    # never acknowledged, and the device's TCP gives up long before the 300 s EHLO timer.
    world = _world(link='[[link.faults]]\nfault = "partition"\nat_s = 0.004\n')
    event = _lost(world)
    retries = world.board.stack.config.max_retries
    prefix = f"the device's TCP gave up after {retries} retransmissions (no ACK for "
    assert event.detail.startswith(prefix) and event.detail.endswith(" s)")
    (gave_up,) = [r for r in world.kernel.trace.records
                  if r.kind == "timeout" and r.source == "tcp.board"]
    assert gave_up.fields["retries"] == retries
    # The EHLO went out at about 2 ms and was never acknowledged.
    waited = float(event.detail[len(prefix):-len(" s)")])
    assert waited == pytest.approx(gave_up.t_us / 1_000_000, abs=0.01)


def test_a_server_that_closes_is_named_as_closing() -> None:
    world = _world(server='starttls = false\n[[server.rules]]\nverb = "MAIL"\naction = "close"')
    assert _lost(world).detail == "connection closed by the server"


def test_a_server_that_resets_is_named_as_resetting() -> None:
    world = _world(server='starttls = false\n[[server.rules]]\nverb = "MAIL"\naction = "reset"')
    assert _lost(world).detail == "connection reset by the server"
