"""Real SMTP client programs against catalog scenarios, through the shipped DUT files.

Each (client, scenario) pair has its expected outcome below: "pass", or
"fail: <checks>: <why>" where <checks> are exactly the checks that fail. A real client
failing a scenario is a finding about that client (the README's results table), not a
test to weaken. A client program that is not installed, or a scenario not in the
catalog, skips with the reason.
"""

from __future__ import annotations

import pytest

from scenarios.catalog import catalog_names
from scenarios.outside.dut import run_dut
from scenarios.outside.dutfile import DutFile, shipped_dut_files
from scenarios.runner import resolve_scenario
from scenarios.server.asyncdriver import Pacing

CLIENTS = ("curl", "msmtp", "swaks", "smtplib")
SCENARIOS = ("starttls", "auth-plain", "pipelining", "blank-line-truncation",
             "smuggling-end-of-data", "pipeline-mail-rejected", "outlook-ecdhe-only",
             "starttls-stripped")
TIME_CAP_S = 15.0  # each run takes well under a second; this only bounds a hang

_NO_PIPELINING = "{client} sends one command at a time: it never pipelines"
_SWAKS_TRAILER = ("body_exact,content_exact: swaks appends CRLF '.' to the data whatever "
                  "it ends with, so every message gains an empty last line")
_NOTHING_SENT = "event,mailbox_count,body_exact,content_exact,server.mail_count"

EXPECTED: dict[tuple[str, str], str] = {
    ("curl", "starttls"): "pass",
    ("curl", "auth-plain"): "pass",
    ("curl", "pipelining"): "fail: server.pipelined: " + _NO_PIPELINING.format(client="curl"),
    ("curl", "blank-line-truncation"): "pass",
    ("curl", "smuggling-end-of-data"): "fail: body_exact,server.no_bare_line_endings: curl "
        "sends the message file's bare LF and CR as they are (4 bare LF, 3 bare CR on the "
        "wire, end-of-data look-alikes a lenient receiver splits: CVE-2023-51764)",
    ("curl", "pipeline-mail-rejected"): "fail: server.pipelined: "
        + _NO_PIPELINING.format(client="curl") + " (it does exit 55 on the 550: the event "
        "is right)",
    ("curl", "outlook-ecdhe-only"): "pass",
    ("curl", "starttls-stripped"): "pass",
    ("msmtp", "starttls"): "pass",
    ("msmtp", "auth-plain"): f"fail: {_NOTHING_SENT},server.auth_mechanism,"
        "server.authenticated_as: msmtp will not "
        "send a password over a "
        "connection without TLS ('cannot use a secure authentication method'): no mail",
    ("msmtp", "pipelining"): "pass",
    ("msmtp", "blank-line-truncation"): "pass",
    ("msmtp", "smuggling-end-of-data"): "fail: body_exact,server.no_bare_line_endings: msmtp "
        "turns a bare LF into CRLF but passes a bare CR as it is (3 on the wire)",
    ("msmtp", "pipeline-mail-rejected"): "pass",
    ("msmtp", "outlook-ecdhe-only"): "pass",
    ("msmtp", "starttls-stripped"): "pass",
    ("swaks", "starttls"): f"fail: {_SWAKS_TRAILER}",
    ("swaks", "auth-plain"): f"fail: {_SWAKS_TRAILER}",
    ("swaks", "pipelining"): f"fail: {_SWAKS_TRAILER}",
    ("swaks", "blank-line-truncation"): f"fail: {_SWAKS_TRAILER}",
    ("swaks", "smuggling-end-of-data"): "fail: body_exact,server.no_bare_line_endings: swaks "
        "turns a bare LF into CRLF but passes a bare CR as it is (3 on the wire)",
    ("swaks", "pipeline-mail-rejected"): "pass",
    ("swaks", "outlook-ecdhe-only"): f"fail: {_SWAKS_TRAILER}",
    ("swaks", "starttls-stripped"): "pass",
    ("smtplib", "starttls"): "pass",
    ("smtplib", "auth-plain"): "pass",
    ("smtplib", "pipelining"): "fail: server.pipelined: "
        + _NO_PIPELINING.format(client="smtplib"),
    ("smtplib", "blank-line-truncation"): "pass",
    ("smtplib", "smuggling-end-of-data"): "fail: body_exact,server.no_bare_line_endings: "
        "smtplib sends the message file's bare LF and CR as they are (it stuffs a dot after "
        "a bare LF, but the bare line ends stay)",
    ("smtplib", "pipeline-mail-rejected"): "fail: server.pipelined: "
        + _NO_PIPELINING.format(client="smtplib") + " (SMTPSenderRefused, exit 1: the event "
        "is right)",
    ("smtplib", "outlook-ecdhe-only"): f"fail: {_NOTHING_SENT},server.tls_used,"
        "server.ehlo_after_starttls: ssl.create_default_context() leaves out the SHA-1 CBC "
        "suites, 0xc014 among them: no shared cipher with the Outlook-like server",
    ("smtplib", "starttls-stripped"): "pass",
}


def _failing_checks(expected: str) -> set[str]:
    return set(expected.split(": ", 2)[1].split(","))


def test_every_pair_has_an_expected_outcome() -> None:
    assert set(EXPECTED) == {(c, s) for c in CLIENTS for s in SCENARIOS}
    for outcome in EXPECTED.values():
        assert outcome == "pass" or (outcome.startswith("fail: ") and outcome.count(": ") >= 2)


@pytest.mark.parametrize("scenario_name", SCENARIOS)
@pytest.mark.parametrize("client", CLIENTS)
def test_client_against_scenario(client: str, scenario_name: str) -> None:
    dut = DutFile.load(shipped_dut_files()[client])
    if dut.installed() is None:
        pytest.skip(f"{dut.program_path} is not installed (apt-get install {client})")
    if scenario_name not in catalog_names():
        pytest.skip(f"scenario {scenario_name} is not in the catalog (yet)")
    run = run_dut(dut, resolve_scenario(scenario_name), time_cap_s=TIME_CAP_S,
                  pacing=Pacing(max_delay_s=0.05))
    expected = EXPECTED[(client, scenario_name)]
    failing = {c.name for c in run.verdict.checks if c.status == "fail"}
    context = (f"{client} on {scenario_name}: exit {run.exit_status}, reasons "
               f"{run.verdict.reasons}, stderr {run.stderr_tail()!r}")
    if expected == "pass":
        assert run.passed, context
    else:
        assert failing == _failing_checks(expected), context
