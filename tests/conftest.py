"""Test-suite settings: Hypothesis runs derandomized, so every run explores the same
examples and a CI failure reproduces locally with the same command; the ``lwip`` fixture
(lwIP built by ``make lwip``, or one skip line saying how to get it)."""

import pytest
from hypothesis import settings

from emulator.cfirmware.library import FirmwareUnavailable
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware

settings.register_profile("smtp-hil", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("smtp-hil")


@pytest.fixture(scope="session")
def lwip() -> FirmwareChoice:
    """lwIP 2.1.3 as a C firmware (built by ``make lwip``). Every lwIP test skips from
    this one place, so ``pytest -ra`` shows one line saying why and how to get it."""
    try:
        return resolve_firmware("lwip")
    except FirmwareUnavailable as exc:
        pytest.skip(f"lwIP tests: {exc}")
