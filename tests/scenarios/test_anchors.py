"""Faults anchored to protocol events (scenarios/format/anchors.py): the keys, their
problems, and a fault that lands at the same point of the protocol on two releases whose
timing differs, where an absolute time does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.catalog import catalog_path
from scenarios.format import ScenarioError, parse_scenario
from scenarios.runner import RunResult, run

STARTTLS = (catalog_path() / "starttls.toml").read_text(encoding="utf-8")


def with_faults(faults: str, base: str = STARTTLS) -> str:
    return base + "\n" + faults


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="x.toml")
    return caught.value.problems


def fault_times(result: RunResult, verb: str) -> list[int]:
    return [r.t_us for r in result.trace if r.kind == "fault" and r.get("verb") == verb]


def answer_times(result: RunResult, verb: str) -> list[int]:
    return [r.t_us for r in result.trace if r.kind == "answer" and r.get("verb") == verb]


def test_an_anchor_is_read_and_normalised() -> None:
    text = with_faults('[[link.faults]]\nfault = "inject_rst"\ntowards = "device"\n'
                       'after = "server:data"\nafter_nth = 1\nafter_s = 0.5\n')
    fault = parse_scenario(text, source="x.toml").link.faults[0]
    assert (fault.after, fault.after_nth, fault.after_s) == ("server:DATA", 1, 0.5)
    accept = parse_scenario(with_faults('[[link.faults]]\nfault = "partition"\n'
                                        'after = "server:accept"\n'), source="x.toml")
    assert accept.link.faults[0].after == "server:accept"


def test_anchor_problems_are_named() -> None:
    assert problems(with_faults('[[link.faults]]\nfault = "hold"\nafter = "device:MAIL"\n')) == [
        "x.toml: link.faults[0].after: expected server:EVENT (server:accept, server:tls or "
        "server:VERB such as server:MAIL, server:DATA_END), got 'device:MAIL'"]
    assert problems(with_faults('[[link.faults]]\nfault = "hold"\nafter = "server:MAIL"\n'
                                'at_s = 1\n')) == [
        "x.toml: link.faults[0].at_s: not with after: after_s is the time from the anchor"]
    assert problems(with_faults('[[link.faults]]\nfault = "set_loss"\nprobability = 0.5\n'
                                'after_s = 1\n')) == [
        "x.toml: link.faults[0].after_s: only with after (an anchor such as server:DATA)"]
    assert problems(with_faults('[[link.faults]]\nfault = "inject_rst"\n'
                                'towards = "device"\n')) == [
        "x.toml: link.faults[0].at_s: missing, expected a number"]


def test_an_anchored_reset_lands_at_the_same_protocol_point_on_two_releases() -> None:
    """2.0 negotiates RSA suites and `current` TLS 1.3: the server takes MAIL at another
    virtual time on each, and the anchored RST follows it by after_s on both. At 2.0's
    absolute time the same RST lands on `current` at another point of the dialogue:
    after the server took the whole content, not right after MAIL."""
    text = with_faults('[[link.faults]]\nfault = "inject_rst"\ntowards = "device"\n'
                       'after = "server:MAIL"\nafter_s = 0.0001\n')
    scenario = parse_scenario(text, source="x.toml")
    runs = {profile: run(scenario, profile) for profile in ("2.0", "current")}
    mail_at = {p: answer_times(r, "MAIL")[0] for p, r in runs.items()}
    assert mail_at["2.0"] != mail_at["current"]
    for profile, result in runs.items():
        assert fault_times(result, "inject_rst") == [mail_at[profile] + 100], profile
    absolute = parse_scenario(with_faults(
        '[[link.faults]]\nfault = "inject_rst"\ntowards = "device"\n'
        f'at_s = {(mail_at["2.0"] + 100) / 1e6}\n'), source="x.toml")
    on_current = run(absolute, "current")
    assert fault_times(on_current, "inject_rst") == [mail_at["2.0"] + 100]
    assert answer_times(on_current, "DATA_END")[0] + 100 < fault_times(on_current,
                                                                        "inject_rst")[0]


def test_counting_faults_count_from_the_anchor() -> None:
    """drop_nth's n-th segment is counted from the anchor: the first segment the server
    sends after it took MAIL is the one lost (its reply), and the device retransmits."""
    text = with_faults('[[link.faults]]\nfault = "drop_nth"\nn = 1\nsrc = "server"\n'
                       'payload_only = true\nafter = "server:MAIL"\n')
    result = run(parse_scenario(text, source="x.toml"))
    drops = [r for r in result.trace if r.kind == "drop"]
    mail_at = answer_times(result, "MAIL")[0]
    assert len(drops) == 1 and drops[0].t_us >= mail_at
    assert result.passed, result.verdict.reasons


def test_an_anchor_that_never_happens_never_fires(tmp_path: Path) -> None:
    text = with_faults('[[link.faults]]\nfault = "partition"\nafter = "server:VRFY"\n')
    result = run(parse_scenario(text, source="x.toml"))
    assert fault_times(result, "partition") == []
    assert result.passed, result.verdict.reasons


def test_the_readme_example_loads_and_anchors_both_faults() -> None:
    readme = (Path(__file__).parents[2] / "scenarios" / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Anchored faults"):]
    block = section[section.index("```toml\n") + 8:section.index("```\n", 8)]
    text = STARTTLS + '\n[device.config.features]\nchunking = false\n\n' + block
    scenario = parse_scenario(text, source="x.toml")
    assert [f.after for f in scenario.link.faults] == ["server:MAIL", "server:DATA"]
    result = run(scenario)
    assert [r.get("verb") for r in result.trace if r.kind == "fault"] == [
        "drop_after", "inject_rst"]
