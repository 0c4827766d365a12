"""lwIP 2.1.3 and its SMTP client on the simulated wire: real C in the loop.

When lwIP is not built (``make lwip``), the whole module skips with one line saying why
and how to get it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cfirmware.calls import FirmwareConfig, FirmwareJob, Transmit
from emulator.cfirmware.instance import FirmwareInstance
from emulator.cfirmware.library import FirmwareUnavailable
from emulator.units import SECOND
from scenarios.applicability import NotApplicable
from scenarios.cli.main import main
from scenarios.cworld import build_cfirmware_world
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware
from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import resolve_scenario, run
from stack.wire import decode

REPO_ROOT = Path(__file__).resolve().parents[3]

try:
    LWIP = resolve_firmware("lwip")
except FirmwareUnavailable as exc:
    pytest.skip(f"lwIP tests: {exc}", allow_module_level=True)


@pytest.fixture
def lwip() -> FirmwareChoice:
    return LWIP

PLAIN = """
[scenario]
name = "plain"
title = "one mail, plain SMTP, no AUTH offered"

[device]
pool_buffers = {pool}
firmware_options = {{ {options} }}

[device.config.server]
security = "none"

[server]
starttls = false
capabilities = ["SIZE 10485760", "8BITMIME"]
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Shift report"
body = {body}

