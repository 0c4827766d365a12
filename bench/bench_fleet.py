"""Fleets: many devices in one kernel against one server, as ``[fleet]`` runs them.

Run as ``.venv/bin/python bench/bench_fleet.py`` (``--tls N`` and ``--plain N`` devices,
default 1,000 and 10,000). It prints figures and asserts nothing but that every device
sent its mail. Each fleet is one run of a scenario written here: every device mails one
small message (STARTTLS for the first fleet, plaintext for the second), the devices
starting within the first ``N / 100`` seconds of virtual time (drawn from the kernel's
generator), one shared link (100 Mbit/s, 1 ms) and one scripted server. The run is lean
(the trace keeps what the verdict reads), as ``smtp-hil run`` makes it without
``--artifacts``. Printed: wall and CPU seconds, kernel events per CPU second, the
process's peak RSS before and after, and that growth per device.

Goals of issue 10: 1,000 STARTTLS devices in at most 10 s of wall time, 10,000
plaintext devices in at most 60 s. This script knows the scenario format and the runner.
"""

from __future__ import annotations

import argparse
import gc

from measure import load_average, peak_rss_mib, timed

from scenarios.format import parse_scenario
from scenarios.runner import run
from stack.tls.certs import default_test_pki

SCENARIO = """
[scenario]
name = "bench-fleet-{kind}"
title = "{devices} devices ({kind})"

[device]
pool_buffers = 8

[device.config.server]
security = "{security}"

[link]
latency_ms = 1
bandwidth_bps = 100000000

[server]
hostname = "mx.example.net"

[job]
from = "meter@example.com"
to = ["readings@example.net"]
subject = "Reading"
body = "48213.7 kWh"

[expect]
event = "sent"

[fleet]
devices = {devices}
spread_s = {spread}
"""


def fleet(devices: int, tls: bool) -> None:
    scenario = parse_scenario(SCENARIO.format(
        kind="starttls" if tls else "plaintext", devices=devices,
        security="starttls" if tls else "none", spread=max(1, devices // 100)),
        source="bench_fleet.toml")
    gc.collect()
    before = peak_rss_mib()
    result, cost = timed(lambda: run(scenario, keep_trace=False))
    after = peak_rss_mib()
    outcome = result.fleet
    if outcome is None or outcome.sent != devices:
        raise RuntimeError(f"bench fleet went wrong: {result.verdict.reason}")
    label = f"{devices:,} {'STARTTLS' if tls else 'plaintext'} devices"
    print(f"  {label:<26} wall {cost.wall_s:7.2f} s   CPU {cost.cpu_s:7.2f} s   "
          f"{cost.cpu_s / devices * 1000:5.2f} ms CPU per device   "
          f"virtual {result.virtual_us / 1e6:.1f} s")
    print(f"  {'':<26} peak RSS {before:.0f} -> {after:.0f} MiB "
          f"({(after - before) * 1024 / devices:.1f} KiB per device);   "
          f"{outcome.peak_connections} connections at once at the server, "
          f"last done at {(outcome.last_done_us or 0) / 1e6:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tls", type=int, default=1000, help="STARTTLS devices (0: none)")
    parser.add_argument("--plain", type=int, default=10000, help="plaintext devices (0: none)")
    args = parser.parse_args(argv)
    default_test_pki()  # not counted
    print(f"fleets against one scripted server ({load_average()})")
    if args.tls:
        fleet(args.tls, tls=True)
    if args.plain:
        fleet(args.plain, tls=False)


if __name__ == "__main__":
    main()
