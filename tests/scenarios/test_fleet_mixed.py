"""Fleets that mix lwIP devices with model devices (``[fleet] firmware``): one private
lwIP instance per device and per run, on the same link and against the same server,
deterministic across processes.

The lwIP runs skip, with one line saying why, when lwIP is not built (``make lwip``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.applicability import NotApplicable
from scenarios.cli.main import main
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import parse_scenario
from scenarios.runner import resolve_scenario, run

MIDNIGHT = Path(resolve_scenario("midnight-burst").source or "").read_text()
FLEET = MIDNIGHT.replace(  # the catalog's burst, its server without AUTH (lwIP offers none)
    "max_connections = 2", 'max_connections = 2\ncapabilities = ["SIZE 10485760", "8BITMIME"]'
).replace("queue_frames = 64", "queue_frames = 64\n{firmware}").replace(
    "{", "{{").replace("}", "}}").replace("{{firmware}}", "{firmware}")


def _write(tmp_path: Path, firmware: str = "firmware = { lwip = 2 }") -> Path:
    path = tmp_path / "mixed-fleet.toml"
    path.write_text(FLEET.format(firmware=firmware))
    return path


def test_lwip_and_model_devices_share_the_link_and_the_server(lwip: FirmwareChoice) -> None:
    result = run(parse_scenario(FLEET.format(firmware="firmware = { lwip = 2 }"),
                                source="mixed.toml"))
    assert result.passed, result.verdict.reasons
    assert result.fleet is not None
    assert [d.firmware for d in result.fleet.devices] == ["lwip", "lwip"] + ["model"] * 6
    assert all(d.passed for d in result.fleet.devices)
    assert len(result.mailbox) == 8
    boots = {r.source: r.fields["firmware"] for r in result.trace if r.kind == "boot"
             and "firmware" in r.fields}
    assert set(boots) == {"d0", "d1"}
    assert all(str(v).startswith("lwIP 2.1.3") for v in boots.values())
    # each lwIP device got its own seed: their first SYNs differ in ISN
    syns = {}
    for r in result.trace:
        if r.kind == "tx" and r.source.startswith("link") and r.fields["flags"] == "S":
            syns.setdefault(str(r.fields["src"]).split(":")[0], r.fields["seq"])
    assert syns["192.0.2.10"] != syns["192.0.2.11"]


def test_a_mixed_fleet_has_one_hash_in_every_process(lwip: FirmwareChoice,
                                                     tmp_path: Path) -> None:
    path = _write(tmp_path)
    in_process = run(parse_scenario(path.read_text(), source=str(path))).trace_sha256
    hashes = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-m", "scenarios.cli", "run", str(path), "--json"],
                             capture_output=True, text=True, env=env, check=False, timeout=120)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert [d["firmware"] for d in data["fleet"]["per_device"]] == [
            "lwip", "lwip"] + ["model"] * 6
        hashes.append(data["trace_sha256"])
    assert hashes == [in_process, in_process]
    # one lwIP device fewer is another fleet
    other = run(parse_scenario(FLEET.format(firmware="firmware = { lwip = 1 }"),
                               source="other.toml"))
    assert other.trace_sha256 != in_process


def test_firmware_on_the_command_line_runs_the_devices_not_named(lwip: FirmwareChoice) -> None:
    scenario = parse_scenario(FLEET.format(firmware='firmware = { model = 1 }'),
                              source="mixed.toml")
    result = run(scenario, firmware=lwip)
    assert result.fleet is not None and result.firmware == "lwip"
    assert [d.firmware for d in result.fleet.devices] == ["model"] + ["lwip"] * 7
    assert result.passed, result.verdict.reasons


def test_a_fleet_lwip_cannot_serve_is_not_applicable(lwip: FirmwareChoice,
                                                     tmp_path: Path) -> None:
    text = FLEET.format(firmware="firmware = { lwip = 1 }").replace(
        'security = "none"', 'security = "starttls"').replace("starttls = false", "")
    with pytest.raises(NotApplicable, match="STARTTLS"):
        run(parse_scenario(text, source="tls.toml"))
    path = tmp_path / "tls-fleet.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", str(path)], out=out, err=err) == 1, err.getvalue()
    assert out.getvalue().startswith("N/A  midnight-burst [lwip] not applicable: STARTTLS")


@pytest.mark.parametrize(("firmware", "problem"), [
    ("firmware = { zephyr = 1 }", "fleet.firmware.zephyr: expected 'model', 'lwip' or the "
                                  "path of a C firmware library ending in .so, got 'zephyr'"),
    ("firmware = { lwip = 9 }", "fleet.firmware: 9 devices named, the fleet has 8"),
    ("firmware = { lwip = 0 }", "fleet.firmware.lwip: expected an integer >= 1, got 0"),
    ('firmware = { "missing/libnone.so" = 1 }', "firmware missing/libnone.so: "),
])
def test_a_bad_firmware_mix_exits_2_naming_the_key(tmp_path: Path, firmware: str,
                                                    problem: str) -> None:
    path = _write(tmp_path, firmware)
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", str(path)], out=out, err=err) == 2
    assert problem in err.getvalue(), err.getvalue()
    assert "Traceback" not in err.getvalue() + out.getvalue()


def test_an_lwip_assertion_on_one_device_fails_the_fleet_naming_it(lwip: FirmwareChoice) -> None:
    # smtp_send_mail_static asserts every string is shorter than 64 KiB (smtp.c:668)
    text = FLEET.format(firmware="firmware = { lwip = 1 }").replace(
        'body = """\n00:00 reading: 48213.7 kWh\n"""', 'body = "' + "x" * 65536 + '"').replace(
        "[device]\n", '[device]\nfirmware_options = { smtp_api = "static" }\n'
    ).replace("time_limit_s = 900", "time_limit_s = 60")
    result = run(parse_scenario(text, source="assert.toml"))
    assert not result.passed
    assert ("firmware problem on d0: firmware assertion failed at smtp.c:668: string is too "
            "long") in "; ".join(result.verdict.reasons)
    assert result.fleet is not None
    assert [d.passed for d in result.fleet.devices] == [False] + [True] * 7
