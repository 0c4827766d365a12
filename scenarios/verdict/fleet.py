"""The verdict of a ``[fleet]`` run: every device by the scenario's ``[expect]`` event,
and the fleet as a whole by ``[fleet.expect]``.

A device passes when the last terminal event it reported (after its retries) is the
event ``[expect]`` names. The fleet passes when no more than ``max_failed`` devices did
not, every device was done within ``done_within_s`` (when given), and the connections
the server refused with 421 are within ``max_refused`` / ``min_refused``. The reasons
name the devices that failed (the first few, with their last event in words).

This module knows the fleet's outcome record; nothing of running one.
"""

from __future__ import annotations

from typing import Final

from emulator.units import format_us
from scenarios.record import FleetOutcome, RunRecord
from scenarios.verdict.client import Verdict

SHOWN_DEVICES: Final = 5
"""How many failed devices a reason names."""


def judge_fleet(record: RunRecord) -> Verdict:
    """The verdict of a fleet run's record (``record.fleet`` set)."""
    fleet = record.fleet
    assert fleet is not None, "a fleet run's record"
    expect = record.scenario.fleet.expect if record.scenario.fleet is not None else None
    assert expect is not None
    reasons: list[str] = []
    wanted = record.scenario.expect.event
    if fleet.failed > expect.max_failed:
        failed = [d for d in fleet.devices if not d.passed]
        named = "; ".join(f"d{d.index} ({d.ip}) after {d.attempts} attempt(s): {d.detail}"
                          for d in failed[:SHOWN_DEVICES])
        more = f"; and {len(failed) - SHOWN_DEVICES} more" if len(failed) > SHOWN_DEVICES else ""
        reasons.append(f"{fleet.failed} of {len(fleet.devices)} devices did not end with "
                       f"{wanted} (at most {expect.max_failed} may): {named}{more}")
    if expect.done_within_s is not None:
        reasons += _late(fleet, round(expect.done_within_s * 1_000_000))
    if expect.max_refused is not None and fleet.refused > expect.max_refused:
        reasons.append(f"the server refused {fleet.refused} connection(s) with 421, more "
                       f"than {expect.max_refused}")
    if expect.min_refused is not None and fleet.refused < expect.min_refused:
        reasons.append(f"the server refused {fleet.refused} connection(s) with 421, fewer "
                       f"than {expect.min_refused}")
    reasons += [f"firmware problem on {problem}" for problem in record.firmware_problems]
    return Verdict(passed=not reasons, reasons=reasons)


def _late(fleet: FleetOutcome, limit_us: int) -> list[str]:
    last = fleet.last_done_us
    if last is None:
        return [f"not every device was done by the end of the run (limit "
                f"{format_us(limit_us)} s)"]
    if last > limit_us:
        return [f"the last device was done at {format_us(last)} s, later than "
                f"{format_us(limit_us)} s"]
    return []
