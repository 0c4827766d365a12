"""A ready-made emulated device to talk to: a scenario's world with a console on a UART.

:func:`open_session` builds the world of a scenario (kernel, link, board with the SMTP
firmware of a release profile, the scripted server) with
:func:`scenarios.world.build_world`, adds a :class:`~emulator.uart.Uart` and the
:class:`~emulator.console.Console` task to the board, and boots it (the banner is
waiting in the UART). The scenario's own job is *not* submitted: jobs come from the
console (``smtp send ...``). Everything runs in virtual time; nothing moves until
someone runs the kernel: a ``hil://`` read, :meth:`DeviceSession.settle`, or the pty
bridge.

This module wires the console into a world and offers a few conveniences for tests and
keyword libraries (:meth:`DeviceSession.command`). It lives with the scenarios because it
builds its world from a scenario: the emulator below knows nothing of scenario files. It
parses no command line and knows nothing about pyserial beyond publishing the session's
name (:mod:`emulator.serialurl`).
"""

from __future__ import annotations

from pathlib import Path

from emulator import serialurl
from emulator.board import Board
from emulator.console import Console
from emulator.consoleshell import PROMPT
from emulator.firmware import SmtpFirmware
from emulator.kernel import Kernel
from emulator.uart import Uart
from scenarios.catalog import DEFAULT_SCENARIO
from scenarios.format import Scenario
from scenarios.runner import resolve_scenario
from scenarios.server.mailbox import ReceivedMail
from scenarios.server.simdriver import SimServer
from scenarios.world import World, build_world


class DeviceSession:
    """One emulated device with its console, its network and its scripted server."""

    def __init__(self, world: World, *, echo: bool = False, baud: int | None = None) -> None:
        self.world = world
        self.uart = Uart(world.kernel, name=f"{world.board.name}.uart", baud=baud)
        self.console = Console(world.board, self.uart, world.firmware, echo=echo)
        self.published_as: str | None = None

    # ---- the parts ----------------------------------------------------------------------
    @property
    def kernel(self) -> Kernel:
        return self.world.kernel

    @property
    def board(self) -> Board:
        return self.world.board

    @property
    def firmware(self) -> SmtpFirmware:
        return self.world.firmware

    @property
    def server(self) -> SimServer | None:
        return self.world.server

    @property
    def mailbox(self) -> list[ReceivedMail]:
        """Every mail the scripted server received in full, in order."""
        server = self.world.server
        return [m for c in (server.connections if server else []) for m in c.engine.mailbox]

    # ---- publishing -----------------------------------------------------------------------
    def publish(self, name: str) -> str:
        """Make the console reachable as ``hil://<name>`` in this process; returns the URL."""
        url = serialurl.publish(name, self)
        self.published_as = name
        return url

    def withdraw(self) -> None:
        if self.published_as is not None:
            serialurl.withdraw(self.published_as)
            self.published_as = None

    # ---- driving it ------------------------------------------------------------------------
    def settle(self, limit_us: int | None = None) -> None:
        """Run what is due now, then until the SMTP client is idle again.

        ``limit_us`` bounds the virtual time spent (default: the scenario's time limit).
        Idle time is free, so waiting out a 10-minute timeout costs milliseconds.
        """
        kernel, firmware = self.kernel, self.firmware
        kernel.run(until_us=kernel.now_us)
        limit = self.world.scenario.time_limit_us if limit_us is None else limit_us
        kernel.run(until_us=kernel.now_us + limit, stop=lambda: firmware.idle)
        kernel.run(until_us=kernel.now_us)

    def output(self) -> str:
        """Everything the console printed that nobody has collected yet."""
        return self.uart.take_tx().decode("utf-8", errors="replace")

    def output_lines(self) -> list[str]:
        """:meth:`output` as lines, without the prompt lines (``"> "`` and echoed input)."""
        return [line for line in self.output().split("\r\n")
                if line and not line.startswith(PROMPT)]

    def command(self, line: str, *, limit_us: int | None = None) -> list[str]:
        """Type ``line`` and Enter, :meth:`settle`, and return the new output lines."""
        self.uart.feed(line.encode("utf-8") + b"\r")
        self.settle(limit_us)
        return self.output_lines()


def open_session(scenario: str | Path | Scenario = DEFAULT_SCENARIO, profile: str = "current",
                 seed: int = 0, *, echo: bool = False, baud: int | None = None,
                 publish_as: str | None = None) -> DeviceSession:
    """A booted device for ``scenario`` (a catalog name, a file, or a Scenario)."""
    if not isinstance(scenario, Scenario):
        scenario = resolve_scenario(str(scenario))
    session = DeviceSession(build_world(scenario, profile, seed), echo=echo, baud=baud)
    session.kernel.run(until_us=session.kernel.now_us)  # power-on: the banner is printed
    if publish_as is not None:
        session.publish(publish_as)
    return session
