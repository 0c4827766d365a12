"""Benchmarks of lwIP 2.1.3 as a C firmware: build, calls, runs, the matrix column, pools.

Run as ``.venv/bin/python bench/bench_lwip.py`` (after ``make lwip``; ``make bench`` runs
it). It prints figures and asserts nothing about time.

(a) Build time: lwIP's 17 files and the glue compiled from scratch into a temporary
    folder (``emulator/cfirmware/lwip/build.mk``), wall seconds.
(b) The call boundary, in this process (:class:`FirmwareInstance`, ctypes): an empty call
    (``hil_fw_advance`` with nothing due), one packet through ``hil_fw_input`` (a segment
    for a closed port: lwIP answers with an RST, so the packet goes in and one comes out),
    the codec (``stack.wire`` encode + decode); and one call through the worker process
    (:class:`FirmwareProcess`, a pipe round trip). Microseconds per call, best of 5.
(c) One run: a whole mail session (``auth-plain``) in a worker process (the default) and
    in this process; wall milliseconds, best and median of 5; packets and calls.
(d) The lwIP column of the matrix: every catalog scenario once on lwIP, wall seconds,
    counts of pass, fail and not applicable.
(e) Buffer pools: lwIP's pbuf pool figures (peak in use, failed allocations, frames
    dropped) in runs with a small pool, a large body and replies split over many
    segments, and what became of each run.

Wall time (``time.perf_counter``) is read here, outside the simulated world, around
whole calls or runs only.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emulator.cfirmware.calls import FirmwareConfig
from emulator.cfirmware.instance import FirmwareInstance
from emulator.cfirmware.library import BUILD_DIR, FirmwareUnavailable
from emulator.cfirmware.worker import FirmwareProcess
from scenarios.catalog import load_catalog
from scenarios.cli.firmware import firmware_column
from scenarios.cworld import build_cfirmware_world
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware
from scenarios.format import parse_scenario
from scenarios.runner import resolve_scenario, run
from stack.segment import Flags, Segment
from stack.wire import decode, encode

REPO = Path(__file__).resolve().parents[1]
CONFIG = FirmwareConfig(now_ms=0, seed=1, ip="192.0.2.10", netmask="255.255.255.0",
                        gateway="0.0.0.0", mtu=1500, pool_buffers=16, buffer_size=1536,
                        server_ip="198.51.100.25", server_port=25, domain="",
                        hostname="device", username=None, password=None)
PROBE = Segment("198.51.100.25", 25, "192.0.2.10", 4000, 1000, 0, Flags.SYN, 5840, mss=1460)


def _best_us(call: Callable[[], object], count: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            call()
        best = min(best, (time.perf_counter() - started) / count)
    return best * 1e6


def build_time() -> None:
    source = BUILD_DIR / "SOURCE_DIR"
    if not source.is_file():
        print("(a) build: skipped, no fetched lwIP source (make lwip)")
        return
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(["make", "-s", "-f", "emulator/cfirmware/lwip/build.mk",
                        f"LWIP_SRC_DIR={source.read_text().strip()}", f"OUT={out}"],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
    print(f"(a) build from scratch (gcc -O2, 18 files, one process): {wall:.2f} s wall")


def call_costs(choice: FirmwareChoice) -> None:
    assert choice.library is not None
    instance = FirmwareInstance(choice.library)
    instance.init(CONFIG)
    packet = encode(PROBE)
    empty = _best_us(lambda: instance.advance(0), 20_000)
    one_packet = _best_us(lambda: instance.input(0, packet), 20_000)
    codec = _best_us(lambda: decode(encode(PROBE)), 20_000)
    worker = FirmwareProcess(choice.library)
    worker.init(CONFIG)
    round_trip = _best_us(lambda: worker.advance(0), 2_000)
    worker.close()
    print("(b) the call boundary, microseconds per call (best of 5):")
    print(f"    empty call through ctypes (hil_fw_advance)          {empty:7.1f}")
    print(f"    one packet in and its RST out through ctypes        {one_packet:7.1f}")
    print(f"    codec: stack.wire encode + decode of one segment    {codec:7.1f}")
    print(f"    one call through the worker process (pipe)          {round_trip:7.1f}")


def one_run(choice: FirmwareChoice) -> None:
    scenario = resolve_scenario("auth-plain")
    isolated, in_process = [], []
    packets = calls = 0
    for _ in range(5):
        result = run(scenario, firmware=choice)
        assert result.passed, result.verdict.reasons
        isolated.append(result.wall_s * 1e3)
        packets = len(result.world.kernel.trace.select("link", "tx"))
        started = time.perf_counter()
        world = build_cfirmware_world(scenario, 0, choice, isolated=False)
        world.firmware.submit(scenario.to_job())
        server = world.server
        assert server is not None

        def done(world=world, server=server) -> bool:  # type: ignore[no-untyped-def]
            return bool(world.firmware.terminal_events) and all(
                c.closed for c in server.connections)

        world.kernel.run(until_us=60_000_000, stop=done)
        in_process.append((time.perf_counter() - started) * 1e3)
        calls = world.board.calls_made
    print(f"(c) one run (auth-plain: {packets} packets, {calls} firmware calls), wall ms:")
    print(f"    worker process (the default): best {min(isolated):.1f}, "
          f"median {statistics.median(isolated):.1f}")
    print(f"    in this process:              best {min(in_process):.1f}, "
          f"median {statistics.median(in_process):.1f}")


def matrix_column(choice: FirmwareChoice) -> None:
    scenarios = load_catalog()
    started = time.perf_counter()
    column = firmware_column(scenarios, choice, 0)
    wall = time.perf_counter() - started
    virtual = sum(r.virtual_us for r in column.results) / 1e6
    print(f"(d) lwIP matrix column: {len(scenarios)} scenarios in {wall:.2f} s wall "
          f"({virtual:.0f} s virtual); {column.counts}")


POOL_RUN = """
[scenario]
name = "pool-{name}"
title = "lwIP pool figures"
time_limit_s = 900
[device]
pool_buffers = {pool}
[device.config.server]
security = "none"
[server]
starttls = false
capabilities = ["SIZE 10485760", "8BITMIME"]
segmentation = "{segmentation}"
[job]
from = "pump7@example.com"
to = ["ops@example.net"]
subject = "pool"
body = "{body}"
[expect]
event = "sent"
body_exact = true
pool_never_exhausted = true
"""


def pools(choice: FirmwareChoice) -> None:
    line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\\n"
    cases = [("catalog buffer-exhaustion-during-content (pool 6)",
              resolve_scenario("buffer-exhaustion-during-content")),
             ("catalog multiline-reply-exceeds-pool (pool 8)",
              resolve_scenario("multiline-reply-exceeds-pool"))]
    for pool, segmentation, lines in ((2, "normal", 13_000), (2, "line_by_line", 13_000),
                                      (4, "line_by_line", 10)):
        text = POOL_RUN.format(name=pool, pool=pool, segmentation=segmentation,
                               body=line * lines)
        size = len(line.replace("\\n", "\r\n")) * lines
        cases.append((f"{size // 1024} KiB body, pool {pool}, replies {segmentation}",
                      parse_scenario(text, source="pool.toml")))
    print("(e) lwIP's pbuf pool (peak in use / failed allocations / frames dropped):")
    for title, scenario in cases:
        result = run(scenario, firmware=choice)
        stats = result.pool
        outcome = result.terminal.event.name if result.terminal else "no outcome"
        print(f"    {title}: {stats.peak_in_use}/{stats.count} peak, "
              f"{stats.failed_allocations} failed, {stats.frames_dropped} dropped; "
              f"{outcome} at {result.terminal.t_us / 1e6 if result.terminal else 0:.3f} s "
              f"virtual, {len(result.mailbox)} mail(s); "
              f"{'pass' if result.passed else 'fail: ' + result.verdict.reasons[0]}")


def main() -> None:
    try:
        choice = resolve_firmware("lwip")
    except FirmwareUnavailable as exc:
        print(f"bench_lwip: skipped: {exc}")
        return
    print(f"python {sys.version.split()[0]}, gcc {shutil.which('gcc')}")
    build_time()
    call_costs(choice)
    one_run(choice)
    matrix_column(choice)
    pools(choice)


if __name__ == "__main__":
    main()
