"""Fixtures shared by the scenario tests: one run of the whole matrix per test session.

The catalog matrix (every catalog scenario on every release, seed 0) takes several
seconds; the tests that need it (the catalog's pass/fail table in ``test_catalog.py``,
the golden trace hashes in ``test_golden_hashes.py``) share this one run. Only a small
summary of each run is kept, not its world.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scenarios.catalog import load_catalog
from scenarios.golden import Entry, entry_of
from scenarios.runner import run
from smtp.profiles import PROFILE_NAMES

MATRIX_SEED = 0


@dataclass(frozen=True)
class MatrixRun:
    """What the tests read of one run of the matrix."""

    passed: bool
    reason: str
    entry: Entry


@pytest.fixture(scope="session")
def catalog_matrix() -> dict[tuple[str, str], MatrixRun]:
    """(scenario name, profile) -> the run of that scenario on that release, seed 0."""
    runs: dict[tuple[str, str], MatrixRun] = {}
    for scenario in load_catalog():
        for profile in PROFILE_NAMES:
            result = run(scenario, profile, seed=MATRIX_SEED)
            runs[(scenario.name, profile)] = MatrixRun(result.passed, result.verdict.reason,
                                                       entry_of(result))
    return runs
