"""Which firmware the Robot library's whole-scenario runs use (`Run Scenario` with
``firmware=``), and skipping a test when that firmware cannot run the scenario or cannot
be had (`Skip Unless Firmware Is Available`).

A scenario the firmware cannot run (STARTTLS on lwIP, ...) skips the test with the reason,
as ``smtp-hil run`` reports it ``N/A``: it is neither a pass nor a failure. The emulated
board of `Boot Emulated Board` runs the Python model only.

This module knows the firmware choice, the runner's entry point and Robot's skip; it
defines no keywords.
"""

from __future__ import annotations

from robot.api import SkipExecution

from emulator.cfirmware.library import FirmwareUnavailable
from scenarios.applicability import NotApplicable
from scenarios.firmware_choice import resolve_firmware
from scenarios.format import Scenario
from scenarios.runner import RunResult, run


def run_on_firmware(scenario: Scenario, profile: str, seed: int,
                    firmware: str | None) -> RunResult:
    """Run ``scenario`` on ``firmware`` (None: the scenario's own); SkipExecution when the
    firmware cannot run it; ValueError or FirmwareUnavailable (the keyword fails, naming
    why) when ``firmware`` names no firmware or one that cannot be had."""
    choice = None if firmware is None else resolve_firmware(firmware)
    try:
        return run(scenario, profile, seed, choice)
    except NotApplicable as exc:
        raise SkipExecution(f"{exc.scenario} is not applicable on {exc.firmware}: "
                            f"{exc.reason}") from None


def skip_unless_available(firmware: str) -> None:
    """SkipExecution, with the one line saying why and how to get it, when ``firmware``
    cannot be had (lwIP not built); ValueError when it names no firmware."""
    try:
        resolve_firmware(firmware)
    except FirmwareUnavailable as exc:
        raise SkipExecution(str(exc)) from None
