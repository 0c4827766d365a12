"""Golden trace hashes of explored schedules: tests/scenarios/golden_explored.toml.

The catalog's golden hashes (golden_hashes.toml) cover the scenarios someone wrote; the
explorer's schedules reach corners they do not (lossy links under TLS, big contents in
small BDAT chunks), and a speed change once moved 20 of their hashes while every catalog
hash stayed. This module names the schedules kept (:data:`SAMPLE`: seed 0, the first
schedules of a few starts, on two releases), computes their hashes and writes the file:

    .venv/bin/python -m tests.scenarios.golden_explored     (also run by `make golden`)

It knows the explorer's schedule addresses, the runner and the golden file's versions.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

from scenarios.explore import load_start
from scenarios.explore.loop import Campaign, run_batch
from scenarios.golden import running_openssl, running_python

PATH = Path(__file__).with_name("golden_explored.toml")
SEED = 0
SAMPLE: tuple[tuple[str, str, int], ...] = (
    ("starttls", "current", 200),
    ("starttls", "2.0", 200),
    ("pipelining", "current", 100),
    ("chunking", "current", 60),
)
"""(start, release, number of schedules from index 0): one campaign per start."""


def hashes_of(start_name: str, profile: str, count: int) -> Iterator[tuple[int, str]]:
    """(index, trace hash) of the first ``count`` schedules of ``start_name`` alone, as
    the explorer runs them (:func:`scenarios.explore.loop.run_batch`)."""
    batch = run_batch(Campaign((load_start(start_name),), seed=SEED), profile, range(count))
    yield from zip(batch.indices, batch.hashes, strict=True)


def key(start_name: str, profile: str) -> str:
    return f"{start_name}@{profile}"


def load() -> dict[str, object]:
    return tomllib.loads(PATH.read_text(encoding="utf-8"))


def write() -> None:
    lines = [
        "# Golden trace hashes of explored schedules (seed 0): see",
        "# tests/scenarios/golden_explored.py. Do not edit by hand: regenerate with",
        "# `make golden` and review the diff.",
        "",
        "[made_with]",
        f'openssl = "{running_openssl()}"',
        f'python = "{running_python()}"',
        f"seed = {SEED}",
    ]
    for start_name, profile, count in SAMPLE:
        lines += ["", f'["{key(start_name, profile)}"]']
        lines += [f'{index} = "{digest}"' for index, digest in
                  hashes_of(start_name, profile, count)]
    PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
