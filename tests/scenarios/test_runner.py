"""The runner: one scenario, one profile, one seed -> a RunResult with its verdict.

Real runs of small scenarios: what a result carries, a hang ending at the time limit in
virtual time, RTC variants combined into one result, the configuration version refusal,
and finding a scenario by catalog name or by path.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulator.units import SECOND
from scenarios.format import Scenario, ScenarioError, parse_scenario
from scenarios.runner import RunResult, resolve_scenario, run, variants
from smtp.events import ClientError, ErrorKind, Sent, describe, is_terminal

SILENT_GREETING = """
[[server.rules]]
verb = "GREETING"
action = "silent"
"""


def _text(*, name: str = "probe", expect: str = 'event = "sent"', server: str = "",
          device: str = "", time_limit_s: int = 600) -> str:
    return f"""
[scenario]
name = "{name}"
title = "probe"
time_limit_s = {time_limit_s}

{device}

[device.config.server]
security = "none"

[server]
starttls = false
{server}

[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Hourly status"
body = "Pressure nominal.\\n"

[expect]
{expect}
"""


def _scenario(*, expect: str = 'event = "sent"', server: str = "", device: str = "",
              time_limit_s: int = 600) -> Scenario:
    text = _text(expect=expect, server=server, device=device, time_limit_s=time_limit_s)
    return parse_scenario(text, source="probe.toml")


def _terminal_names(result: RunResult) -> list[str]:
    return [e.event.name for e in result.events if is_terminal(e.event)]


# ---- one run ---------------------------------------------------------------------------


def test_run_returns_the_terminal_event_the_events_the_mailbox_and_the_trace_hash() -> None:
    scenario = _scenario(expect='event = "sent"\nmailbox_count = 1\npool_returns_to_full = true')
    result = run(scenario, "current", seed=7)

    assert (result.scenario, result.profile, result.seed) == (scenario, "current", 7)
    assert result.terminal is not None
    assert isinstance(result.terminal.event, Sent)
    assert result.terminal.event.accepted == ("ops@example.net",)
    assert [e.event.name for e in result.events] == ["connected", "sent"]
    assert result.events[-1] == result.terminal
    assert 0 < result.terminal.t_us <= result.virtual_us
    assert [m.recipient_addresses for m in result.mailbox] == [["ops@example.net"]]
    assert b"Pressure nominal.\r\n" in result.mailbox[0].content
    assert len(result.trace_sha256) == 64
    assert result.trace_sha256 == result.world.kernel.trace.sha256()
    assert result.pool_in_use_at_end == 0 and result.pool is result.world.board.pool.stats
    assert result.watchdog_resets == 0
    assert result.passed and result.verdict.reasons == []
    assert [c.closed for c in result.connections] == [True]


def test_the_same_scenario_profile_and_seed_give_the_same_trace_hash() -> None:
    scenario = _scenario()
    first, second = run(scenario, "2.4", seed=3), run(scenario, "2.4", seed=3)
    assert first.trace_sha256 == second.trace_sha256
    assert first.virtual_us == second.virtual_us
    assert run(scenario, "2.4", seed=4).trace_sha256 != first.trace_sha256
    # 2.3 writes another Date header: other bytes on the wire, another hash.
    assert run(scenario, "2.3", seed=3).trace_sha256 != first.trace_sha256


def test_a_failing_client_gives_a_failed_verdict_not_an_exception() -> None:
    server = '[[server.rules]]\nverb = "RCPT"\nreply = "550 5.1.1 No such user"'
    result = run(_scenario(server=server))
    assert not result.passed
    assert result.mailbox == []
    assert result.terminal is not None
    assert describe(result.terminal.event) == "command_abort RCPT 550 5.1.1 No such user"
    assert result.verdict.reasons == [
        "expected sent, got command_abort RCPT 550 5.1.1 No such user"]


# ---- a hang ----------------------------------------------------------------------------


def test_a_hang_ends_at_the_time_limit_in_virtual_time_without_an_event() -> None:
    scenario = _scenario(server=SILENT_GREETING, time_limit_s=600,
                         device="[device.config.timeouts]\ngreeting = 3600")
    result = run(scenario)

    assert scenario.time_limit_us == 600 * SECOND
    assert result.virtual_us == scenario.time_limit_us
    assert result.terminal is None
    assert _terminal_names(result) == []
    assert result.mailbox == []
    assert result.verdict.reasons == ["no terminal event within 600 s: the job hangs"]


def test_a_shorter_time_limit_ends_the_same_hang_sooner() -> None:
    scenario = _scenario(server=SILENT_GREETING, time_limit_s=30,
                         device="[device.config.timeouts]\ngreeting = 3600")
    result = run(scenario)
    assert result.virtual_us == 30 * SECOND
    assert result.terminal is None


# ---- link faults -------------------------------------------------------------------------

OVERLAPPING_HOLDS = """
[[link.faults]]
fault = "hold"
src = "device"

[[link.faults]]
fault = "hold"
src = "server"
duration_s = 1
"""


def test_a_timed_hold_ends_only_itself_not_an_untimed_hold_on_the_other_side() -> None:
    result = run(_scenario(device=OVERLAPPING_HOLDS, expect='event = "error"'))
    assert result.mailbox == []
    link = result.world.link
    assert [h.src for h in link.holds] == [result.world.board.ip]  # the device's, still on
    faults = [dict(r.fields) for r in result.world.kernel.trace.select(link.source, "fault")]
    assert [(f["verb"], f["hold"]) for f in faults] == [("hold", 1), ("hold", 2),
                                                       ("release", 2)]


OVERLAPPING_PARTITIONS = """
[[link.faults]]
fault = "partition"

[[link.faults]]
fault = "partition"
at_s = 0.5
duration_s = 1
"""


def test_a_timed_repair_ends_only_its_own_partition_not_an_untimed_one() -> None:
    result = run(_scenario(device=OVERLAPPING_PARTITIONS, expect='event = "error"'))
    assert result.mailbox == []
    link = result.world.link
    assert [(p.number, p.src) for p in link.partitions] == [(1, None)]  # still cut off
    faults = [dict(r.fields) for r in result.world.kernel.trace.select(link.source, "fault")]
    assert [(f["verb"], f["partition"]) for f in faults] == [
        ("partition", 1), ("partition", 2), ("repair", 2)]
    after = [r for r in result.world.kernel.trace.select(link.source, "drop")
             if r.t_us > 1_500_000 and str(r.get("src")).startswith(f"{result.world.board.ip}:")]
    assert after and all(r.get("reason") == "partition" for r in after)


def test_a_hold_or_partition_from_a_side_to_itself_is_refused() -> None:
    for verb in ("hold", "partition"):
        with pytest.raises(ScenarioError, match=r"link\.faults\[0\]\.dst: the same side as "
                                                r"src \(server\)"):
            _scenario(device=f'[[link.faults]]\nfault = "{verb}"\nsrc = "server"\n'
                             f'dst = "server"\n')


# ---- RTC variants ----------------------------------------------------------------------

RTC_VARIANTS = "[device]\nrtc_variants = [2024-02-29T12:00:00Z, 2024-12-01T00:00:00Z]"
DATE_EXPECT = 'event = "sent"\ndate_matches_rtc = true'


def test_variants_runs_once_per_rtc_setting_with_the_server_clock_alongside() -> None:
    scenario = _scenario(device=RTC_VARIANTS, expect=DATE_EXPECT)
    out = variants(scenario)
    assert [v.device.rtc for v in out] == [datetime(2024, 2, 29, 12, tzinfo=UTC),
                                           datetime(2024, 12, 1, tzinfo=UTC)]
    assert all(v.device.rtc_variants == [] for v in out)
    assert all(v.server.clock == v.device.rtc for v in out)
    assert all(v.source == "probe.toml" for v in out)
    plain = _scenario()
    assert variants(plain) == [plain]


def test_rtc_variants_combine_reasons_prefixed_with_the_rtc_setting() -> None:
    scenario = _scenario(device=RTC_VARIANTS, expect=DATE_EXPECT)
    result = run(scenario, "2.3")

    assert not result.passed
    assert result.verdict.reasons == [
        "RTC 2024-02-29 12:00:00: Date header says 28 Mar 2024 12:00:00, "
        "the device RTC read 29 Feb 2024 12:00:00 when the message was built",
        "RTC 2024-12-01 00:00:00: Date header 'Sun, 00 Jan 2024 00:00:00 +0000' does not "
        "parse; the device RTC read 01 Dec 2024 00:00:00 when the message was built",
    ]
    # The result shown is the first failing variant's, under the original scenario.
    assert result.world.scenario.device.rtc is not None
    assert result.world.scenario.device.rtc.day == 29
    assert result.scenario is scenario


def test_rtc_variants_hash_covers_every_variant() -> None:
    scenario = _scenario(device=RTC_VARIANTS, expect=DATE_EXPECT)
    combined = run(scenario, "current")
    singles = [run(v, "current").trace_sha256 for v in variants(scenario)]

    assert combined.passed
    assert combined.trace_sha256 not in singles
    assert combined.trace_sha256 == hashlib.sha256("".join(singles).encode()).hexdigest()
    # All pass: the result shown is the last variant's.
    assert combined.world.scenario.device.rtc == variants(scenario)[-1].device.rtc


def test_a_single_rtc_variant_hash_differs_from_the_combined_one() -> None:
    one = _scenario(device="[device]\nrtc = 2024-02-29T12:00:00Z", expect=DATE_EXPECT)
    both = _scenario(device=RTC_VARIANTS, expect=DATE_EXPECT)
    assert run(one).trace_sha256 != run(both).trace_sha256
    assert run(one).trace_sha256 == run(variants(both)[0]).trace_sha256


# ---- the configuration version ---------------------------------------------------------

OLD_CONFIG = "[device.config]\nconfig_version = 2"


def test_current_refuses_a_config_of_another_version_and_sends_nothing() -> None:
    result = run(_scenario(device=OLD_CONFIG, expect='event = "error"\n'
                                                     'error_kind = "invalid_input"'))
    assert result.terminal is not None
    event = result.terminal.event
    assert isinstance(event, ClientError)
    assert event.kind is ErrorKind.INVALID_INPUT
    assert event.detail == ("config_version: file has version 2, this client expects "
                            "version 3")
    assert result.terminal.t_us == 0 and result.virtual_us == 0
    assert result.mailbox == []
    assert result.passed


def test_releases_before_2_5_do_not_check_the_config_version() -> None:
    result = run(_scenario(device=OLD_CONFIG), "2.4")
    assert result.terminal is not None and isinstance(result.terminal.event, Sent)
    assert len(result.mailbox) == 1
    assert result.world.config_refused is None


# ---- resolve_scenario ------------------------------------------------------------------


def test_resolve_scenario_by_catalog_name() -> None:
    scenario = resolve_scenario("blank-line-truncation")
    assert scenario.name == "blank-line-truncation"
    assert scenario.source is not None
    assert scenario.source.endswith("blank-line-truncation.toml")


def test_resolve_scenario_by_path(tmp_path: Path) -> None:
    path = tmp_path / "my-probe.toml"
    path.write_text(_text(name="not-the-stem"), encoding="utf-8")
    scenario = resolve_scenario(str(path))
    assert scenario.name == "not-the-stem"  # a path is not held to the catalog's naming
    assert scenario.source == str(path)


def test_resolve_scenario_by_name_in_another_catalog(tmp_path: Path) -> None:
    (tmp_path / "probe.toml").write_text(_text(name="probe"), encoding="utf-8")
    assert resolve_scenario("probe", catalog=tmp_path).name == "probe"


def test_an_unknown_name_is_a_scenario_error_listing_the_known_ones() -> None:
    with pytest.raises(ScenarioError) as info:
        resolve_scenario("no-such-scenario")
    (line,) = info.value.problems
    assert line.startswith("no scenario named 'no-such-scenario' in the catalog (known: ")
    assert "blank-line-truncation" in line


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ScenarioError) as info:
        resolve_scenario(str(missing))
    assert info.value.problems == [f"no such scenario file: {missing}"]


def test_a_directory_named_like_a_catalog_scenario_does_not_shadow_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "blank-line-truncation").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("blank-line-truncation").name == "blank-line-truncation"


def test_a_lean_run_has_the_same_hash_and_verdict_and_keeps_only_what_the_verdict_reads(
        ) -> None:
    """run(keep_trace=False) keeps only the records the verdict reads (the server's
    last reply, message_composed), bulk bytes as digests; nothing a verdict decides on
    changes, across the whole catalog on the current release and on 2.4."""
    from scenarios.catalog import load_catalog
    from scenarios.reproducibility import why_not_reproducible
    from scenarios.verdict.client import reads_latest, reads_record

    for scenario in load_catalog():
        # A trace that differs from run to run (reproducibility.py) differs here too.
        same_trace = why_not_reproducible(scenario) is None
        for profile in ("current", "2.4"):
            full = run(scenario, profile)
            lean = run(scenario, profile, keep_trace=False)
            where = f"{scenario.name} on {profile}"
            assert lean.trace_sha256 == full.trace_sha256 or not same_trace, where
            assert lean.verdict == full.verdict, where
            if same_trace:
                replies = [r for r in full.trace if reads_latest(r)]
                assert [(r.t_us, r.kind) for r in lean.trace] == [
                    (r.t_us, r.kind) for r in full.trace
                    if reads_record(r) or (replies and r is replies[-1])], where
