"""The catalog's power to detect each bug: current passes all, each release fails exactly
the scenarios that name it. This is the matrix, as a test, so CI guards it (the runs
come from the session's one run of the matrix, ``catalog_matrix`` in conftest.py)."""

import copy

import pytest

from scenarios.catalog import catalog_names, load_catalog
from scenarios.format import Scenario
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES
from tests.scenarios.conftest import MatrixRun

REQUIRED = [
    "blank-line-truncation", "date-month-day", "ehlo-domain-name",
    "buffer-exhaustion-during-content", "buffer-exhaustion-during-bdat",
    "pipeline-mail-rejected", "tls-drop-mid-transaction",
    "outlook-ecdhe-only", "silent-server-under-tls", "outlook-antispam-reject",
    "outlook-pop-disabled-auth", "active24-date-required", "starttls", "implicit-tls",
    "auth-plain", "auth-login", "auth-cram-md5", "auth-anonymous", "vrfy", "etrn",
    "cc-bcc-reply-to", "attachments", "dsn", "chunking", "pipelining", "size-limit",
    "date-header", "pipeline-coalesced-replies", "replies-byte-by-byte", "rcpt-partial-reject",
    "server-421-shutdown", "connection-refused", "rst-during-data", "greeting-timeout",
    "textless-reply", "lossy-link", "starttls-stripped", "starttls-response-injection",
    "smuggling-end-of-data",
]

SCENARIOS = {s.name: s for s in load_catalog()}


def test_every_required_scenario_is_in_the_catalog() -> None:
    missing = sorted(set(REQUIRED) - set(catalog_names()))
    assert not missing, f"catalog lacks: {missing}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_current_passes_and_each_release_fails_exactly_its_bugs(
        name: str, catalog_matrix: dict[tuple[str, str], MatrixRun]) -> None:
    scenario = SCENARIOS[name]
    surprises = []
    for profile in PROFILE_NAMES:
        result = catalog_matrix[(name, profile)]  # run(scenario, profile, seed=0), once
        expected_fail = profile != "current" and scenario.reproduced_by(profile)
        if result.passed == expected_fail:
            what = "passes although listed in reproduces" if result.passed else "fails"
            surprises.append(f"{profile} {what}: {result.reason}")
    assert not surprises, "\n".join(surprises)


def _logging_in_anonymously(scenario: Scenario) -> Scenario:
    """``scenario`` with a device that ignores its credentials and logs in ANONYMOUS."""
    config = copy.deepcopy(scenario.device.config)
    config["auth"]["mechanism"] = "ANONYMOUS"
    device = scenario.device.model_copy(update={"config": config})
    return scenario.model_copy(update={"device": device})


WITH_CREDENTIALS = sorted(name for name, s in SCENARIOS.items()
                          if s.device.config.get("auth", {}).get("username")
                          and s.expect.event == "sent")


def test_scenarios_with_credentials_are_found() -> None:
    assert "starttls" in WITH_CREDENTIALS and "auth-plain" in WITH_CREDENTIALS


@pytest.mark.parametrize("name", WITH_CREDENTIALS)
def test_a_client_that_ignores_its_credentials_fails(name: str) -> None:
    # A device given a user name and password must log in with them: AUTH ANONYMOUS,
    # which the default server accepts, is not a login. (Where the server offers only
    # one mechanism, the client falls back to it and does log in with its credentials.)
    scenario = SCENARIOS[name]
    assert run(scenario, "current").passed
    anonymous = run(_logging_in_anonymously(scenario), "current")
    users = [c.engine.observations.authenticated_user for c in anonymous.connections]
    if "anonymous" in users:
        assert not anonymous.passed, f"{name} passes a client that logs in ANONYMOUS"
        assert "expected a login as pump7 with the configured credentials, the server " \
               "saw a login as anonymous (ANONYMOUS)" in anonymous.verdict.reason
    else:
        assert users == ["pump7"], users


def test_starttls_is_one_scenario_where_the_server_takes_anonymous() -> None:
    anonymous = run(_logging_in_anonymously(SCENARIOS["starttls"]), "current")
    assert [c.engine.observations.authenticated_user for c in anonymous.connections] == [
        "anonymous"]


def test_every_historical_release_reproduces_at_least_one_bug() -> None:
    for profile in PROFILE_NAMES[:-1]:
        assert any(s.reproduced_by(profile) for s in SCENARIOS.values()), profile


def test_byte_by_byte_server_splits_its_tls_handshake_too() -> None:
    result = run(SCENARIOS["replies-byte-by-byte"], "current", seed=0)
    trace = result.world.kernel.trace
    (established,) = [r for r in trace.select(kind="tls_established")
                      if r.source.startswith("server.")]
    handshake = [r for r in trace.select(source="link", kind="tx")
                 if str(r.fields["src"]).startswith("198.51.100.25")
                 and r.t_us <= established.t_us]
    sizes = {len(r.fields["payload"]) for r in handshake}  # type: ignore[arg-type]
    assert sizes == {0, 1}  # pure ACKs, and every byte of greeting, EHLO, 220 and flight
    assert len(handshake) > 1000
    assert result.passed
