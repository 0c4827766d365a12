"""smtp-hil import: how long a capture takes to become a scenario, and the round trip.

(a) A catalog capture: ``starttls`` (TLS 1.3 after STARTTLS, decrypted with the key log)
and ``pipelining`` (plaintext), imported three times each: best and median wall seconds
(tshark runs three times per import: the frames, the followed TCP stream, the followed
TLS stream).
(b) A large capture: one mail with a 20 MiB attachment over plaintext SMTP, simulated once
(its wall time and frame count printed), then imported once.
(c) The round trip over the whole catalog as the test does it (run with artifacts,
import, run the imported scenario): total wall seconds and the slowest scenarios.

Figures only; nothing here asserts a time. Run from the repository root:
``.venv/bin/python bench/bench_import.py`` (``--quick`` skips (b) and (c)).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from scenarios.artifacts import write_artifacts
from scenarios.capture.importer import import_scenario
from scenarios.catalog import load_catalog, load_named
from scenarios.format import parse_scenario
from scenarios.runner import RunResult, run

LARGE = """
[scenario]
name = "large-attachment"
title = "One mail with a 20 MiB attachment"
time_limit_s = 3600
[device.config.server]
security = "none"
[server]
starttls = false
max_size = "unlimited"
[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "Logs"
body = "The logs.\\n"
[[job.attachments]]
filename = "log.bin"
size = 20971520
[expect]
event = "sent"
"""


def recorded(result: RunResult, folder: Path) -> tuple[Path, Path]:
    where = write_artifacts(result, folder)
    return where / "capture.pcap", where / "keylog.txt"


def timed_import(capture: Path, keylog: Path) -> float:
    started = time.perf_counter()
    import_scenario(capture, keylog=keylog)
    return time.perf_counter() - started


def catalog_captures(folder: Path) -> None:
    print("(a) importing a catalog capture (wall seconds, 3 runs)")
    for name in ("starttls", "pipelining"):
        capture, keylog = recorded(run(load_named(name)), folder)
        times = [timed_import(capture, keylog) for _ in range(3)]
        print(f"    {name:<12} best {min(times):.3f}  median {statistics.median(times):.3f}  "
              f"({capture.stat().st_size} bytes of capture)")


def large_capture(folder: Path) -> None:
    print("(b) a 20 MiB attachment session")
    started = time.perf_counter()
    result = run(parse_scenario(LARGE, source="large"))
    simulated = time.perf_counter() - started
    capture, keylog = recorded(result, folder)
    frames = sum(1 for r in result.world.kernel.trace.records if r.kind == "tx"
                 and r.source.startswith("link"))
    print(f"    simulated in {simulated:.2f} s: {frames} frames, "
          f"{capture.stat().st_size / 2**20:.1f} MiB of capture ({result.verdict.reason})")
    seconds = timed_import(capture, keylog)
    print(f"    imported in {seconds:.2f} s")


def round_trip(folder: Path) -> None:
    print("(c) the round trip over the catalog: run, import, run again")
    costs = []
    started = time.perf_counter()
    for scenario in load_catalog():
        began = time.perf_counter()
        first = run(scenario)
        capture, keylog = recorded(first, folder)
        if first.world.server is None and not capture.stat().st_size > 24:
            continue
        try:
            text, _ = import_scenario(capture, keylog=keylog)
        except ValueError:
            continue  # config-version-check: no packet to import
        run(parse_scenario(text, source=scenario.name))
        costs.append((time.perf_counter() - began, scenario.name))
    total = time.perf_counter() - started
    slowest = ", ".join(f"{name} {cost:.2f} s" for cost, name in sorted(costs)[-3:])
    print(f"    {len(costs)} scenarios in {total:.1f} s (slowest: {slowest})")


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="smtp-hil-bench-import-") as tmp:
        folder = Path(tmp)
        catalog_captures(folder)
        if not quick:
            large_capture(folder)
            round_trip(folder)


if __name__ == "__main__":
    main()
