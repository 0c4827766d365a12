"""The verdict's firmware check: a C firmware that stopped or sent garbage fails the run.

A firmware assertion ("firmware assertion failed at smtp.c:668: string is too long"), a
crash of the firmware's process, a call that never returned, a packet that is not
well-formed IPv4/TCP: each is a reason of its own, whatever the scenario expects, the way
a watchdog reset is for the Python model. When the firmware stopped before the job's
terminal event, the event check leaves the missing event to this check, which says why.

This module knows the record's firmware fields; it runs nothing.
"""

from __future__ import annotations

from scenarios.record import RunRecord


def check_firmware(result: RunRecord) -> str | None:
    if not result.firmware_problems:
        return None
    text = "; ".join(result.firmware_problems)
    if result.firmware_stopped and result.terminal is None:
        text += " (before the job's outcome)"
    return text
