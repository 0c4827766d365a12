"""Runs a ``[fleet]`` scenario: many devices in one kernel, on one link, against one server.

The world is the scenario's (kernel, link, server host and scripted server) with the
server's attachment made a shared port (:meth:`stack.link.Link.share`): every device's
frames towards the server queue behind each other at the link's bandwidth, and with
``queue_frames`` the overflow is lost. Each device is a board of its own (its address
counted up from ``[device] ip``, its RTC, its pool and stack, the client task of the
release under test) built when it starts (:mod:`scenarios.format.fleet` says when) and
taken off the link once its last job is done and its connection has ended, so memory
holds the devices under way, not the whole fleet. A device whose job fails submits it
again after its retry delay, up to ``retries`` times; its outcome is the last terminal
event it reported. Every draw (start times, RTC errors, retry jitter) comes from the
kernel's generator, so a fleet run is as deterministic as a single one: one trace, the
devices' sources named ``d0``, ``d1``, ...

A device runs the Python model on the release under test, or a C firmware (``[fleet]
firmware``, ``[device] firmware`` or ``--firmware``; :mod:`scenarios.fleetcfirmware`
builds those): lwIP devices and model devices share the link and the server. A C
device's fault (assertion, crash, hang) stops it for good and is one of the run's
firmware problems; it never reports an outcome, so the run goes on to its time limit.

This module knows the world's parts and the fleet section; the verdict is
:mod:`scenarios.verdict.fleet`'s, the result record :mod:`scenarios.record`'s.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from emulator.board import Board
from emulator.firmware import SmtpFirmware, TimedEvent
from emulator.kernel import Kernel
from emulator.porting import BoardPorting
from emulator.rtc import Rtc
from emulator.trace import Trace
from emulator.units import SECOND
from scenarios.firmware_choice import MODEL_FIRMWARE, FirmwareChoice
from scenarios.format import Scenario
from scenarios.format.fleet import FleetSection
from scenarios.record import DeviceOutcome, FleetOutcome, RunRecord, ServerSide
from scenarios.server.simdriver import SimServer
from scenarios.world import SERVER_IP, build_link, build_server, client_settings
from smtp.events import describe, is_terminal
from smtp.jobs import Job
from smtp.profiles import Profile, get_profile
from smtp.settings import ClientSettings
from stack.link import Link
from stack.pool import PoolStats

if TYPE_CHECKING:
    from emulator.cfirmware.board import CFirmwareBoard
    from emulator.cfirmware.firmware import CFirmware

RETIRE_AFTER_US: Final = 5 * SECOND
"""How long after its last event a device is looked at again to be taken off the link
(TIME_WAIT is 2 s); then again as often, until its connection has ended."""
RETIRE_TRIES: Final = 120


@dataclass
class _Device:
    """One device of the fleet, while it exists."""

    index: int
    ip: str
    start_us: int
    rtc_start: datetime | None
    choice: FirmwareChoice = MODEL_FIRMWARE
    board: Board | CFirmwareBoard | None = None
    firmware: SmtpFirmware | CFirmware | None = None
    attempts: int = 0
    last: TimedEvent | None = None
    final: bool = False
    tries_to_retire: int = 0


@dataclass
class _Totals:
    """What the devices leave behind once retired: their pools' and boards' figures."""

    peak_in_use: int = 0
    failed_allocations: int = 0
    frames_dropped: int = 0
    in_use: int = 0
    watchdog_resets: int = 0
    reset_reasons: list[str] = field(default_factory=list)


class Fleet:
    """The devices of one fleet run and what they do (see the module docstring)."""

    def __init__(self, scenario: Scenario, profile: Profile, kernel: Kernel, link: Link,
                 server: SimServer | None,
                 firmware: list[FirmwareChoice] | None = None) -> None:
        fleet = scenario.fleet
        assert fleet is not None, "a scenario with a [fleet]"
        self.scenario = scenario
        self.spec: FleetSection = fleet
        self.profile = profile
        self.kernel = kernel
        self.link = link
        self.server = server
        settings, refused = client_settings(scenario, profile)
        self.settings: ClientSettings = settings
        self.config_refused = refused
        self.job: Job = scenario.to_job()
        self.devices = [self._plan(i) for i in range(fleet.devices)]
        for device, choice in zip(self.devices, firmware or [], strict=False):
            device.choice = choice
        self.problems: list[str] = []
        """The C devices' faults and malformed packets, each named by its device."""
        self.pending = fleet.devices
        """Devices without their final outcome yet."""
        self.retiring = fleet.devices
        """Devices still on the link."""
        self.totals = _Totals()
        for device in self.devices:
            kernel.call_at(device.start_us, self._start, device)

    # ---- the plan: addresses, start times, RTCs --------------------------------------

    def _plan(self, index: int) -> _Device:
        spec, device, rng = self.spec, self.scenario.device, self.kernel.rng
        ip = str(ipaddress.IPv4Address(device.ip) + index)
        if spec.start == "spread":
            start_us = int(rng.random() * spec.spread_s * SECOND)
            return _Device(index, ip, start_us, device.rtc)
        assert device.rtc is not None and spec.at is not None  # the format checks both
        error = timedelta(microseconds=int((rng.random() * 2 - 1) * spec.rtc_error_s * SECOND))
        rtc_start = device.rtc + error
        target = datetime.combine(rtc_start.date(), spec.at, tzinfo=rtc_start.tzinfo)
        if target < rtc_start:
            target += timedelta(days=1)
        ahead = target - rtc_start
        ahead_us = (ahead.days * 86_400 + ahead.seconds) * SECOND + ahead.microseconds
        drift = device.rtc_drift_ppm
        return _Device(index, ip, ahead_us * 1_000_000 // (1_000_000 + drift), rtc_start)

    # ---- a device's life -------------------------------------------------------------

    def _start(self, device: _Device) -> None:
        spec = self.scenario.device
        kernel = self.kernel
        name = f"d{device.index}"
        reading = None
        if device.rtc_start is not None:
            elapsed = kernel.now_us + kernel.now_us * spec.rtc_drift_ppm // 1_000_000
            reading = device.rtc_start + timedelta(microseconds=elapsed)
        rtc = Rtc(kernel, start=reading, drift_ppm=spec.rtc_drift_ppm, name=f"{name}.rtc")
        if not device.choice.is_model:
            # start-up: C firmware loads only when a device runs one (as in the runner)
            from scenarios.fleetcfirmware import start_c_device

            c_board, c_firmware = start_c_device(self.scenario, self.settings, kernel,
                                                 self.link, device.choice, name=name,
                                                 ip=device.ip, rtc=rtc)
            c_firmware.on_event = lambda event: self._event(device, event)
            device.board, device.firmware = c_board, c_firmware
            self._attempt(device)
            return
        board = Board(kernel, name=name, ip=device.ip, pool_buffers=spec.pool_buffers,
                      buffer_size=spec.buffer_size, rtc=rtc,
                      watchdog_timeout_us=spec.watchdog_timeout_us)
        board.attach(self.link)
        porting = BoardPorting(board, domain=spec.domain, hostname=spec.hostname)
        firmware = SmtpFirmware(board, settings=self.settings, profile=self.profile,
                                porting=porting, config_refused=self.config_refused)
        firmware.on_event = lambda event: self._event(device, event)
        device.board, device.firmware = board, firmware
        self._attempt(device)

    def _attempt(self, device: _Device) -> None:
        assert device.firmware is not None
        device.attempts += 1
        device.firmware.submit(self.job)

    def _event(self, device: _Device, event: TimedEvent) -> None:
        if not is_terminal(event.event):
            return
        device.last = event
        spec = self.spec
        if self._passed(device) or device.attempts > spec.retries:
            device.final = True
            self.pending -= 1
            self.kernel.call_later(RETIRE_AFTER_US, self._retire, device)
            return
        jitter = int(self.kernel.rng.random() * spec.retry_jitter_s * SECOND)
        self.kernel.call_later(int(spec.retry_after_s * SECOND) + jitter, self._attempt,
                               device)

    def _passed(self, device: _Device) -> bool:
        return device.last is not None and \
            device.last.event.name == self.scenario.expect.event

    def _retire(self, device: _Device) -> None:
        """Take a device that is done off the link once its connection has ended."""
        board, firmware = device.board, device.firmware
        assert board is not None and firmware is not None
        if isinstance(board, Board):
            settled = firmware.idle and board.pool.in_use == 0 and not board.stack.connections
        else:
            from scenarios.fleetcfirmware import c_device_settled  # start-up: see _start

            assert not isinstance(firmware, SmtpFirmware), "a C board runs a C firmware"
            settled = c_device_settled(board, firmware, self.server)
        device.tries_to_retire += 1
        if not settled and device.tries_to_retire < RETIRE_TRIES:
            self.kernel.call_later(RETIRE_AFTER_US, self._retire, device)
            return
        self._keep_figures(board)
        self.link.detach(device.ip)
        device.board = device.firmware = None
        self.retiring -= 1

    def _keep_figures(self, board: Board | CFirmwareBoard) -> None:
        if not isinstance(board, Board):
            from scenarios.fleetcfirmware import c_device_problems  # start-up: see _start

            self.problems += c_device_problems(board)
            board.close()  # its instance's worker process goes
        totals, stats = self.totals, board.pool.stats
        totals.peak_in_use = max(totals.peak_in_use, stats.peak_in_use)
        totals.failed_allocations += stats.failed_allocations
        totals.frames_dropped += stats.frames_dropped
        totals.in_use += stats.in_use
        totals.watchdog_resets += board.stats.watchdog_resets
        totals.reset_reasons += board.stats.reset_reasons

    # ---- the outcome -----------------------------------------------------------------

    def finish(self) -> None:
        """Count the devices the run ended with (on the link still) into the totals."""
        for device in self.devices:
            if device.board is not None:
                self._keep_figures(device.board)
                device.board = device.firmware = None

    def outcome(self) -> FleetOutcome:
        devices = tuple(
            DeviceOutcome(index=d.index, ip=d.ip, start_us=d.start_us, attempts=d.attempts,
                          event=d.last.event.name if d.last is not None else "",
                          detail=describe(d.last.event) if d.last is not None
                          else "no terminal event",
                          done_us=d.last.t_us if d.final and d.last is not None else None,
                          passed=self._passed(d), firmware=d.choice.label)
            for d in self.devices)
        server = self.server
        inbound = self.link.port_queues(SERVER_IP)[0]
        return FleetOutcome(devices=devices, refused=server.refused if server else 0,
                            peak_connections=server.peak_open if server else 0,
                            queue_peak=inbound.peak, queue_dropped=inbound.dropped)

    def pool_stats(self) -> PoolStats:
        """The pools of every device together: the highest peak, the sums of failures."""
        spec = self.scenario.device
        totals = self.totals
        return PoolStats(count=spec.pool_buffers, size=spec.buffer_size, in_use=totals.in_use,
                         peak_in_use=totals.peak_in_use,
                         failed_allocations=totals.failed_allocations,
                         frames_dropped=totals.frames_dropped)


def run_fleet(scenario: Scenario, profile_name: str, seed: int, trace: Trace,
              firmware: FirmwareChoice = MODEL_FIRMWARE) -> tuple[RunRecord, list[str]]:
    """Run every device of ``scenario``'s fleet until each is done (or the time limit);
    what the run observed, as the record the fleet verdict judges, and the server's TLS
    secrets (NSS key log lines) for the artifacts. ``firmware`` runs the devices
    ``[fleet] firmware`` does not name (raises ``NotApplicable`` for a C firmware that
    cannot run the scenario, before anything runs)."""
    fleet_spec = scenario.fleet
    assert fleet_spec is not None, "a scenario with a [fleet]"
    choices = [firmware] * fleet_spec.devices
    if fleet_spec.firmware or not firmware.is_model:
        from scenarios.fleetcfirmware import fleet_firmware  # start-up: see Fleet._start

        choices = fleet_firmware(scenario, firmware)
    profile = get_profile(profile_name)
    kernel = Kernel(seed=seed, trace=trace)
    link = build_link(scenario, kernel)
    if scenario.link.loss:
        link.set_loss(scenario.link.loss)
    _server_host, server = build_server(scenario, kernel, link)
    link.share(SERVER_IP, queue_frames=fleet_spec.queue_frames)
    fleet = Fleet(scenario, profile, kernel, link, server, choices)
    limit = scenario.time_limit_us
    try:
        kernel.run(until_us=limit, stop=lambda: fleet.pending == 0)
        if fleet.pending == 0:
            kernel.run(until_us=limit, stop=lambda: fleet.retiring == 0)
    finally:
        fleet.finish()  # also releases the C devices' worker processes
    connections = server.connections if server is not None else []
    side = ServerSide.of(c.engine for c in connections)
    totals = fleet.totals
    secrets = server.tls_secrets() if server is not None else []
    return RunRecord(
        scenario=scenario, profile=profile_name, seed=seed, events=[], terminal=None,
        server_side=side, mailbox=side.mailbox, virtual_us=kernel.now_us,
        pool=fleet.pool_stats(), pool_in_use_at_end=totals.in_use,
        watchdog_resets=totals.watchdog_resets, watchdog_reset_reasons=totals.reset_reasons,
        board_name="d0", trace=tuple(kernel.trace.records), trace_sha256=kernel.trace.sha256(),
        carries_tls=link.stats.ciphertext_frames > 0, ran=scenario,
        firmware=firmware.label, firmware_problems=fleet.problems,
        fleet=fleet.outcome()), secrets
