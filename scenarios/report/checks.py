"""The verdict of a simulated run, one expectation at a time, for the report's table.

:func:`scenarios.verdict.judge` gives a run's reasons, but not which expectation each
reason belongs to, nor which expectations held. So each expectation the scenario makes
(``Expect.checks()``: ``event``, ``body_exact``, ``server.tls_used``, ...) is judged on
its own, on the same result with a copy of the scenario that asks only for it (and for
the event, which every scenario names, so the event's own failure is subtracted).
Expectations about the terminal event (``command``, ``reply_code``, ``error_kind``) are
``not judged`` when the event itself is not the one expected, as the verdict does not
look at them then.

A ``[fleet]`` run is one row, the fleet's verdict (:mod:`scenarios.verdict.fleet`).

This module knows the verdict's entry points and the expectations; it reads the result
only through :func:`scenarios.verdict.judge` (and the fleet's judge).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Final

from scenarios.format import Expect, Scenario
from scenarios.report.model import CheckRow
from scenarios.runner import RunResult
from scenarios.verdict import judge
from scenarios.verdict.fleet import judge_fleet

EVENT_DETAILS: Final = ("command", "reply_code", "error_kind")
"""Expectations the verdict checks only once the terminal event is the expected one."""


def shown_value(value: object) -> str:
    """An expectation's value as a scenario file would write it (JSON is close to TOML
    for these values: ``true``, ``"text"``, ``["a", "b"]``)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def alone(scenario: Scenario, name: str | None, value: object = None) -> Scenario:
    """``scenario`` expecting only its event, and ``name`` = ``value`` when given.
    (``no_watchdog_reset`` defaults to true in the format, so it is switched off here
    unless it is the expectation asked for.)"""
    fields: dict[str, object] = {"event": scenario.expect.event, "no_watchdog_reset": False}
    if name is not None and name.startswith("server."):
        fields["server"] = {name[len("server."):]: value}
    elif name is not None:
        fields[name] = value
    return scenario.model_copy(update={"expect": Expect.model_validate(fields)})


def _reasons(result: RunResult, scenario: Scenario) -> list[str]:
    return judge(dataclasses.replace(result, scenario=scenario)).reasons


def expectation_checks(result: RunResult, scenario: Scenario) -> list[CheckRow]:
    """One row per expectation of ``scenario``, judged on ``result`` (for a scenario with
    RTC variants, pass the variant the result ran)."""
    if scenario.fleet is not None:  # a fleet is judged as a whole (scenarios.verdict.fleet)
        reasons = judge_fleet(dataclasses.replace(result, scenario=scenario)).reasons
        wanted = {"event": scenario.expect.event, **scenario.fleet.expect.model_dump(
            exclude_none=True)}
        return [CheckRow("fleet", shown_value(wanted), "fail" if reasons else "pass",
                         "; ".join(reasons))]
    base = _reasons(result, alone(scenario, None))
    rows: list[CheckRow] = []
    for name, value in scenario.expect.checks().items():
        shown = shown_value(value)
        if name == "event":
            rows.append(CheckRow(name, shown, "fail" if base else "pass", "; ".join(base)))
            continue
        own = [r for r in _reasons(result, alone(scenario, name, value)) if r not in base]
        if own:
            rows.append(CheckRow(name, shown, "fail", "; ".join(own)))
        elif name in EVENT_DETAILS and base:
            rows.append(CheckRow(name, shown, "not judged",
                                 "the terminal event is not the one expected"))
        else:
            rows.append(CheckRow(name, shown, "pass"))
    return rows
