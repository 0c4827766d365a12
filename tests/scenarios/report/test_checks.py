"""The verdict one expectation at a time (scenarios/report/checks.py)."""

from __future__ import annotations

from scenarios.format import parse_scenario
from scenarios.report.checks import expectation_checks
from scenarios.runner import RunResult, run


def _atoms(reasons: list[str]) -> set[str]:
    """Reasons split where the verdict joins several problems of one check."""
    return {atom for reason in reasons for atom in reason.split("; ")}


def _without_rtc_prefix(atoms: set[str]) -> set[str]:
    return {a.split(": ", 1)[1] if a.startswith("RTC ") else a for a in atoms}


def test_the_failed_rows_say_exactly_what_the_verdict_says(
        matrix_results: list[RunResult]) -> None:
    """On every catalog run, the rows that fail carry the verdict's reasons, all of them
    and no others; a run that passed has no failed row."""
    for result in matrix_results:
        rows = expectation_checks(result, result.as_run)
        failed = _atoms([r.detail for r in rows if r.status == "fail"])
        wanted = _atoms(result.verdict.reasons)
        where = f"{result.scenario.name} on {result.profile}"
        if result.scenario.device.rtc_variants:  # judged on the variant that ran
            assert failed <= _without_rtc_prefix(wanted), where
        else:
            assert failed == wanted, where
        names = ["fleet"] if result.fleet is not None else list(result.scenario.expect.checks())
        assert [r.name for r in rows] == names, where


SCENARIO = """
[scenario]
name = "two-problems"
title = "A mail to a server that refuses MAIL, expected as sent"

[server]
rules = [{ verb = "MAIL", reply = "550 5.7.1 Go away" }]

[job]
from = "a@example.com"
to = ["ops@example.net"]

[expect]
event = "sent"
reply_code = 250
mailbox_count = 1
body_exact = true
"""


def test_each_row_names_its_own_problem_and_the_event_details_are_not_judged() -> None:
    result = run(parse_scenario(SCENARIO, source="two-problems.toml"))
    rows = {r.name: r for r in expectation_checks(result, result.scenario)}
    assert rows["event"].status == "fail"
    assert "expected sent, got command_abort" in rows["event"].detail
    assert rows["reply_code"].status == "not judged"  # the event is not even the right one
    assert rows["mailbox_count"].status == "fail"
    assert rows["mailbox_count"].detail == "expected 1 mail(s) in the server's mailbox, found 0"
    assert rows["body_exact"].detail == "body_exact: the server received no mail"
    assert rows["no_watchdog_reset"].status == "pass"
    assert rows["mailbox_count"].expected == "1" and rows["body_exact"].expected == "true"
