"""JUnit XML of simulated runs, in the shape pytest writes (its default ``xunit2`` family).

One ``<testsuites>`` with one ``<testsuite>``, one ``<testcase>`` per run: classname
``<suite>.release_<profile>`` (dots replaced: CI tools split a classname on dots), name
the scenario. It validates against the JUnit schema pytest's own tests validate its
output against (``junit-10.xsd``, from the Jenkins xUnit plugin): times in seconds with
at most three decimals, no ``<properties>`` inside a testcase (the schema has none
there), so what a testcase has to say beyond its outcome is in its ``<system-out>``.

What a CI consumer sees of each outcome:

* a pass: an empty testcase;
* a failure: ``<failure type="fail">`` with the verdict's reasons as its message and the
  transcript's last lines as its text;
* with ``expected_failures`` (the matrix): a historical release failing a scenario that
  reproduces its bug is an expected failure, reported as pytest reports an xfail:
  ``<skipped type="xfail" message="reproduces: <changelog line>: <reasons>">``, so it is
  neither counted as a pass nor as a failure; such a release passing the scenario is
  ``<failure type="xpass">`` (pytest's strict xfail);
* without it (``run``), a run that fails as the catalog says is a failure, as its exit
  status says, of ``type="reproduces"`` rather than ``type="fail"``.

A C firmware's runs (``--firmware lwip``) have the classname ``<suite>.firmware_<label>``
(``smtp-hil-matrix.firmware_lwip``): a pass is an empty testcase, a failure (the
firmware's own result, judged as ``current`` would be) ``<failure type="fail">``, and a
scenario the firmware cannot run (``not_applicable``) ``<skipped type="not-applicable"
message="not applicable: <reason>">``, with no run.

Every testcase's ``<system-out>`` has ``outcome:`` (``pass``, ``reproduces``,
``unexpected-fail``, ``unexpected-pass``; a C firmware's ``pass``, ``fails``,
``not-applicable``), the release (or ``firmware:``), seed, virtual time, trace hash and
the changelog lines the catalog names for that release.

This module knows results and the XML format; it runs nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree

from emulator.units import format_us
from scenarios.applicability import NotApplicable
from scenarios.artifacts import transcript_tail
from scenarios.firmware_choice import MODEL
from scenarios.report.from_runs import expected_to_fail, run_outcome
from scenarios.report.model import Outcome
from scenarios.runner import RunResult

TRANSCRIPT_TAIL = 20
MESSAGE_LIMIT = 1000


def _seconds(value: float) -> str:
    """Seconds as the schema's SUREFIRE_TIME allows: at most three decimals."""
    return f"{value:.3f}"


def _changelog(result: RunResult) -> list[str]:
    return [r.changelog for r in result.scenario.meta.reproduces
            if result.profile in r.profiles]


def _classname(suite: str, result: RunResult) -> str:
    if result.firmware != MODEL:
        return _firmware_classname(suite, result.firmware)
    return f"{suite}.release_{result.profile.replace('.', '_')}"


def _firmware_classname(suite: str, label: str) -> str:
    return f"{suite}.firmware_{label.replace('.', '_')}"


def _system_out(result: RunResult, outcome: Outcome) -> str:
    ran_on = (f"profile: {result.profile}" if result.firmware == MODEL
              else f"firmware: {result.firmware}")
    lines = [f"outcome: {outcome.value}", ran_on, f"seed: {result.seed}",
             f"virtual_s: {format_us(result.virtual_us)}",
             f"trace_sha256: {result.trace_sha256}"]
    lines += [f"reproduces: {line}" for line in _changelog(result)]
    return "\n".join(lines) + "\n"


def _tail(result: RunResult, show_secrets: bool) -> str:
    return "\n".join(transcript_tail(result.trace, TRANSCRIPT_TAIL, show_secrets=show_secrets))


def _testcase(result: RunResult, suite: str, expected_failures: bool,
              show_secrets: bool) -> ElementTree.Element:
    case = ElementTree.Element("testcase", {
        "classname": _classname(suite, result),
        "name": result.scenario.name,
        "time": _seconds(result.wall_s)})
    outcome = run_outcome(result)
    reason = result.verdict.reason
    changelog = "; ".join(_changelog(result))
    if expected_failures and outcome is Outcome.REPRODUCES:
        ElementTree.SubElement(case, "skipped", {
            "type": "xfail",
            "message": f"reproduces: {changelog}: {reason}"[:MESSAGE_LIMIT]})
    elif expected_failures and outcome is Outcome.UNEXPECTED_PASS:
        ElementTree.SubElement(case, "failure", {
            "type": "xpass",
            "message": f"passes, although the catalog says {result.profile} fails it: "
                       f"{changelog}"[:MESSAGE_LIMIT]})
    elif not result.passed:
        failure = ElementTree.SubElement(case, "failure", {
            "type": "reproduces" if expected_to_fail(result) else "fail",
            "message": reason[:MESSAGE_LIMIT]})
        failure.text = _tail(result, show_secrets)
    ElementTree.SubElement(case, "system-out").text = _system_out(result, outcome)
    return case


def _not_applicable_case(exc: NotApplicable, suite: str) -> ElementTree.Element:
    case = ElementTree.Element("testcase", {
        "classname": _firmware_classname(suite, exc.firmware), "name": exc.scenario,
        "time": _seconds(0)})
    ElementTree.SubElement(case, "skipped", {
        "type": Outcome.NOT_APPLICABLE.value,
        "message": f"not applicable: {exc.reason}"[:MESSAGE_LIMIT]})
    ElementTree.SubElement(case, "system-out").text = (
        f"outcome: {Outcome.NOT_APPLICABLE.value}\nfirmware: {exc.firmware}\n")
    return case


def junit_xml(results: Sequence[RunResult], *, suite: str = "smtp-hil",
              expected_failures: bool = False, show_secrets: bool = False,
              not_applicable: Sequence[NotApplicable] = ()) -> str:
    """The JUnit XML text of ``results`` and of the scenarios a C firmware cannot run
    (``not_applicable``, as skipped testcases) (module docstring); the transcript tails
    hide credentials unless ``show_secrets``."""
    cases = [_testcase(r, suite, expected_failures, show_secrets) for r in results]
    cases += [_not_applicable_case(exc, suite) for exc in not_applicable]
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    wall = _seconds(sum(r.wall_s for r in results))
    root = ElementTree.Element("testsuites", {
        "name": suite, "tests": str(len(cases)), "failures": str(failures),
        "errors": "0", "time": wall})
    testsuite = ElementTree.SubElement(root, "testsuite", {
        "name": suite, "tests": str(len(cases)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": wall,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname()})
    testsuite.extend(cases)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
