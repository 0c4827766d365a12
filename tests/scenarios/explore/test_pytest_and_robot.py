"""A bounded exploration from a team's tests: the pytest fixture ``hil_explore`` with
``assert_nothing_found`` (seen from an inner pytest), and the Robot keyword ``Explore
Scenario`` called as a plain method (the Robot suite robot/explore.robot runs it under
Robot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.explore.testing import ExplorationFailed
from scenarios.robotlib import SmtpHilLibrary

pytest_plugins = ["pytester"]
PLUGINS = ("-p", "smtp_hil", "-p", "no:hypothesispytest")

TEAM_TESTS = '''
from scenarios.pytest_plugin import assert_nothing_found


def test_our_pipelined_reports_survive_a_hostile_server(hil_explore):
    report = hil_explore("pipelining", budget=12, vary=["job"],
                         invariants=["mail.sent_means_one_exact_copy"])
    assert report.schedules_run == 12
    assert_nothing_found(report)
'''


def test_the_fixture_passes_on_current_and_names_the_file_on_2_4(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_explore=TEAM_TESTS)
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1)
    failing = pytester.runpytest(*PLUGINS, "--hil-profile", "2.4")
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines([
        "*ExplorationFailed: explore found 1 failure:",
        "*FAIL body cut on 2.4 from pipelining (schedule 0,*",
        "*--- */smtp-hil-explore/run1/explore-pipelining-body_cut-2_4.toml",
        "*# Found by: smtp-hil explore pipelining --profile 2.4 *"])


def test_explore_scenario_fails_with_the_shrunk_file_path(tmp_path: Path) -> None:
    library = SmtpHilLibrary(output_dir=str(tmp_path))
    report = library.explore_scenario("pipelining", budget=8, vary="job")
    assert report.passed and report.schedules_run == 8
    with pytest.raises(ExplorationFailed) as failed:
        library.explore_scenario("pipelining", profile="2.4", budget=10, vary="job",
                                 stop_at_first=True)
    message = str(failed.value)
    assert message.startswith("explore found 1 failure:\nFAIL body cut on 2.4 from pipelining")
    written = tmp_path / "explore" / "explore" / "run1" / "explore-pipelining-body_cut-2_4.toml"
    assert f"-> {written} " in message and written.is_file()
    # the suite run again in the same output folder: a fresh run folder, the same name
    again = SmtpHilLibrary(output_dir=str(tmp_path))
    with pytest.raises(ExplorationFailed) as failed:
        again.explore_scenario("pipelining", profile="2.4", budget=10, vary="job",
                               stop_at_first=True)
    rewritten = written.parent.parent / "run2" / written.name
    assert f"-> {rewritten} " in str(failed.value) and rewritten.is_file()
