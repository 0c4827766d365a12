"""The devices of a ``[fleet]`` that run a C firmware (lwIP, or a team's own library).

A fleet mixes firmware device by device (``[fleet] firmware = { lwip = 3 }``, or every
device with ``[device] firmware`` / ``--firmware``). A C device is a
:class:`~emulator.cfirmware.board.CFirmwareBoard` with its own private instance of the
library in a worker process of its own, started when the device starts and released
when it is taken off the link: one instance per device and per run, as lwIP (which has
no de-initialisation) needs. Its configuration is the scenario's, at the device's own
address, with a seed drawn from the fleet's kernel like every other draw, so a mixed
fleet is as deterministic as a model-only one. Its board name is the device's (``d3``),
so its trace records sit beside the model devices'.

This module knows the C firmware board and adapter, the world's configuration of them
and the applicability check; the fleet's plan and outcome are :mod:`scenarios.fleet`'s.
"""

from __future__ import annotations

from pathlib import Path

from emulator.cfirmware.board import CFirmwareBoard, FirmwareRefused
from emulator.cfirmware.firmware import CFirmware
from emulator.cfirmware.worker import FirmwareProcess
from emulator.kernel import Kernel
from emulator.rtc import Rtc
from scenarios.applicability import check_applicable
from scenarios.cworld import firmware_capabilities, firmware_config
from scenarios.firmware_choice import FirmwareChoice, resolve_firmware
from scenarios.format import Scenario, ScenarioError
from scenarios.server.simdriver import SimServer
from scenarios.world import SERVER_IP
from smtp.settings import ClientSettings
from stack.link import Link


def fleet_firmware(scenario: Scenario, default: FirmwareChoice) -> list[FirmwareChoice]:
    """The firmware of each device, ``d0`` first: ``[fleet] firmware``'s entries in the
    order written, then ``default`` (``--firmware`` or ``[device] firmware``). Raises
    :class:`~emulator.cfirmware.library.FirmwareUnavailable` for a firmware that cannot
    be had and :class:`~scenarios.applicability.NotApplicable` for a C firmware that
    cannot run the scenario."""
    fleet = scenario.fleet
    assert fleet is not None, "a scenario with a [fleet]"
    base = Path(scenario.source).parent if scenario.source else None
    choices: list[FirmwareChoice] = []
    for setting, count in fleet.firmware.items():
        choices += [resolve_firmware(setting, base)] * count
    choices += [default] * (fleet.devices - len(choices))
    for choice in dict.fromkeys(c for c in choices if not c.is_model):
        check_applicable(scenario, choice.label, firmware_capabilities(choice))
    return choices


def start_c_device(scenario: Scenario, settings: ClientSettings, kernel: Kernel, link: Link,
                   choice: FirmwareChoice, *, name: str, ip: str,
                   rtc: Rtc) -> tuple[CFirmwareBoard, CFirmware]:
    """A C firmware device on ``link``, its firmware started (a refused configuration is
    a :class:`ScenarioError` naming the scenario file)."""
    assert choice.library is not None, "a C firmware"
    device = scenario.device
    board = CFirmwareBoard(kernel, FirmwareProcess(choice.library), name=name, ip=ip,
                           pool_buffers=device.pool_buffers, buffer_size=device.buffer_size,
                           rtc=rtc)
    board.attach(link)
    firmware = CFirmware(board, server_host=SERVER_IP, server_port=settings.server_port)
    try:
        board.start(firmware_config(scenario, settings, kernel,
                                    now_ms=kernel.now_us // 1000, ip=ip))
    except FirmwareRefused as exc:
        board.close()
        source = scenario.source or scenario.name
        raise ScenarioError([f"{source}: device: firmware {choice.label} refuses the "
                             f"configuration: {exc}"]) from None
    return board, firmware


def c_device_settled(board: CFirmwareBoard, firmware: CFirmware,
                     server: SimServer | None) -> bool:
    """The device is done with the network: no job open, no buffer held, and no
    connection of the server's from its address still open."""
    if board.stopped:
        return True
    open_here = server is not None and any(
        not c.closed and (c.raw.remote_address or ("",))[0] == board.ip
        for c in server.connections)
    return firmware.idle and board.pool.in_use == 0 and not open_here


def c_device_problems(board: CFirmwareBoard) -> list[str]:
    """The device's fault (assertion, crash, hang) and malformed packets, named."""
    fault = [board.fault.text] if board.fault is not None else []
    return [f"{board.name}: {text}" for text in fault + list(board.wire_problems)]
