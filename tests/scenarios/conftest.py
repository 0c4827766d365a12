"""Fixtures shared by the scenario tests: one run of the whole matrix per test session.

The catalog matrix (every catalog scenario on every release, seed 0) takes several
seconds; the tests that need it (the catalog's pass/fail table in ``test_catalog.py``,
the golden trace hashes in ``test_golden_hashes.py``, the report and JUnit tests) share
this one run. The results are kept whole, worlds and traces included, because the
report's tests read the trace records: about 80 MB for the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emulator.cfirmware.library import FirmwareUnavailable
from scenarios.catalog import load_catalog
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware
from scenarios.golden import Entry, entry_of
from scenarios.runner import RunResult, run
from smtp.profiles import PROFILE_NAMES

MATRIX_SEED = 0


@dataclass(frozen=True)
class MatrixRun:
    """What the tests read of one run of the matrix."""

    passed: bool
    reason: str
    entry: Entry


@pytest.fixture(scope="session")
def matrix_results() -> list[RunResult]:
    """Every catalog scenario on every release with seed 0, in the order ``smtp-hil
    matrix`` runs them (scenario by scenario, releases in order)."""
    return [run(scenario, profile, seed=MATRIX_SEED)
            for scenario in load_catalog() for profile in PROFILE_NAMES]


@pytest.fixture(scope="session")
def catalog_matrix(matrix_results: list[RunResult]) -> dict[tuple[str, str], MatrixRun]:
    """(scenario name, profile) -> the run of that scenario on that release, seed 0."""
    return {(r.scenario.name, r.profile): MatrixRun(r.passed, r.verdict.reason, entry_of(r))
            for r in matrix_results}


@pytest.fixture
def lwip() -> FirmwareChoice:
    """lwIP's firmware; the test skips with the one line saying why (and how to get it)
    when it is not built (``make lwip``)."""
    try:
        return resolve_firmware("lwip")
    except FirmwareUnavailable as exc:
        pytest.skip(f"lwIP tests: {exc}")
