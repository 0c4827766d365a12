"""A firmware crash is a result, not a dead harness: SIGSEGV, abort(), a hang, a reported
assertion and malformed packets each become the run's verdict, the harness goes on, and
the firmware's worker process is gone afterwards.

The firmware is ``faulty_firmware.c`` beside this file (compiled here with gcc): real C
code that really faults, behind the same adapter as lwIP. lwIP's own assertion is tested
in ``test_lwip.py``.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.cfirmware.calls import FirmwareJob
from emulator.cfirmware.worker import FirmwareProcess
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import parse_scenario
from scenarios.runner import run
from scenarios.verdict.invariants import check

HERE = Path(__file__).resolve().parent
INCLUDE = HERE.parents[2] / "emulator" / "cfirmware" / "include"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> FirmwareChoice:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the faulty test firmware cannot be built")
    out = tmp_path_factory.mktemp("faulty") / "libfaulty.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra",
                    "-Werror", f"-I{INCLUDE}", "-o", str(out), str(HERE / "faulty_firmware.c")],
                   check=True)
    return FirmwareChoice("libfaulty.so", out)


def _scenario(subject: str) -> str:
    return f"""
[scenario]
name = "faulty-{subject}"
title = "the faulty firmware does {subject}"

[device.config.server]
security = "none"

[server]
starttls = false

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "{subject}"
body = "x"

[expect]
event = "sent"
"""


def _run(faulty: FirmwareChoice, subject: str):  # type: ignore[no-untyped-def]
    scenario = parse_scenario(_scenario(subject), source=f"faulty-{subject}.toml")
    return run(scenario, firmware=faulty)


def _no_firmware_workers() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name.startswith("firmware")]


@pytest.mark.parametrize(("subject", "reason"), [
    ("segfault", "firmware crashed: SIGSEGV (signal 11) during hil_fw_submit"),
    ("abort", "firmware crashed: SIGABRT (signal 6) during hil_fw_submit"),
    ("assert", "firmware assertion failed at faulty_firmware.c:77: the test asked for it"),
])
def test_a_fault_is_the_verdict(faulty: FirmwareChoice, subject: str, reason: str) -> None:
    result = _run(faulty, subject)
    assert not result.passed
    assert result.verdict.reasons[0] == f"{reason} (before the job's outcome)"
    assert result.terminal is None
    faults = result.world.kernel.trace.select("board.fw", "fault")
    assert [f.get("text") for f in faults] == [reason]
    assert _no_firmware_workers()


def test_a_crash_breaks_the_no_crash_invariant(faulty: FirmwareChoice) -> None:
    report = check(_run(faulty, "segfault"))
    assert [(v.invariant, v.reason) for v in report.violations] == [
        ("device.no_crash", "firmware fault")]
    # "fine" reports sent without a word to the server: a crash it is not
    assert "device.no_crash" not in {v.invariant for v in check(_run(faulty, "fine")).violations}


def test_a_hang_is_cut_by_the_wall_clock_limit(faulty: FirmwareChoice) -> None:
    calls = FirmwareProcess(faulty.library or Path(), call_limit_s=0.5)
    job = FirmwareJob(1, "a@example.com", ("b@example.net",), "hang", b"x")
    outcome = calls.submit(0, job)
    assert outcome.fault is not None and outcome.fault.kind == "hang"
    assert outcome.fault.text == ("firmware hung: hil_fw_submit did not return within 0.5 s "
                                  "of wall time (worker killed)")
    assert calls.submit(0, job).status == 2  # stopped: nothing is called any more
    assert _no_firmware_workers()


def test_the_harness_goes_on_after_a_crash(faulty: FirmwareChoice) -> None:
    assert not _run(faulty, "segfault").passed
    result = _run(faulty, "fine")
    assert result.passed, result.verdict.reasons


def _run_expecting_error(faulty: FirmwareChoice, subject: str, kind: str):  # type: ignore[no-untyped-def]
    text = _scenario(subject).replace('event = "sent"', f'event = "error"\nerror_kind = "{kind}"')
    return run(parse_scenario(text, source=f"faulty-{subject}.toml"), firmware=faulty)


@pytest.mark.parametrize("number", [0, 11, 99])
def test_an_error_of_a_kind_the_contract_does_not_define_fails_the_run(
        faulty: FirmwareChoice, number: int) -> None:
    result = _run_expecting_error(faulty, f"error-kind-{number}", "protocol")
    assert not result.passed
    assert (f"the firmware reported an error for job 1 with error kind {number}, which "
            "hil_firmware.h does not define (event dropped; detail: 'odd kind')"
            ) in result.verdict.reasons
    assert result.terminal is None


def test_an_error_of_a_defined_kind_is_that_kind(faulty: FirmwareChoice) -> None:
    result = _run_expecting_error(faulty, "error-kind-12", "out_of_memory")
    assert result.passed, result.verdict.reasons


def test_a_malformed_packet_fails_the_run(faulty: FirmwareChoice) -> None:
    result = _run(faulty, "garbage")
    assert "the firmware sent a malformed packet: 3 bytes: shorter than an IPv4 header" in (
        result.verdict.reasons)
