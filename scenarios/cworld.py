"""Builds the simulated world of one scenario run whose board runs a C firmware.

The same kernel, link (with the scenario's faults), scripted server and RTC as
:mod:`scenarios.world` builds for the Python model; the board is a
:class:`~emulator.cfirmware.board.CFirmwareBoard` whose firmware instance is a fresh,
private copy of the library in a worker process of its own (one per device and per run),
configured from the scenario: the device's address, the link's MTU, the pool
(``pool_buffers``, ``buffer_size``), the server's address and port, the EHLO domain and
host name, the credentials, ``[device] firmware_options`` and a seed drawn from the
kernel's seeded generator (the firmware's only randomness).

This module wires things together; it runs nothing and judges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from emulator.cfirmware.abi import Capability
from emulator.cfirmware.board import CFirmwareBoard, FirmwareRefused
from emulator.cfirmware.calls import FirmwareCalls, FirmwareConfig
from emulator.cfirmware.firmware import CFirmware
from emulator.cfirmware.instance import FirmwareInstance
from emulator.cfirmware.worker import DEFAULT_CALL_LIMIT_S, FirmwareProcess
from emulator.kernel import Kernel
from emulator.rtc import Rtc
from emulator.trace import Trace
from scenarios.firmware_choice import FirmwareChoice
from scenarios.format import Scenario, ScenarioError, Sides
from scenarios.server.simdriver import SimServer
from scenarios.world import SERVER_IP, build_link, build_server, client_settings
from smtp.profiles import Profile, get_profile
from smtp.settings import ClientSettings
from stack.link import Link
from stack.simhost import SimHost

NETMASK: Final = "255.255.255.0"
GATEWAY: Final = "0.0.0.0"


@dataclass
class CFirmwareWorld:
    """Everything one run with a C firmware is made of (the attributes of
    :class:`scenarios.world.World` the runner, the verdicts and the artifacts read)."""

    scenario: Scenario
    profile: Profile
    seed: int
    kernel: Kernel
    link: Link
    board: CFirmwareBoard
    firmware: CFirmware
    server_host: SimHost
    server: SimServer | None
    settings: ClientSettings
    firmware_label: str

    @property
    def config_refused(self) -> str | None:
        return None

    @property
    def firmware_stopped(self) -> bool:
        return self.board.stopped

    @property
    def firmware_problems(self) -> list[str]:
        """The firmware's fault (assertion, crash, hang) and malformed packets it sent."""
        fault = [self.board.fault.text] if self.board.fault is not None else []
        return fault + list(self.board.wire_problems)

    @property
    def sides(self) -> Sides:
        """The addresses of the link's two ends, as fault verbs name them."""
        return Sides(device=self.board.ip, server=SERVER_IP)

    def close(self) -> None:
        """Release the firmware instance (its worker process)."""
        self.board.close()


def firmware_config(scenario: Scenario, settings: ClientSettings, kernel: Kernel,
                    now_ms: int = 0, ip: str | None = None) -> FirmwareConfig:
    """The firmware's configuration for ``scenario`` (the seed is drawn from ``kernel``;
    ``ip``: a fleet device's own address instead of ``[device] ip``)."""
    device = scenario.device
    credentials = settings.credentials
    return FirmwareConfig(
        now_ms=now_ms, seed=kernel.rng.getrandbits(32), ip=ip or device.ip, netmask=NETMASK,
        gateway=GATEWAY, mtu=scenario.link.mtu, pool_buffers=device.pool_buffers,
        buffer_size=device.buffer_size, server_ip=SERVER_IP, server_port=settings.server_port,
        domain=device.domain or "", hostname=device.hostname, username=credentials.username,
        password=credentials.password, options=tuple(sorted(device.firmware_options.items())))


def build_cfirmware_world(scenario: Scenario, seed: int, choice: FirmwareChoice, *,
                          isolated: bool = True, call_limit_s: float = DEFAULT_CALL_LIMIT_S,
                          trace: Trace | None = None) -> CFirmwareWorld:
    """The world for one run of ``scenario`` on the C firmware ``choice``.

    ``isolated`` runs the firmware in a worker process (crashes and hangs become
    results); without it the calls are made in this process (faster, for benchmarks of
    trusted code). A configuration the firmware refuses is a :class:`ScenarioError`
    naming the scenario file and the firmware's reason.
    """
    assert choice.library is not None, "the Python model has its own world"
    profile = get_profile("current")
    kernel = Kernel(seed=seed, trace=trace)
    link = build_link(scenario, kernel)
    device = scenario.device
    rtc = Rtc(kernel, start=device.rtc, drift_ppm=device.rtc_drift_ppm, name="board.rtc")
    calls: FirmwareCalls = (FirmwareProcess(choice.library, call_limit_s=call_limit_s)
                            if isolated else FirmwareInstance(choice.library))
    board = CFirmwareBoard(kernel, calls, ip=device.ip, pool_buffers=device.pool_buffers,
                           buffer_size=device.buffer_size, rtc=rtc)
    board.attach(link)
    settings, _ = client_settings(scenario, profile)
    firmware = CFirmware(board, server_host=SERVER_IP, server_port=settings.server_port)
    try:
        board.start(firmware_config(scenario, settings, kernel))
    except FirmwareRefused as exc:
        board.close()
        source = scenario.source or scenario.name
        raise ScenarioError([f"{source}: device: firmware {choice.label} refuses the "
                             f"configuration: {exc}"]) from None
    server_host, server = build_server(scenario, kernel, link)
    world = CFirmwareWorld(scenario=scenario, profile=profile, seed=seed, kernel=kernel,
                           link=link, board=board, firmware=firmware, server_host=server_host,
                           server=server, settings=settings, firmware_label=choice.label)
    scenario.link.arm(link, world.sides)
    return world


_capabilities: dict[Path, tuple[float, Capability]] = {}


def firmware_capabilities(choice: FirmwareChoice) -> Capability:
    """What the C firmware ``choice`` declares it can do (asked once per library file,
    in a worker process like every call into it)."""
    assert choice.library is not None, "the Python model has no capability bits"
    mtime = choice.library.stat().st_mtime
    known = _capabilities.get(choice.library)
    if known is None or known[0] != mtime:
        calls = FirmwareProcess(choice.library)
        known = (mtime, calls.capabilities)
        calls.close()
        _capabilities[choice.library] = known
    return known[1]
