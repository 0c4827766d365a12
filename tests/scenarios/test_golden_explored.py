"""Explored schedules against their golden trace hashes (tests/scenarios/golden_explored.toml).

One test per (start, release) of :data:`tests.scenarios.golden_explored.SAMPLE`; a
failure names every schedule whose hash moved. Skipped, with the reason, when the file
was made with another OpenSSL or Python (these runs carry TLS records or start TLS).
"""

from __future__ import annotations

import pytest

from scenarios.golden import running_openssl, running_python
from tests.scenarios import golden_explored as golden

FILE = golden.load()
MADE = FILE["made_with"]
assert isinstance(MADE, dict)


def test_the_file_holds_exactly_the_sample() -> None:
    assert set(FILE) - {"made_with"} == {golden.key(s, p) for s, p, _ in golden.SAMPLE}
    for start, profile, count in golden.SAMPLE:
        table = FILE[golden.key(start, profile)]
        assert isinstance(table, dict)
        assert sorted(int(i) for i in table) == list(range(count))


@pytest.mark.parametrize(("start", "profile", "count"), golden.SAMPLE)
def test_explored_schedules_keep_their_trace_hashes(start: str, profile: str,
                                                    count: int) -> None:
    if (MADE.get("openssl"), MADE.get("python")) != (running_openssl(), running_python()):
        pytest.skip(f"golden_explored.toml was made with {MADE.get('openssl')} and Python "
                    f"{MADE.get('python')}; this is {running_openssl()} and Python "
                    f"{running_python()}: TLS record lengths may differ")
    table = FILE[golden.key(start, profile)]
    assert isinstance(table, dict)
    moved = [f"schedule {index}: {table[str(index)][:16]} -> {digest[:16]}"
             for index, digest in golden.hashes_of(start, profile, count)
             if table[str(index)] != digest]
    assert moved == [], f"{start} on {profile}: trace hashes moved: " + "; ".join(moved)
