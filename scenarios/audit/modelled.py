"""Auditing the modelled client: each case run in the simulation on one release.

The modelled client is judged on the scenario's whole ``[expect]`` (its exact event
included), as ``smtp-hil run`` judges it: a pass says the case's claim, a fail gives the
verdict's reasons. On a historical release a failure is a finding, whether or not the
catalog's ``reproduces`` lists it (the audit reports what the release does; the matrix
checks the catalog). With a C firmware a case it cannot run is not applicable, for the
reason :mod:`scenarios.applicability` gives.

This module runs scenarios through :func:`scenarios.runner.run`; it prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scenarios.applicability import NotApplicable
from scenarios.audit.cases import CaseResult
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import Scenario
from scenarios.runner import run


def audit_modelled(cases: Sequence[Scenario], *, profile: str = "current", seed: int = 0,
                   firmware: FirmwareChoice | None = None,
                   progress: Callable[[CaseResult], object] | None = None) -> list[CaseResult]:
    """Every case on release ``profile`` (or the C firmware ``firmware``), in order."""
    results = []
    for scenario in cases:
        result = _one(scenario, profile, seed, firmware)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _one(scenario: Scenario, profile: str, seed: int,
         firmware: FirmwareChoice | None) -> CaseResult:
    audit = scenario.audit
    assert audit is not None
    try:
        result = run(scenario, profile, seed, firmware=firmware)
    except NotApplicable as exc:
        return CaseResult(scenario, "not_applicable", exc.reason, tuple(exc.reasons))
    if result.passed:
        return CaseResult(scenario, "pass", audit.claim, wall_s=result.wall_s, run=result)
    reasons = tuple(result.verdict.reasons)
    return CaseResult(scenario, "fail", reasons[0], reasons, wall_s=result.wall_s, run=result)
