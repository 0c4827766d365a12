"""Runs one scenario against one release profile with one seed, and keeps the result.

The run submits the scenario's job at virtual time 0 and lets the kernel run until the
client reports the job's terminal event, then a little longer so the session can end
(QUIT, FIN) and the pool can be seen to return to full. A job with no terminal event by
the scenario's time limit is a hang; detecting it costs no wall time, because idle time
is free. What the run observed becomes a plain record (:class:`~scenarios.record.
RunRecord`), and the verdict is :mod:`scenarios.verdict`'s judgement of that record.

This module knows the world and the verdict; it formats nothing (see
:mod:`scenarios.artifacts`) and parses no command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from emulator.trace import Trace, TraceRecord
from emulator.tracespill import SpillingRecords, kept_records
from emulator.units import MINUTE
from scenarios.applicability import check_applicable
from scenarios.catalog import catalog_path, load_named
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware
from scenarios.fleet import run_fleet
from scenarios.format import Scenario, load_scenario
from scenarios.record import RunRecord, ServerSide
from scenarios.server.simdriver import ServerConnection
from scenarios.verdict.client import Verdict, judge, reads_latest, reads_record
from scenarios.verdict.fleet import judge_fleet
from scenarios.world import World, build_world
from smtp.events import is_terminal

if TYPE_CHECKING:
    from scenarios.cworld import CFirmwareWorld

#: How long after the terminal event the run goes on, for QUIT, FIN and buffer returns.
WIND_DOWN_US = 15 * MINUTE
LEAN_KEEP_BYTES: Final = 256
"""A lean run's trace keeps bytes fields up to this long; longer ones as their length
and digest."""


@dataclass(kw_only=True)
class RunResult(RunRecord):
    """One run: what it observed (the :class:`~scenarios.record.RunRecord` its verdict
    judged), the verdict, the wall time it took, and the world it ran in, for the views
    that look inside (artifacts, tests); the verdict never reads the world.

    A result kept for long (the matrix keeps hundreds) drops its world
    (:meth:`without_world`: a finished world is 100-200 KiB of objects the garbage
    collector walks again and again) and, when no view will read it, its trace
    (:meth:`lean`). Such a result pickles, so worker processes can return it."""

    verdict: Verdict
    wall_s: float = 0.0
    world: World | CFirmwareWorld | None = field(repr=False)
    key_log: tuple[str, ...] | None = field(default=None, repr=False)
    """The TLS secrets of a run whose world is never kept (a fleet's): NSS key log lines
    for its artifacts; otherwise the world's server holds them."""

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def connections(self) -> list[ServerConnection]:
        """The scripted server's connections (in the world), in the order accepted."""
        world = self.require_world("its server's connections")
        return world.server.connections if world.server is not None else []

    def require_world(self, what: str) -> World | CFirmwareWorld:
        """The world, for a view that needs ``what`` from it; ValueError once dropped."""
        if self.world is None:
            raise ValueError(f"{what}: the run's world was dropped (RunResult.without_world)")
        return self.world

    def without_world(self) -> RunResult:
        """This result with no world (every field the record holds stays)."""
        return dataclasses.replace(self, world=None)

    def lean(self, *, keep_trace: bool) -> RunResult:
        """This result with no world and, unless ``keep_trace``, no trace records (the
        hash, the verdict and every other field stay)."""
        return dataclasses.replace(self, world=None,
                                   trace=self.trace if keep_trace else ())


def lean_trace() -> Trace:
    """A trace that keeps only what the verdict reads: the records
    :func:`~scenarios.verdict.client.reads_record` accepts and the latest that
    :func:`~scenarios.verdict.client.reads_latest` does, bulk bytes as their digests."""
    return Trace(keep_bytes=LEAN_KEEP_BYTES, keep=reads_record, keep_latest=reads_latest)


def reads_more_than_lean(scenario: Scenario) -> bool:
    """Whether the verdict of ``scenario`` reads records a lean trace drops: ``[expect]
    invariants`` read the device's receptions, its TCP closing and the server's reply
    ledger, so such a run keeps its whole trace (its memory then grows with the content
    it carries); judged on a lean trace, an invariant would pass what it must fail."""
    return bool(scenario.expect.invariants)


def resolve_scenario(name_or_path: str, catalog: Path | None = None) -> Scenario:
    """A catalog scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file() or "/" in name_or_path:
        return load_scenario(path)
    return load_named(name_or_path, catalog or catalog_path())


def variants(scenario: Scenario) -> list[Scenario]:
    """The scenario once per ``device.rtc_variants`` entry (itself when there are none)."""
    if not scenario.device.rtc_variants:
        return [scenario]
    out = []
    for when in scenario.device.rtc_variants:
        device = scenario.device.model_copy(update={"rtc": when, "rtc_variants": []})
        server = scenario.server
        if server.clock == scenario.device.rtc:
            server = server.model_copy(update={"clock": when})
        out.append(scenario.model_copy(update={"device": device, "server": server}))  # and .source
    return out


def firmware_for(scenario: Scenario, firmware: FirmwareChoice | None = None) -> FirmwareChoice:
    """``firmware`` if given, else the one the scenario's ``[device] firmware`` names
    (a library path relative to the scenario file)."""
    if firmware is not None:
        return firmware
    base = Path(scenario.source).parent if scenario.source else None
    return resolve_firmware(scenario.device.firmware, base)


def watchable(scenario: Scenario, firmware: FirmwareChoice | None = None) -> bool:
    """Whether :func:`run` can show ``scenario``'s records to ``watch`` subscribers as
    they come: one run (no fleet, no RTC variants) of the board's model firmware (a C
    firmware's runs are written after the run, as before)."""
    return (scenario.fleet is None and not scenario.device.rtc_variants
            and firmware_for(scenario, firmware).is_model)


def check_runnable(scenario: Scenario, firmware: FirmwareChoice | None = None) -> None:
    """Raise :class:`~scenarios.applicability.NotApplicable` when the firmware that would
    run ``scenario`` (see :func:`firmware_for`) cannot."""
    choice = firmware_for(scenario, firmware)
    if scenario.fleet is not None and (scenario.fleet.firmware or not choice.is_model):
        from scenarios.fleetcfirmware import fleet_firmware  # start-up: as below

        fleet_firmware(scenario, choice)  # every firmware of the fleet's devices
        return
    if not choice.is_model:
        # start-up: C firmware (its worker process, ctypes) loads only when one runs
        # (measured: 8 ms of every `smtp-hil run`)
        from scenarios.cworld import firmware_capabilities

        check_applicable(scenario, choice.label, firmware_capabilities(choice))


def run(scenario: Scenario, profile: str = "current", seed: int = 0,
        firmware: FirmwareChoice | None = None, *, keep_trace: bool = True,
        watch: Sequence[Callable[[TraceRecord], None]] = (),
        spill_after: int | None = None) -> RunResult:
    """Run ``scenario`` on release ``profile`` with ``seed``; never raises on a bad client.

    With RTC variants every variant runs; the result is the first failing one (or the
    last), its reasons prefixed with the RTC setting, and the trace hash covers them all.
    ``firmware`` (default: the scenario's) picks the board's firmware; a C firmware runs
    the scenario as ``current`` expects it, and a scenario it cannot run raises
    :class:`~scenarios.applicability.NotApplicable`. Without ``keep_trace`` the run is
    lean: its trace keeps only the records the verdict reads
    (:func:`lean_trace`; the whole trace when :func:`reads_more_than_lean`), so memory
    does not grow with the
    segments and the content a run carries; the hash and the verdict are the same.
    ``watch``: subscribers that see every record as it is made (streamed artifacts,
    :mod:`scenarios.artifactstream`); only for one run, so not with RTC variants nor a
    fleet (ValueError). ``spill_after`` (a run that keeps its trace; the CLI's views give
    :data:`~emulator.tracespill.SPILL_BOUND`): the records past that many wait on disk
    (:mod:`emulator.tracespill`)
    and the scripted server keeps no copy of its bytes (its connections' ``engine.
    transcript`` stay empty), so memory does not grow with the run's records; every view
    of the trace is the same.
    """
    if watch and (scenario.fleet is not None or scenario.device.rtc_variants):
        raise ValueError(f"watch: {scenario.name} is not one run (a fleet or RTC "
                         f"variants): its records cannot be watched as one trace")
    choice = firmware_for(scenario, firmware)
    if scenario.fleet is not None:
        return _run_fleet(scenario, profile if choice.is_model else "current", seed,
                          keep_trace, choice)
    check_runnable(scenario, choice)
    if not choice.is_model:
        profile = "current"
    runs = [_run_one(v, profile, seed, choice, keep_trace, watch, spill_after)
            for v in variants(scenario)]
    if len(runs) == 1:
        return runs[0]
    combined = hashlib.sha256("".join(r.trace_sha256 for r in runs).encode()).hexdigest()
    reasons = [f"RTC {r.as_run.device.rtc:%Y-%m-%d %H:%M:%S}: {reason}"
               for r in runs for reason in r.verdict.reasons]
    chosen = next((r for r in runs if not r.passed), runs[-1])
    return dataclasses.replace(chosen, verdict=Verdict(passed=not reasons, reasons=reasons),
                               trace_sha256=combined, wall_s=sum(r.wall_s for r in runs),
                               scenario=scenario)


def _run_fleet(scenario: Scenario, profile: str, seed: int, keep_trace: bool,
               firmware: FirmwareChoice) -> RunResult:
    """A ``[fleet]`` scenario: many devices at once (:mod:`scenarios.fleet`), no world kept
    (its devices are gone by the end of the run); ``firmware`` runs the devices ``[fleet]
    firmware`` does not name."""
    started = time.perf_counter()
    trace = Trace() if keep_trace else lean_trace()
    record, secrets = run_fleet(scenario, profile, seed, trace, firmware)
    return RunResult(**_fields(record), verdict=judge_fleet(record), world=None,
                     key_log=tuple(secrets), wall_s=time.perf_counter() - started)


def _run_one(scenario: Scenario, profile: str, seed: int, choice: FirmwareChoice,
             keep_trace: bool, watch: Sequence[Callable[[TraceRecord], None]] = (),
             spill_after: int | None = None) -> RunResult:
    started = time.perf_counter()
    if keep_trace or reads_more_than_lean(scenario):
        trace = Trace(records=None if spill_after is None else SpillingRecords(spill_after))
    else:
        trace = lean_trace()
    for subscriber in watch:
        trace.subscribe(subscriber)
    world: World | CFirmwareWorld
    if choice.is_model:
        world = build_world(scenario, profile, seed, trace=trace)
    else:
        from scenarios.cworld import build_cfirmware_world  # start-up: as check_runnable's

        world = build_cfirmware_world(scenario, seed, choice, trace=trace)
    kernel, firmware = world.kernel, world.firmware
    limit = scenario.time_limit_us
    firmware.submit(scenario.to_job())
    events, read = firmware.events, 0

    def job_over() -> bool:
        """The job's terminal event came, or the firmware stopped. The kernel asks after
        every event, so only the events reported since the last call are read."""
        nonlocal read
        while read < len(events):
            if is_terminal(events[read].event):
                return True
            read += 1
        return world.firmware_stopped

    kernel.run(until_us=limit, stop=job_over)
    if firmware.terminal_events and not world.firmware_stopped:
        end = min(kernel.now_us + WIND_DOWN_US, max(limit, kernel.now_us))
        connections = world.server.connections if world.server else []

        def settled() -> bool:  # an open connection is what most often keeps a run going
            return world.firmware_stopped or (all(c.closed for c in connections)
                                              and firmware.idle and world.board.pool.in_use == 0)

        kernel.run(until_us=end, stop=settled)
    world.close()
    record = _record(scenario, profile, seed, world, choice)
    verdict = judge(record)
    return RunResult(**_fields(record), verdict=verdict, world=world,
                     wall_s=time.perf_counter() - started)


def _record(scenario: Scenario, profile: str, seed: int, world: World | CFirmwareWorld,
            choice: FirmwareChoice) -> RunRecord:
    """What the run in ``world`` observed, as plain data."""
    kernel, firmware, board = world.kernel, world.firmware, world.board
    server = ServerSide.of(c.engine for c in (world.server.connections if world.server
                                              else []))
    return RunRecord(
        scenario=scenario, profile=profile, seed=seed, events=list(firmware.events),
        terminal=firmware.terminal_events[0] if firmware.terminal_events else None,
        server_side=server, mailbox=server.mailbox, virtual_us=kernel.now_us,
        pool=board.pool.stats, pool_in_use_at_end=board.pool.in_use,
        watchdog_resets=board.stats.watchdog_resets,
        watchdog_reset_reasons=list(board.stats.reset_reasons), board_name=board.name,
        trace=kept_records(kernel.trace.records), trace_sha256=kernel.trace.sha256(),
        firmware=choice.label, firmware_problems=world.firmware_problems,
        firmware_stopped=world.firmware_stopped,
        carries_tls=world.link.stats.ciphertext_frames > 0, ran=scenario)


def _fields(record: RunRecord) -> dict[str, Any]:
    """The record's fields by name (shallow: the values are shared, not copied)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(RunRecord)}
