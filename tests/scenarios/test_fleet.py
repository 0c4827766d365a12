"""``[fleet]``: many devices in one kernel, one shared link, one server with its limits."""

from __future__ import annotations

import pytest

from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import resolve_scenario, run

BASE = """
[scenario]
name = "fleet-test"
title = "A small fleet"

[device.config.server]
security = "none"

[server]
hostname = "mx.example.net"
starttls = false
{server}

[job]
from = "meter@example.com"
to = ["readings@example.net"]
subject = "Reading"
body = "42 kWh"

[expect]
event = "sent"

[fleet]
{fleet}
"""


def _scenario(fleet: str, server: str = "", extra: str = "") -> object:
    return parse_scenario(BASE.format(fleet=fleet, server=server) + extra,
                          source="fleet-test.toml")


def test_every_device_sends_its_mail_from_its_own_address() -> None:
    scenario = _scenario("devices = 5\nspread_s = 2")
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    assert [d.ip for d in fleet.devices] == [f"192.0.2.{10 + i}" for i in range(5)]
    assert fleet.sent == 5 and fleet.failed == 0 and fleet.retried == 0
    assert len(result.mailbox) == 5
    assert all(0 <= d.start_us < 2_000_000 for d in fleet.devices)
    assert len({d.start_us for d in fleet.devices}) == 5  # drawn apart
    assert fleet.last_done_us is not None and result.virtual_us >= fleet.last_done_us


def test_the_same_seed_gives_the_same_fleet_and_another_seed_another() -> None:
    scenario = _scenario("devices = 6\nspread_s = 1")
    first = run(scenario, seed=3)  # type: ignore[arg-type]
    again = run(scenario, seed=3)  # type: ignore[arg-type]
    other = run(scenario, seed=4)  # type: ignore[arg-type]
    assert first.trace_sha256 == again.trace_sha256
    assert first.fleet == again.fleet
    assert other.trace_sha256 != first.trace_sha256


def test_beyond_max_connections_the_server_says_421_and_devices_retry() -> None:
    scenario = _scenario("devices = 6\nretries = 3\nretry_after_s = 5\nretry_jitter_s = 5",
                         server="max_connections = 2")
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    assert fleet.peak_connections == 2 and fleet.refused >= 1
    assert fleet.retried >= 1 and fleet.sent == 6
    refused = [r for r in result.trace if r.kind == "refused"]
    assert len(refused) == fleet.refused
    assert all(bytes(r.get("data")).startswith(b"421 4.7.0 mx.example.net")  # type: ignore
               for r in refused)


def test_without_retries_the_refused_devices_fail_the_fleet_and_are_named() -> None:
    scenario = _scenario("devices = 4", server="max_connections = 1")
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and not result.passed
    assert fleet.failed == fleet.refused and fleet.failed >= 1
    assert f"{fleet.failed} of 4 devices did not end with sent" in result.verdict.reason
    assert "421" in result.verdict.reason


def test_devices_start_when_their_own_rtc_reads_the_hour() -> None:
    scenario = _scenario('devices = 4\nstart = "rtc"\nat = 00:00:00\nrtc_error_s = 0.5',
                         extra="\n[device]\nrtc = 2025-06-01T23:59:50Z\n")
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    # midnight is 10 s away on an exact RTC; each RTC is off by up to 0.5 s either way
    assert all(9_500_000 <= d.start_us <= 10_500_000 for d in fleet.devices)
    assert len({d.start_us for d in fleet.devices}) == 4


def test_a_full_port_queue_drops_frames_and_tcp_gets_them_through() -> None:
    scenario = _scenario("devices = 6\nqueue_frames = 2\nretries = 3\nretry_after_s = 5",
                         extra="\n[link]\nbandwidth_bps = 100000\n")
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    assert fleet.queue_dropped > 0 and fleet.queue_peak == 2


def test_fleet_expectations_bound_the_burst() -> None:
    scenario = _scenario("devices = 3\n[fleet.expect]\ndone_within_s = 0.001\nmax_refused = 0"
                         "\nmin_refused = 1")
    result = run(scenario)  # type: ignore[arg-type]
    assert not result.passed
    assert "the last device was done at" in result.verdict.reason
    assert "fewer than 1" in result.verdict.reason


def test_devices_leave_the_link_when_they_are_done() -> None:
    """A finished device is summarised and taken off the link: memory is per device
    under way, not per device of the fleet."""
    scenario = _scenario("devices = 3\nspread_s = 30")
    result = run(scenario)  # type: ignore[arg-type]
    assert result.passed and result.world is None
    detached = [r for r in result.trace if r.kind == "drop" and r.get("reason") == "detached"]
    assert detached == []  # nothing was on the way to a device that had left


@pytest.mark.parametrize(("fleet", "extra", "problem"), [
    ("devices = 0", "", "fleet.devices"),
    ('devices = 2\nstart = "rtc"', "", "fleet.at"),
    ("devices = 2\nat = 00:00:00", "", "fleet.at"),
    ("devices = 2\ncolour = 3", "", "fleet.colour"),
    ("devices = 2", '\n[[link.faults]]\nkind = "partition"\nat_s = 1\n', "link.faults"),
])
def test_bad_fleet_sections_name_the_key(fleet: str, extra: str, problem: str) -> None:
    with pytest.raises(ScenarioError, match=problem.replace(".", r"\.")):
        _scenario(fleet, extra=extra)


def test_the_catalog_midnight_burst_shows_refusals_and_retries() -> None:
    result = run(resolve_scenario("midnight-burst"))
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    assert fleet.refused >= 1 and fleet.retried >= 1 and fleet.peak_connections == 2
