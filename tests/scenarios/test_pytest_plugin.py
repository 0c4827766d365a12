"""The pytest plugin, seen from a team's test module run by an inner pytest (pytester)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# The inner runs are in-process and pytester drops the modules they import afterwards;
# imported here first, cryptography, scapy and the world are loaded once and kept.
import scenarios.artifacts
import scenarios.runner
import stack.pcap  # noqa: F401

pytest_plugins = ["pytester"]

#: Load our plugin by its entry-point name; leave out hypothesis's, which the inner runs
#: do not use and which would import (and assert-rewrite) all of hypothesis each time.
PLUGINS = ("-p", "smtp_hil", "-p", "no:hypothesispytest")

TEAM_TESTS = r'''
from scenarios.pytest_plugin import assert_passed
from scenarios.server.rules import ServerConfig
from smtp.message import MailJob


def test_blank_lines_survive(hil_run):
    assert_passed(hil_run("blank-line-truncation"))


def test_profile_and_seed_reach_the_runs(hil_run, hil_profile, hil_seed):
    result = hil_run("date-header")
    assert (result.profile, result.seed) == (hil_profile, hil_seed)


def test_own_scenario_text(hil_run):
    result = hil_run(scenario_text=SCENARIO)
    assert_passed(result)
    assert result.mailbox[0].sender == "meter3@example.com"


def test_board_and_server(hil_board, hil_server):
    server = hil_server(ServerConfig(hostname="mx.example.net"))
    hil_board.submit(MailJob(sender="meter3@example.com", to=("ops@example.net",),
                             subject="hello", body="one line\n"))
    done = hil_board.run_until_done()
    assert done is not None and type(done.event).__name__ == "Sent"
    assert len(server.mailbox) == 1
    assert any("S: 220 mx.example.net" in line for line in hil_board.transcript())


SCENARIO = """
[scenario]
name = "meter-report"
title = "A meter's report goes out"

[device.config.server]
security = "none"

[server]
starttls = false

[job]
from = "meter3@example.com"
to = ["ops@example.net"]
subject = "Reading"
body = "Reading: 1234 kWh\\n"

