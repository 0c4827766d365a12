"""``[fleet]``: many devices in one kernel, one shared link, one server with its limits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.cli.main import main
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


def test_each_device_is_judged_by_its_own_last_event() -> None:
    """Per device: passed exactly when its last event is [expect] event; the fleet fails
    only beyond max_failed, and its reason names the failed devices by address."""
    limit = "max_connections = 1"
    scenario = _scenario("devices = 4\n[fleet.expect]\nmax_failed = 3", server=limit)
    result = run(scenario)  # type: ignore[arg-type]
    fleet = result.fleet
    assert fleet is not None and result.passed, result.verdict.reason
    assert 1 <= fleet.failed <= 3
    for device in fleet.devices:
        assert device.passed == (device.event == "sent"), device
        assert device.attempts == 1
    strict = _scenario("devices = 4\n[fleet.expect]\nmax_failed = 0", server=limit)
    failing = run(strict)  # type: ignore[arg-type]
    assert failing.fleet == fleet and not failing.passed
    for device in fleet.devices:
        assert (f"d{device.index} ({device.ip})" in failing.verdict.reason) != device.passed


def test_the_fleet_hash_depends_on_every_device_and_not_on_the_process(tmp_path: Path) -> None:
    """The same fleet gives the same hash in two smtp-hil processes (different
    PYTHONHASHSEED); one device more gives another."""
    path = tmp_path / "fleet.toml"
    path.write_text(BASE.format(fleet="devices = 5\nspread_s = 1\nretries = 2\nretry_after_s = 3",
                                server="max_connections = 2"))
    hashes = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-m", "scenarios.cli", "run", str(path),
                              "--json"], capture_output=True, text=True, env=env, check=False)
        assert out.returncode == 0, out.stderr
        hashes.append(json.loads(out.stdout)["trace_sha256"])
    assert hashes[0] == hashes[1]
    bigger = _scenario("devices = 6\nspread_s = 1\nretries = 2\nretry_after_s = 3",
                       server="max_connections = 2")
    assert run(bigger).trace_sha256 != hashes[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(("fleet", "needle"), [
    ("devices = 0", "fleet.devices: expected an integer >= 1, got 0"),
    ('devices = "many"', "fleet.devices: expected an integer, got 'many'"),
    ('devices = 2\nstart = "sometimes"', "fleet.start: expected one of spread, rtc"),
    ("devices = 70000", "fleet.devices"),
    ("devices = 2\nretry_after_s = -1", "fleet.retry_after_s"),
    ("devices = 2\n[fleet.expect]\nmax_failed = -1", "fleet.expect.max_failed"),
])
def test_a_bad_fleet_section_exits_2_naming_the_file_and_the_key(
        tmp_path: Path, fleet: str, needle: str) -> None:
    path = tmp_path / "bad-fleet.toml"
    path.write_text(BASE.format(fleet=fleet, server=""))
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", str(path)], out=out, err=err) == 2
    assert f"{path}: {needle}" in err.getvalue()
    assert "Traceback" not in err.getvalue() + out.getvalue() and out.getvalue() == ""


def test_run_prints_the_fleet_and_json_gives_every_device(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "midnight-burst"], out=out, err=err) == 0, err.getvalue()
    assert "8 devices: 8 as expected, 0 not" in out.getvalue()
    out = io.StringIO()
    assert main(["run", "midnight-burst", "--json"], out=out, err=err) == 0
    fleet = json.loads(out.getvalue())["fleet"]
    assert fleet["devices"] == 8 and fleet["sent"] == 8 and fleet["refused"] >= 1
    assert len(fleet["per_device"]) == 8
