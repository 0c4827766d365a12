"""The Robot library's firmware choice: `Run Scenario` with ``firmware=``, `Skip Unless
Firmware Is Available`, and robot/lwip_in_the_loop.robot.

The runs on lwIP skip, with one line saying why, when lwIP is not built (``make lwip``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import robot
from robot.api import SkipExecution

from emulator.cfirmware.library import LWIP_LIBRARY_ENV, FirmwareUnavailable
from scenarios.firmware_choice import resolve_firmware
from scenarios.robotlib import SmtpHilLibrary
from scenarios.robotlib.context import NotReady

ROOT = Path(__file__).resolve().parents[2]

needs_lwip = pytest.mark.usefixtures("lwip")  # skips, saying why, without lwIP


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[SmtpHilLibrary]:
    library = SmtpHilLibrary(output_dir=str(tmp_path))
    yield library
    library.close()


@needs_lwip
def test_run_scenario_on_lwip_gives_lwips_verdict_and_the_servers_view(
        lib: SmtpHilLibrary) -> None:
    assert lib.run_scenario("dot-line-in-body", firmware="lwip") == "fail"
    lib.scenario_should_fail(containing="the body was cut")
    with pytest.raises(AssertionError, match=r"Scenario dot-line-in-body on lwip \(seed 0\) "
                                             r"failed: "):
        lib.scenario_should_pass()
    assert "RSET" in lib.get_server_observation("commands")  # the body read as commands
    lib.mail_count_should_be(1)
    with pytest.raises(NotReady, match="ran on lwip: the board and artifact keywords read "
                                       "the Python model's world only"):
        lib.get_pool_statistics()
    # the same scenario on the model (its own firmware) passes: the model dot-stuffs
    assert lib.run_scenario("dot-line-in-body") == "pass"
    lib.scenario_should_pass()


@needs_lwip
def test_a_scenario_lwip_cannot_run_skips_with_the_reason(lib: SmtpHilLibrary) -> None:
    with pytest.raises(SkipExecution, match="starttls is not applicable on lwip: STARTTLS"):
        lib.run_scenario("starttls", firmware="lwip")
    lib.skip_unless_firmware_is_available("lwip")  # available: no skip


def test_an_unavailable_firmware_skips_with_the_one_line_reason(
        lib: SmtpHilLibrary, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LWIP_LIBRARY_ENV, str(tmp_path / "libnone.so"))
    with pytest.raises(SkipExecution, match=f"{LWIP_LIBRARY_ENV}=.*libnone.so: no such file"):
        lib.skip_unless_firmware_is_available("lwip")
    with pytest.raises(FirmwareUnavailable, match="no such file"):
        lib.run_scenario("auth-plain", firmware="lwip")  # asked for: the keyword fails


def test_a_bad_firmware_name_fails_the_keyword_naming_it(lib: SmtpHilLibrary) -> None:
    with pytest.raises(ValueError, match=r"expected 'model', 'lwip' or the path of a C "
                                         r"firmware library ending in \.so, got 'zephyr'"):
        lib.run_scenario("auth-plain", firmware="zephyr")


def test_the_lwip_suite_passes_or_skips_as_a_whole_without_lwip(tmp_path: Path) -> None:
    console = io.StringIO()
    rc = robot.run(str(ROOT / "robot" / "lwip_in_the_loop.robot"), outputdir=str(tmp_path),
                   stdout=console, stderr=console)
    text = console.getvalue()
    assert rc == 0, text[-3000:]
    try:
        resolve_firmware("lwip")
        available = True
    except FirmwareUnavailable:
        available = False
    if available:
        assert "3 tests, 2 passed, 0 failed, 1 skipped" in text, text
        assert "starttls is not applicable on lwip: STARTTLS" in text
    else:
        assert "3 tests, 0 passed, 0 failed, 3 skipped" in text, text