[expect]
event = "sent"
mailbox_count = 1
"""
'''


def test_registered_through_the_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("smtp_hil") == "scenarios.pytest_plugin"


def test_a_team_module_passes_on_current(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_team=TEAM_TESTS)
    result = pytester.runpytest(*PLUGINS)
    result.assert_outcomes(passed=4)
    assert "smtp-hil artifacts" not in result.stdout.str()


def test_a_failing_run_shows_reason_transcript_and_artifacts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_team=TEAM_TESTS)
    result = pytester.runpytest(*PLUGINS, "--hil-profile", "2.4", "--hil-seed", "3",
                                "-k", "blank_lines or profile_and_seed")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "scenario blank-line-truncation failed on 2.4 (seed 3)" in out
    assert "the body was cut at the first blank line" in out
    assert "last 15 transcript lines:" in out
    result.stdout.fnmatch_lines(["*S: 250 2.0.0 OK*", "*C: QUIT*"])
    paths = re.findall(r"^E?\s*artifacts: (\S+)$", out, re.MULTILINE)
    assert paths, out
    folder = Path(paths[0])
    assert folder.name == "blank-line-truncation--2.4--seed3"
    assert folder.is_relative_to(pytester.path.parent.parent)
    for name in ("transcript.txt", "trace.jsonl", "capture.pcap", "result.json"):
        assert (folder / name).is_file()
    assert "C: QUIT" in (folder / "transcript.txt").read_text()
    result.stdout.fnmatch_lines(["*smtp-hil artifacts of failing tests*",
                                 f"test_team.py::test_blank_lines_survive: {folder}"])


def test_plain_asserts_get_the_verdict_in_a_report_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="""
        def test_plain(hil_run):
            first = hil_run("blank-line-truncation", profile="2.0")
            again = hil_run("blank-line-truncation", profile="2.0")
            assert first.trace_sha256 != again.trace_sha256
    """)
    result = pytester.runpytest(*PLUGINS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- smtp-hil artifacts -*",
        "FAIL blank-line-truncation [[]2.0 seed 0]: *blank-line-truncation--2.0--seed0",
        "FAIL blank-line-truncation [[]2.0 seed 0]: *run2/blank-line-truncation--2.0--seed0",
        "scenario blank-line-truncation failed on 2.0 (seed 0):",
        "*the body was cut at the first blank line*",
    ])
    paths = re.findall(r"^FAIL .*: (\S+)$", result.stdout.str(), re.MULTILINE)
    assert len(paths) == 2 and all((Path(p) / "result.json").is_file() for p in paths)


def test_an_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(*PLUGINS, "--hil-profile", "9.9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hil-profile: unknown profile '9.9' (known: 1.0, *, current)"])


def test_hil_run_refuses_both_a_name_and_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_both="""
        import pytest

        def test_both(hil_run):
            with pytest.raises(ValueError, match="not both and not neither"):
                hil_run("blank-line-truncation", scenario_text="x")
            with pytest.raises(ValueError, match="not both and not neither"):
                hil_run()
    """)
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1)


REFUSED_AUTH = r'''
from pathlib import Path

from scenarios.pytest_plugin import assert_passed

TEXT = (Path(r"{catalog}") / "auth-plain.toml").read_text().replace(
    'credentials = {{ pump7 = "s3cret-pump7" }}', 'credentials = {{ pump7 = "other" }}')


def test_refused(hil_run):
    assert_passed(hil_run(scenario_text=TEXT))
'''
PLAIN_BLOB = "AHB1bXA3AHMzY3JldC1wdW1wNw=="  # base64 of NUL pump7 NUL s3cret-pump7


@pytest.mark.parametrize("show", [False, True])
def test_credentials_are_hidden_in_failure_texts_and_artifacts_unless_asked(
        pytester: pytest.Pytester, show: bool) -> None:
    catalog = Path(scenarios.artifacts.__file__).parent / "catalog"
    pytester.makepyfile(test_auth=REFUSED_AUTH.format(catalog=catalog))
    result = pytester.runpytest(*PLUGINS, *(["--hil-show-secrets"] if show else []))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    folder = Path(re.findall(r"^E?\s*artifacts: (\S+)$", out, re.MULTILINE)[0])
    written = out + "".join(p.read_bytes().decode("latin-1") for p in folder.iterdir())
    if show:
        assert f"C: AUTH PLAIN {PLAIN_BLOB}" in out
        assert PLAIN_BLOB in (folder / "capture.pcap").read_bytes().decode("latin-1")
    else:
        assert "C: AUTH PLAIN <credentials hidden, 28 bytes>" in out
        assert PLAIN_BLOB not in written and "s3cret-pump7" not in written
        assert PLAIN_BLOB.encode().hex() not in written


# ---- releases for the whole session, one test per release, expected failures ----------

ON_EVERY_RELEASE = '''
import pytest

from scenarios.pytest_plugin import assert_passed


@pytest.mark.hil_reproduces("blank-line-truncation")
def test_blank_lines_survive(hil_run):
    assert_passed(hil_run("blank-line-truncation"))


def test_which_release(hil_profile):
    assert hil_profile
'''


def test_hil_profile_all_runs_each_test_on_every_release(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_releases=ON_EVERY_RELEASE)
    result = pytester.runpytest(*PLUGINS, "--hil-profile", "all", "-v", "-rx")
    # blank-line-truncation reproduces on 1.0 ... 2.4 (the catalog): expected failures
    result.assert_outcomes(passed=2 + 8, xfailed=6)
    result.stdout.fnmatch_lines([
        "*test_blank_lines_survive?1.0? XFAIL*",
        "*test_which_release?2.0? PASSED*",
        "*test_blank_lines_survive?2.4? XFAIL*",
        "*test_blank_lines_survive?2.5? PASSED*",
        "*test_blank_lines_survive?current? PASSED*",
        "XFAIL *test_blank_lines_survive?2.4?* - reproduces on 2.4: Truncated messages that "
        "contained blank line*",
    ])


def test_a_list_of_releases_and_the_ini_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_releases=ON_EVERY_RELEASE)
    result = pytester.runpytest(*PLUGINS, "--hil-profile", "2.4, current", "-v")
    result.assert_outcomes(passed=3, xfailed=1)
    pytester.makeini("[pytest]\nhil_profile = 2.4\nhil_seed = 5\n")
    pytester.makepyfile(test_ini="""
        def test_ini(hil_run, hil_profile, hil_seed):
            result = hil_run("date-header")
            assert (hil_profile, hil_seed, result.profile, result.seed) == ("2.4", 5, "2.4", 5)
    """)
    result = pytester.runpytest(*PLUGINS, "test_ini.py")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest(*PLUGINS, "test_releases.py", "-v")
    result.assert_outcomes(passed=1, xfailed=1)  # the ini's 2.4: an expected failure
    result = pytester.runpytest(*PLUGINS, "test_releases.py", "--hil-profile", "current")
    result.assert_outcomes(passed=2)  # the option wins over the ini setting


def test_an_expected_failure_that_passes_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wrong="""
        import pytest

        @pytest.mark.hil_reproduces("blank-line-truncation")
        def test_claims_a_bug_it_never_shows(hil_profile):
            pass
    """)
    result = pytester.runpytest(*PLUGINS, "--hil-profile", "2.4")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*reproduces on 2.4*"])


@pytest.mark.parametrize(("test", "message"), [
    ('@pytest.mark.hil_reproduces("no-such-scenario")\ndef test_x(hil_profile): pass',
     "*test_x: hil_reproduces: *no-such-scenario*"),
    ('@pytest.mark.hil_reproduces()\ndef test_x(hil_profile): pass',
     "*test_x: hil_reproduces names no scenario"),
    ('@pytest.mark.hil_reproduces("starttls")\ndef test_x(): pass',
     "*test_x: hil_reproduces needs the test to use hil_profile*"),
])
def test_a_marker_that_cannot_be_honoured_is_a_usage_error(
        pytester: pytest.Pytester, test: str, message: str) -> None:
    pytester.makepyfile(test_marker="import pytest\n\n" + test + "\n")
    result = pytester.runpytest(*PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_artifacts_summary_survives_xdist(pytester: pytest.Pytester) -> None:
    """``pytest -n 2``: the tests run in worker processes, the summary is printed by the
    controller from the reports the workers send back."""
    pytester.makepyfile(test_team=TEAM_TESTS)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-n", "2",
                                           "--hil-profile", "2.2,2.3,2.4", "-k",
                                           "blank_lines or profile_and_seed",
                                           "--junitxml", str(junit))
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    assert "2 workers" in out, out  # it did run under xdist
    summary = out[out.index("smtp-hil artifacts of failing tests"):]
    listed = re.findall(r"^(test_team\.py::\S+): (\S+)$", summary, re.MULTILINE)
    assert sorted(node for node, _ in listed) == [
        f"test_team.py::test_blank_lines_survive[{release}]"
        for release in ("2.2", "2.3", "2.4")]
    assert all((Path(path) / "result.json").is_file() for _, path in listed)
    assert 'name="smtp-hil artifacts"' in junit.read_text()
