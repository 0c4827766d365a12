"""The firmware of the pytest plugin's runs: ``--hil-firmware``, the ``hil_firmware``
fixture and ``hil_run(..., firmware=...)``.

- ``--hil-firmware model|lwip|PATH.so`` (or the ini setting ``hil_firmware``): the
  firmware every ``hil_run`` of the session runs on, unless a call says otherwise
  (``hil_run("dot-line-in-body", firmware="lwip")``). Not given: each scenario's own
  (its ``[device] firmware``, by default the Python model). A firmware that cannot be
  had (lwIP not built, no such library) is a usage error naming it and why.
- A C firmware runs a scenario as ``current`` is expected to behave, whatever the
  release (as ``smtp-hil run --firmware`` does).
- A scenario the firmware cannot run (STARTTLS on lwIP, ...) skips the test with the
  reason (``not applicable on lwip: STARTTLS ...``): neither a pass nor a failure.
- ``hil_board`` and ``hil_server`` build the Python model's board only.

Pytest loads the plugin in every session, so the simulation is imported inside the
functions here, as in :mod:`scenarios.pytest_plugin`.

This module knows pytest, the firmware choice and the runner's entry point; nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from scenarios.format import Scenario
    from scenarios.runner import RunResult

OPTION = "--hil-firmware"
INI = "hil_firmware"


def add_firmware_option(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """``--hil-firmware`` in the plugin's option group, and its ini setting."""
    group.addoption(OPTION, default=None, metavar="model|lwip|PATH.so",
                    help="firmware every hil_run runs on: model, lwip or a C firmware "
                         "library (default: the hil_firmware ini setting, else each "
                         "scenario's own)")
    parser.addini(INI, default="", help="smtp-hil: the firmware of every hil_run "
                                        "(model, lwip or a C firmware library)")


def session_firmware(config: pytest.Config) -> str | None:
    """The firmware the session names (None: each scenario's own)."""
    option = config.getoption("hil_firmware")
    if option is not None:
        return str(option)
    return str(config.getini(INI)) or None


def check_firmware_option(config: pytest.Config) -> None:
    """A usage error when the session's firmware is no firmware or cannot be had."""
    # start-up: imported when used (see the module docstring)
    from emulator.cfirmware.library import FirmwareUnavailable
    from scenarios.firmware_choice import resolve_firmware

    setting = session_firmware(config)
    if setting is None:
        return
    where = OPTION if config.getoption("hil_firmware") is not None else f"{INI} (ini)"
    try:
        resolve_firmware(setting)
    except (ValueError, FirmwareUnavailable) as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


@pytest.fixture(scope="session")
def hil_firmware(request: pytest.FixtureRequest) -> str | None:
    """The firmware given with ``--hil-firmware`` or the ``hil_firmware`` ini setting
    (None: each scenario's own)."""
    return session_firmware(request.config)


def run_on_firmware(scenario: Scenario, profile: str, seed: int,
                    firmware: str | None) -> RunResult:
    """Run ``scenario`` on ``firmware`` (None: its own); skips the test when the firmware
    cannot run it (the skip names the test's line)."""
    __tracebackhide__ = True
    # start-up: imported when used (see the module docstring)
    from scenarios.applicability import NotApplicable
    from scenarios.firmware_choice import resolve_firmware
    from scenarios.runner import run

    choice = None if firmware is None else resolve_firmware(firmware)
    try:
        return run(scenario, profile, seed, choice)
    except NotApplicable as exc:
        pytest.skip(f"{exc.scenario}: not applicable on {exc.firmware}: {exc.reason}")
