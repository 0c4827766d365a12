"""The explorer rediscovers the changelog (the small version; `make explore` runs the full
one): from a happy path that encodes no bug, one field bug per release within a small
budget, shrunk to a file whose release bisect names the fix, and nothing on `current`
with the same budget.

Each case narrows the space (--vary) and the invariants to the bug's, and stops at the
first failure. The budgets are about 1.5 times the latest first hit over campaign seeds
0-9 (measured with space v1: 2.5 hang 1-41, 2.4 body 0-9, 2.0 close 2-50, 2.0 hang 2-43,
1.0 watchdog 0-13, 2.2 date 0-1); with seed 0 the schedule of each hit is exact, so a
change of the space that moves them shows here (bump GENERATOR_VERSION and re-measure).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.explore import explore

CASES = [
    # release, start, vary, invariant, budget, first hit (seed 0), reason, fails on, fix
    ("2.5", "starttls", "server", "terminal.exactly_one", 60, 10, "hang",
     ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5"), "current"),  # no timeout while TLS is active
    ("2.4", "pipelining", "job", "mail.sent_means_one_exact_copy", 15, 0, "body cut",
     ("1.0", "2.0", "2.1", "2.2", "2.3", "2.4"), "2.5"),  # blank-line truncation
    ("2.0", "starttls", "server", "terminal.prompt_on_close", 75, 3, "slow on close",
     ("2.0",), "2.1"),  # the unchecked TLS connection state
    ("2.0", "chunking", "server", "terminal.exactly_one", 65, 16, "hang",
     ("2.0",), "2.1"),  # the silent pipelined MAIL failure
    ("1.0", "attachments", "device", "device.no_watchdog_reset", 20, 3, "watchdog reset",
     ("1.0", "2.0"), "2.1"),  # the buffer busy-wait
    ("2.2", "date-header", None, "mail.date_is_rtc", 5, 0, "date",
     ("1.0", "2.0", "2.1", "2.2", "2.3"), "2.4"),  # month/day (1.0: its fixed 2007 Date)
]


@pytest.mark.parametrize(("release", "start", "vary", "invariant", "budget", "hit", "reason",
                          "fails_on", "fix"), CASES, ids=[f"{c[0]}-{c[6]}" for c in CASES])
def test_one_bug_per_release_and_nothing_on_current(
        tmp_path: Path, release: str, start: str, vary: str | None, invariant: str,
        budget: int, hit: int, reason: str, fails_on: tuple[str, ...], fix: str) -> None:
    kwargs = {"budget": budget, "seed": 0, "vary": [vary] if vary else None,
              "invariants": [invariant], "jobs": 1, "stop_at_first": True}
    found = explore([start], [release], out=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert [(f.signature.reason, f.index) for f in found.failures] == [(reason, hit)], \
        found.summary()
    failure = found.failures[0]
    assert failure.fails_on == fails_on and failure.fix_release == fix
    assert failure.current_keeps and failure.deterministic is True
    assert len(failure.shrunk) <= 2 and failure.file is not None
    assert Path(failure.file).is_file()
    clean = explore([start], ["current"], out=tmp_path / "current", **kwargs)  # type: ignore[arg-type]
    assert clean.passed and clean.schedules_run == budget, clean.summary()
