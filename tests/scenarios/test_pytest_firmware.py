"""The pytest plugin's firmware choice: ``--hil-firmware``, the ``hil_firmware`` fixture
and ``hil_run(..., firmware=...)``, seen from a team's test module run by an inner pytest.

The runs on lwIP skip, with one line saying why, when lwIP is not built (``make lwip``).
"""

from __future__ import annotations

import pytest

# Imported here first so the inner runs (which pytester's module cleanup would otherwise
# re-import) reuse them; see test_pytest_plugin.py.
import scenarios.artifacts
import scenarios.runner  # noqa: F401
import stack.pcap  # noqa: F401

pytest_plugins = ["pytester"]

PLUGINS = ("-p", "smtp_hil", "-p", "no:hypothesispytest")

needs_lwip = pytest.mark.usefixtures("lwip")  # skips, saying why, without lwIP

TEAM_TESTS = r'''
from scenarios.pytest_plugin import assert_passed


def test_session_firmware(hil_run, hil_firmware):
    result = hil_run("auth-plain")
    assert result.firmware == (hil_firmware or "model")
    assert_passed(result)


def test_dot_line_on_lwip(hil_run):
    result = hil_run("dot-line-in-body", firmware="lwip")
    assert result.firmware == "lwip" and result.profile == "current"
    assert_passed(result)


def test_starttls(hil_run):
    assert_passed(hil_run("starttls"))
'''


def test_the_firmware_fixture_is_none_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="""
        def test_x(hil_firmware, hil_run):
            assert hil_firmware is None and hil_run.firmware is None
    """)
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1)


def test_an_unknown_firmware_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(*PLUGINS, "--hil-firmware", "zephyr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hil-firmware: expected 'model', 'lwip' or the path of "
                                 "a C firmware library ending in .so, got 'zephyr'"])


def test_a_missing_library_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhil_firmware = missing/libnothing.so\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(*PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hil_firmware (ini): firmware missing/libnothing.so: *"])


@needs_lwip
def test_lwip_for_the_session_runs_lwip_and_skips_what_it_cannot_run(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_team=TEAM_TESTS)
    result = pytester.runpytest(*PLUGINS, "--hil-firmware", "lwip", "-rs")
    # auth-plain passes on lwIP; dot-line-in-body is lwIP's dot-stuffing bug; STARTTLS
    # is not applicable (lwIP is built without TLS): a skip with the reason.
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*scenario dot-line-in-body failed on lwip (seed 0):*",
        "*the body was cut*",
        "SKIPPED * starttls: not applicable on lwip: STARTTLS*",
    ])


@needs_lwip
def test_a_call_chooses_its_firmware_and_model_wins_over_the_session(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_team=TEAM_TESTS + r'''

def test_model_forced(hil_run):
    assert hil_run("dot-line-in-body", firmware="model").firmware == "model"
''')
    result = pytester.runpytest(*PLUGINS, "-k", "dot_line or model_forced or session")
    # without --hil-firmware: the session test runs the model, the call asks for lwIP
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAIL dot-line-in-body [[]lwip seed 0]: *"])


@needs_lwip
def test_the_ini_setting_names_the_firmware(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhil_firmware = lwip\n")
    pytester.makepyfile(test_x="""
        def test_x(hil_run, hil_firmware):
            assert hil_firmware == "lwip"
            assert hil_run("auth-login").firmware == "lwip"
    """)
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1)
