"""Each historical deviation of smtp/profiles.py, shown on the simulated board.

For every profile flag: the newest release that has it fails the scenario that shows
it, for that reason, and `current` passes it. The catalog test checks the whole matrix;
this file ties each flag to its changelog line and its observable symptom.
"""

from dataclasses import fields

import pytest

from scenarios.catalog import load_named
from scenarios.format import parse_scenario
from scenarios.runner import run
from smtp.events import is_terminal
from smtp.profiles import PROFILE_NAMES, PROFILES, Profile

# flag -> (scenario, words the failing verdict must contain)
SHOWN_BY: dict[str, tuple[str, str]] = {
    "truncates_body_at_blank_line": ("blank-line-truncation", "cut at the first blank line"),
    "misconverts_date_month_day": ("date-month-day", "Date header says"),
    "ehlo_uses_bare_ip": ("ehlo-domain-name", ""),
    "busy_waits_for_tx_buffers": ("buffer-exhaustion-during-content", "watchdog"),
    "pipelined_mail_failure_is_silent": ("pipeline-mail-rejected", "the job hangs"),
    "ignores_tls_connection_state": ("tls-drop-mid-transaction", "the job hangs"),
    "weak_tls_ciphers_only": ("outlook-ecdhe-only", "tls_failed"),
    "no_timeout_while_tls_active": ("silent-server-under-tls", "the job hangs"),
    "downgrades_tls_silently": ("starttls-stripped-opportunistic",
                                "expected event(s) tls_downgraded"),
    "has_2_0_features": ("starttls", ""),
    "skips_config_version_check": ("config-version-check", "expected error, got sent"),
    "ignores_template_hostname": ("message-id-hostname", "@localhost"),
}
NOT_A_SCENARIO = {"has_xoauth2", "waits_for_data_reply_before_quit"}


def _newest_with(flag: str) -> str:
    current = getattr(PROFILES["current"], flag)
    return [p for p in PROFILE_NAMES if getattr(PROFILES[p], flag) != current][-1]


def test_every_flag_is_shown_somewhere() -> None:
    flags = {f.name for f in fields(Profile)} - {"name", "ip_stack"}
    assert flags == set(SHOWN_BY) | NOT_A_SCENARIO


@pytest.mark.parametrize("flag", sorted(SHOWN_BY))
def test_the_release_with_the_flag_fails_and_current_passes(flag: str) -> None:
    name, words = SHOWN_BY[flag]
    scenario = load_named(name)
    for profile in PROFILE_NAMES[:-1]:
        if getattr(PROFILES[profile], flag) != getattr(PROFILES["current"], flag):
            assert scenario.reproduced_by(profile), f"{name} must list {profile} for {flag}"
    old = run(scenario, _newest_with(flag))
    assert not old.passed
    assert words in old.verdict.reason
    assert run(scenario, "current").passed


def test_pipelined_mail_failure_on_2_0_ends_with_no_event_at_all() -> None:
    result = run(load_named("pipeline-mail-rejected"), "2.0")
    assert not [e for e in result.events if is_terminal(e.event)]


def test_busy_wait_release_is_reset_by_the_watchdog() -> None:
    result = run(load_named("buffer-exhaustion-during-content"), "2.0")
    assert result.watchdog_resets >= 1
    records = result.world.kernel.trace.select(source="board", kind="watchdog_reset")
    assert records[0].fields["waiting_for"] == "a free TX buffer"


def test_release_2_0_busy_waits_while_bdat_chunks_go_out_too() -> None:
    # 2.1: "Added handling of incoming messages during sending of MAIL content." With
    # CHUNKING (2.0's default, and the default server's) the content goes out in BDAT
    # chunks; 2.0 spins for a TX buffer there as it does after DATA.
    scenario = load_named("buffer-exhaustion-during-bdat")
    result = run(scenario, "2.0")
    assert result.watchdog_resets >= 1 and not result.mailbox
    records = result.world.kernel.trace.select(source="board", kind="watchdog_reset")
    assert records[0].fields["waiting_for"] == "a free TX buffer"
    sent = [r for r in result.world.kernel.trace.select(source="board", kind="send")
            if r.fields["label"] in ("MAIL group", "BDAT")]
    assert sent, "2.0 was sending a BDAT chunk when it spun"
    fixed = run(scenario, "2.1")
    assert fixed.passed, fixed.verdict.reason
    assert fixed.mailbox[0].via == "BDAT"


_MAIL = """
[scenario]
name = "x"
title = "t"
[device.config]
config_version = {version}
[device.config.server]
security = "none"
[server]
starttls = false
[job]
from = "a@example.com"
to = ["b@example.net"]
body = "hello"
[expect]
event = "{event}"
"""


def test_config_version_check_came_with_2_5() -> None:
    wrong = parse_scenario(_MAIL.format(version=2, event="sent"), source="wrong.toml")
    assert run(wrong, "2.4").passed  # no check before 2.5: the old header is accepted
    refused = run(wrong, "current")
    assert not refused.passed
    assert "config_version: file has version 2, this client expects version 3" in \
        refused.verdict.reason


def test_message_id_uses_the_device_name_since_2_4() -> None:
    scenario = parse_scenario(_MAIL.format(version=3, event="sent"), source="mid.toml")
    old = run(scenario, "2.3").mailbox[0].header("Message-ID") or ""
    new = run(scenario, "current").mailbox[0].header("Message-ID") or ""
    assert old.endswith("@localhost>")
    assert new.endswith("@device.example.com>")
