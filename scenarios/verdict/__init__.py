"""The verdicts: a run's record judged against its scenario's ``[expect]``.

- :mod:`.client`: the verdict of a simulated run (:func:`judge`), every expectation,
  from the run's :class:`~scenarios.record.RunRecord`;
- :mod:`.server`: the server-side verdict facing a real client (``smtp-hil serve``,
  ``run --dut``): what a scripted server can judge alone, the rest "not observable";
- :mod:`.serverchecks`: the checks both share (mailbox, body, headers, what the server
  observed);
- :mod:`.firmware`, :mod:`.bodies`, :mod:`.datecheck`: a C firmware's faults, what "the
  body arrived exactly" means, and whether the Date header is the device RTC's reading.

A verdict reads records, never a world: a kernel, a board or a socket is never needed to
judge. This module only names the public parts.
"""

from scenarios.verdict.client import (
    CHECKS,
    Check,
    Verdict,
    check_body,
    check_date,
    check_event,
    check_events_include,
    check_headers,
    check_mailbox_count,
    check_pool,
    check_recipients,
    check_server,
    check_time,
    judge,
)
from scenarios.verdict.firmware import check_firmware
from scenarios.verdict.server import CheckResult, ServerVerdict, judge_server

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "ServerVerdict",
    "Verdict",
    "check_body",
    "check_date",
    "check_event",
    "check_events_include",
    "check_firmware",
    "check_headers",
    "check_mailbox_count",
    "check_pool",
    "check_recipients",
    "check_server",
    "check_time",
    "judge",
    "judge_server",
]