[expect]
event = "{event}"
"""


def _scenario(*, body: str = '"Pump 7 shift report.\\nAll nominal.\\n"', pool: int = 16,
              options: str = "", server: str = "", event: str = "sent"):  # type: ignore[no-untyped-def]
    text = PLAIN.format(body=body, pool=pool, options=options, server=server, event=event)
    return parse_scenario(text, source="plain.toml")


def _config(seed: int = 7, options: tuple[tuple[str, str], ...] = ()) -> FirmwareConfig:
    return FirmwareConfig(now_ms=0, seed=seed, ip="192.0.2.10", netmask="255.255.255.0",
                          gateway="0.0.0.0", mtu=1500, pool_buffers=16, buffer_size=1536,
                          server_ip="198.51.100.25", server_port=25, domain="",
                          hostname="device", username=None, password=None, options=options)


def _syn(instance: FirmwareInstance) -> bytes:
    outcome = instance.submit(1, FirmwareJob(1, "a@example.com", ("b@example.net",), "s", b"x"))
    packets = [o.packet for o in outcome.outputs if isinstance(o, Transmit)]
    assert len(packets) == 1
    return packets[0]


def test_it_is_lwip_2_1_3_with_the_capabilities_of_its_client(lwip: FirmwareChoice) -> None:
    instance = FirmwareInstance(lwip.library or Path())
    assert instance.description.startswith("lwIP 2.1.3 ")
    assert {c.name for c in instance.capabilities} == {"AUTH_PLAIN", "AUTH_LOGIN"}


def test_private_copies_are_independent_instances(lwip: FirmwareChoice) -> None:
    first, second, again = (FirmwareInstance(lwip.library or Path()) for _ in range(3))
    for instance, seed in ((first, 7), (second, 8), (again, 7)):
        assert instance.init(_config(seed)).status == 0
    syn_first, syn_second, syn_again = _syn(first), _syn(second), _syn(again)
    assert decode(syn_first).seq != decode(syn_second).seq  # the seed reaches the ISN
    assert syn_first == syn_again  # same seed, same bytes: no state shared between copies


def test_a_mail_goes_through_and_the_pool_mirror_matches_lwip(lwip: FirmwareChoice) -> None:
    result = run(_scenario(), firmware=lwip)
    assert result.passed, result.verdict.reasons
    assert result.firmware == "lwip"
    mail = result.mailbox[0]
    assert b"Pump 7 shift report.\r\nAll nominal.\r\n" in mail.content
    pool = result.world.board.pool
    assert pool.stats.allocations > 0 and pool.in_use == 0
    assert pool.stats.count == 16 and pool.stats.peak_in_use >= 1
    allocs = result.world.kernel.trace.select("board.pool", "alloc")
    assert len(allocs) == pool.stats.allocations
    assert {r.get("purpose") for r in allocs} == {"rx"}


def test_the_pool_figures_of_lwip_itself(lwip: FirmwareChoice) -> None:
    world = build_cfirmware_world(_scenario(), 0, lwip, isolated=False)
    world.firmware.submit(world.scenario.to_job())
    world.kernel.run(until_us=10 * SECOND)
    figures = world.board.calls.pool_figures()
    stats = world.board.pool.stats
    assert figures is not None
    assert (figures.count, figures.in_use, figures.peak_in_use, figures.allocations,
            figures.failed_allocations, figures.frames_dropped) == (
        stats.count, stats.in_use, stats.peak_in_use, stats.allocations,
        stats.failed_allocations, stats.frames_dropped)


def test_a_real_lwip_assertion_is_the_verdict(lwip: FirmwareChoice) -> None:
    # smtp_send_mail_static asserts every string is shorter than 64 KiB (smtp.c:668).
    scenario = _scenario(body='"' + "x" * 65536 + '"', options='smtp_api = "static"')
    result = run(scenario, firmware=lwip)
    assert result.verdict.reasons == [
        "firmware assertion failed at smtp.c:668: string is too long "
        "(before the job's outcome)"]
    assert result.terminal is None


def test_the_eight_minute_timeout_fires_at_480_s_of_virtual_time(lwip: FirmwareChoice) -> None:
    # The server never greets: smtp.c's SMTP_TIMEOUT is 240 polls of 2 s ("2 minutes").
    scenario = _scenario(server='[[server.rules]]\nverb = "GREETING"\naction = "silent"',
                         event="timeout")
    result = run(scenario, firmware=lwip)
    assert result.terminal is not None and result.terminal.event.name == "timeout"
    connected = result.world.kernel.trace.select("link", "tx")[0].t_us
    fired = result.terminal.t_us - connected
    assert 479 * SECOND <= fired <= 480 * SECOND, fired
    # Stepped at lwIP's own deadlines (its 250 ms TCP timer), not in coarse jumps.
    assert result.world.board.calls_made < 480 * 4 + 50


def test_determinism_two_runs_and_another_seed(lwip: FirmwareChoice) -> None:
    scenario = resolve_scenario("dot-line-in-body")
    first, second = run(scenario, firmware=lwip), run(scenario, firmware=lwip)
    assert first.trace_sha256 == second.trace_sha256
    assert run(scenario, seed=1, firmware=lwip).trace_sha256 != first.trace_sha256


@pytest.mark.parametrize("hash_seed", ["0", "12345"])
def test_determinism_across_processes(lwip: FirmwareChoice, hash_seed: str) -> None:
    in_process = run(resolve_scenario("dot-line-in-body"), firmware=lwip).trace_sha256
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "run", "dot-line-in-body",
         "--firmware", "lwip", "--json"],
        env=dict(os.environ, PYTHONHASHSEED=hash_seed), cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # lwIP fails this scenario (no dot-stuffing)
    assert json.loads(done.stdout)["trace_sha256"] == in_process


def test_starttls_is_not_applicable_never_a_pass(lwip: FirmwareChoice,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotApplicable, match="STARTTLS"):
        run(resolve_scenario("starttls"), firmware=lwip)
    assert main(["run", "starttls", "--firmware", "lwip"]) == 1
    assert capsys.readouterr().out.startswith("N/A  starttls [lwip] not applicable: STARTTLS")


def test_the_scenario_can_name_its_firmware(lwip: FirmwareChoice) -> None:
    text = PLAIN.format(body='"x"', pool=16, options="", server="", event="sent").replace(
        "pool_buffers = 16", 'pool_buffers = 16\nfirmware = "lwip"')
    assert run(parse_scenario(text, source="x.toml")).firmware == "lwip"
    with pytest.raises(ScenarioError, match=r"device\.firmware: expected 'model', 'lwip'"):
        parse_scenario(text.replace('"lwip"', '"lwIP"'), source="x.toml")


def test_an_option_lwip_does_not_know_is_bad_input(lwip: FirmwareChoice) -> None:
    with pytest.raises(ScenarioError, match="options: unknown key 'smtp_apy'"):
        run(_scenario(options='smtp_apy = "copy"'), firmware=lwip)


@pytest.mark.parametrize(("name", "reason"), [
    ("dot-line-in-body", "expected the commands EHLO, MAIL, RCPT, DATA, QUIT; the server "
                         "received EHLO, MAIL, RCPT, DATA, RSET, NOOP, READINGS, ., QUIT"),
    ("textless-reply", "expected sent, got timeout (unknown) after 479 s"),
    ("data-end-timeout", "the job took 2399.750000 s of virtual time, more than the "
                         "610.000000 s allowed"),
    ("data-block-timeout", "the job took 479.750000 s of virtual time, more than the "
                           "190.000000 s allowed"),
    ("quit-unanswered", "1 connection(s) still open at the end of the run"),
    ("multiline-reply-exceeds-pool", "the buffer pool ran dry: 12 received frame(s) dropped "
                                     "for want of an IP buffer"),
    ("connection-refused", "expected error connection_refused, got error connection_lost "
                           "smtp_result=4 (SMTP_RESULT_ERR_CLOSED) srv_err=0 err=-14 (ERR_RST)"),
])
def test_what_lwip_does_with_the_catalog(lwip: FirmwareChoice, name: str, reason: str) -> None:
    """The README's table of lwIP 2.1.3's results, row by row where it names a fact."""
    result = run(resolve_scenario(name), firmware=lwip)
    assert reason in result.verdict.reasons


def test_dot_line_in_body_lwip_still_reports_success(lwip: FirmwareChoice) -> None:
    result = run(resolve_scenario("dot-line-in-body"), firmware=lwip)
    assert result.terminal is not None and result.terminal.event.name == "sent"
    assert result.mailbox[0].content.endswith(b"Pump 7 shift report.\r\n")


def test_check_determinism_replays_the_lwip_run(lwip: FirmwareChoice,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "auth-plain", "--firmware", "lwip", "--check-determinism"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS auth-plain [lwip seed 0]")
    assert "deterministic: trace_sha256" in out and "again in a fresh process" in out
