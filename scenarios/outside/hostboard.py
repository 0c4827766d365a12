"""A board on the host's network: the console protocol on an OS pty, the modelled client
on OS sockets (``smtp-hil board --pty --network host --config FILE``).

The emulated board's network is simulated, so a server on this machine cannot reach it.
This board is the smallest honest device under test with a real network: the console
protocol of :mod:`emulator.console` (the same tags, the same ``smtp send`` options,
parsed by the same functions) on a pty, and the client task the emulated board runs
(:func:`smtp.task.smtp_client_task`, any release) over the host stack
(:mod:`stack.host`), configured by a device configuration (:mod:`smtp.config`) as
``smtp-hil send`` is. Both are tasks of one :class:`~stack.host.runtime.HostRuntime`:
the console task reads the pty between 10 ms sleeps and prints each client event as it
happens (``SMTP: sent 250 ...``).

What a host has no equivalent for is refused with ``ERR:`` naming why: ``rtc set``
and ``rtc unset`` (its RTC is the host clock, UTC), ``stack stats`` (no buffer pool)
and ``reset``. Echo, backspace, Ctrl-C and the 1024-character line limit are the
emulated board's (:class:`emulator.consoleshell.ConsoleShell`, shared).

This module reads the wall clock (through the host runtime), OS sockets and a pty; it
is outside the simulation, and nothing deterministic may import it.
"""

from __future__ import annotations

import os
import threading
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Final

from emulator.console import ECHO_SETTINGS, HELP_LINES, SMTP_JOB_COMMANDS
from emulator.consoleshell import CommandError, ConsoleShell, format_fields
from smtp.events import describe
from smtp.hostclient import HostPorting
from smtp.profiles import Profile
from smtp.settings import ClientSettings
from smtp.task import ClientStatus, JobQueue, smtp_client_task
from stack.api import Sleep, Task, TaskContext
from stack.host.runtime import HostRuntime
from stack.host.stack import HostStack

POLL_US: Final = 10_000
"""How often the console task looks at the pty (real microseconds)."""
FOREVER_S: Final = 10 * 365 * 86400.0
MAX_PENDING_OUTPUT: Final = 1 << 20
"""Console output kept for a pty nobody reads before the oldest is dropped."""
HOST_RTC: Final = "the RTC of a host-network board is the host's clock (UTC)"
_NOT_HERE: Final = {
    "rtc set": HOST_RTC, "rtc unset": HOST_RTC,
    "stack stats": "a host-network board uses the OS stack (no buffer pool)",
    "reset": "a host-network board cannot reboot (stop the process instead)",
}
_HELP: Final = tuple(line for line in HELP_LINES if not line.startswith(tuple(_NOT_HERE)))


class HostBoard(ConsoleShell):
    """The console on a new pty, the client on the host stack (see the module docstring)."""

    def __init__(self, settings: ClientSettings, profile: Profile, *,
                 echo: bool = False) -> None:
        super().__init__(echo=echo)
        self.settings = settings
        self.profile = profile
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)  # no echo, no CR/LF translation, no line buffering
        os.set_blocking(self.master_fd, False)
        self.slave_path = os.ttyname(self.slave_fd)
        self.jobs = JobQueue()
        self.status = ClientStatus()
        self.submitted = 0
        self._stop = threading.Event()
        self._pending = bytearray()
        self.commands.update({
            "help": self._cmd_help, "version": self._cmd_version, "rtc": self._cmd_rtc,
            "smtp": self._cmd_smtp, "echo": self._cmd_echo,
            "stack": self._not_here("stack"), "reset": self._not_here("reset")})

    def stop(self) -> None:
        """Ask :meth:`serve` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    def serve(self, duration_s: float | None = None) -> None:
        """Run the console and the client until :meth:`stop` or ``duration_s`` seconds."""
        with HostStack() as stack:
            runtime = HostRuntime(stack)
            porting = HostPorting(self.settings)

            def client(ctx: TaskContext) -> Task:
                return smtp_client_task(ctx, settings=self.settings, profile=self.profile,
                                        porting=porting, jobs=self.jobs, status=self.status)

            runtime.spawn("smtp_client", client)
            runtime.spawn("console", self._task)
            try:
                runtime.run(self._stop.is_set, duration_s or FOREVER_S)
            except TimeoutError:
                if duration_s is None:
                    raise

    # ---- the console task ---------------------------------------------------------------
    def _task(self, ctx: TaskContext) -> Task:
        self.say([f"BOOT: {format_fields(boot=1, reason='power-on')}", self._version_line()])
        self.prompt()
        while True:
            self.print_new_events(self.status.events, lambda event: event)
            try:
                self.consume(os.read(self.master_fd, 4096))
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # EIO: nobody has the slave open (cannot happen while we hold it)
                pass
            self._flush()
            yield Sleep(POLL_US)

    def write(self, data: bytes) -> None:
        self._pending += data
        excess = len(self._pending) - MAX_PENDING_OUTPUT
        if excess > 0:
            del self._pending[:excess]

    def _flush(self) -> None:
        if not self._pending:
            return
        try:
            written = os.write(self.master_fd, self._pending)
        except (BlockingIOError, InterruptedError):
            return
        del self._pending[:written]

    # ---- commands -----------------------------------------------------------------------
    def _not_here(self, command: str) -> Callable[[list[str]], None]:
        def refuse(args: list[str]) -> None:
            words = " ".join([command, *args[:1]])
            if words not in _NOT_HERE:
                raise self.unknown([command, *args[:1]])
            raise CommandError(f"{words}: {_NOT_HERE[words]}")
        return refuse

    def _cmd_help(self, args: list[str]) -> None:
        self.no_args("help", args)
        self.say(f"HELP: {line}" for line in _HELP)

    def _cmd_version(self, args: list[str]) -> None:
        self.no_args("version", args)
        self.say([self._version_line()])

    def _cmd_rtc(self, args: list[str]) -> None:
        if args[:1] != ["get"]:
            self._not_here("rtc")(args)
        self.no_args("rtc get", args[1:])
        when = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.say([f"RTC: {format_fields(time=when, valid='true')}"])

    def _cmd_smtp(self, args: list[str]) -> None:
        sub, rest = (args[0], args[1:]) if args else ("", [])
        if sub == "status":
            self.no_args("smtp status", rest)
            status = self.status
            last = describe(status.events[-1]) if status.events else "none"
            self.say(["STATUS: " + format_fields(
                state=status.state.value, queued=len(self.jobs), sessions=status.sessions,
                events=len(status.events), submitted=self.submitted, last=last)])
            return
        if sub not in SMTP_JOB_COMMANDS:
            raise self.unknown(["smtp", *args[:1]])
        kind, parse = SMTP_JOB_COMMANDS[sub]
        job = parse(rest)
        self.jobs.submit(job)
        self.submitted += 1
        self.say([f"OK: {format_fields(queued=kind, job=self.submitted)}"])

    def _cmd_echo(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ECHO_SETTINGS:
            raise CommandError("echo: expected on or off")
        self.echo = ECHO_SETTINGS[args[0]]
        self.say([f"OK: {format_fields(echo=args[0])}"])

    def _version_line(self) -> str:
        return f"VERSION: {format_fields(release=self.profile.name, ip_stack='host')}"

    def close(self) -> None:
        os.close(self.master_fd)
        os.close(self.slave_fd)

    def __enter__(self) -> HostBoard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
