"""Console keywords: a board's serial console through any pyserial URL.

``Open Console`` takes what ``serial.serial_for_url`` takes: ``hil://NAME`` (an emulated
board published by `Boot Emulated Board` with ``console=NAME``), ``socket://host:port``
(Renode's server socket terminal, a ser2net bridge) or a real port (``/dev/ttyUSB0``,
``COM3``). The same test drives all of them.

Time: a timeout is measured on the port's own clock. For ``hil://`` that is the emulated
board's virtual time: a read advances it, so waiting 10 minutes for a line costs
milliseconds of wall time. For every other port it is the host's clock, as it must be
for a real board. Lines end at LF (a CR before it is dropped); every line read is logged.

This module knows pyserial, the ``hil://`` registry (for the virtual clock) and the
console's ``key=value`` field format; nothing about boards, servers or SMTP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial  # type: ignore[import-untyped]
from robot.api import logger

from emulator import serialurl
from emulator.console import parse_fields
from emulator.units import SECOND
from scenarios.robotlib.context import (
    Duration,
    LibraryComponent,
    LibraryContext,
    NotReady,
    duration_us,
    keyword,
    seconds_text,
)


def port_clock(url: str) -> Callable[[], float]:
    """Seconds on the clock a port's timeouts run on: virtual for ``hil://``, else wall."""
    prefix = f"{serialurl.SCHEME}://"
    if url.startswith(prefix):
        name = url[len(prefix):].rstrip("/")
        return lambda: serialurl.lookup(name).kernel.now_us / SECOND
    return time.monotonic


@dataclass
class ConsoleConnection:
    """One open console: the port, its clock, its line ending and unread bytes."""

    url: str
    port: Any
    clock: Callable[[], float]
    line_ending: str
    pending: bytearray = field(default_factory=bytearray)

    def write_line(self, text: str) -> None:
        self.port.write((text + self.line_ending).encode("utf-8"))
        self.port.flush()

    def _take_line(self) -> str | None:
        end = self.pending.find(b"\n")
        if end < 0:
            return None
        raw = bytes(self.pending[:end])
        del self.pending[:end + 1]
        return raw.rstrip(b"\r").decode("utf-8", errors="replace")

    def next_line(self, deadline: float) -> str | None:
        """The next whole line, or None when ``deadline`` (on the port's clock) passes."""
        while True:
            line = self._take_line()
            if line is not None:
                return line
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            self.port.timeout = remaining
            waiting = self.port.in_waiting
            chunk = self.port.read(waiting if waiting > 0 else 1)
            self.pending += chunk

    def available(self) -> str:
        """Everything readable now without waiting (whole lines and a partial one)."""
        waiting = self.port.in_waiting
        if waiting:
            self.port.timeout = 0
            self.pending += self.port.read(waiting)
        text = bytes(self.pending).decode("utf-8", errors="replace")
        self.pending.clear()
        return text

    def close(self) -> None:
        self.port.close()


class ConsoleKeywords(LibraryComponent):
    """Serial consoles: open by URL, write lines, wait for lines matching a pattern."""

    AREA = "console"

    def __init__(self, ctx: LibraryContext) -> None:
        super().__init__(ctx)
        self._consoles: dict[str, ConsoleConnection] = {}
        self._current: str | None = None

    def _console(self) -> ConsoleConnection:
        if self._current is None:
            raise NotReady("No console is open: open one with `Open Console` first.")
        return self._consoles[self._current]

    @keyword()
    def open_console(self, url: str, alias: str | None = None, baudrate: int = 115200,
                     line_ending: str = "\r") -> str:
        """Opens the console at pyserial URL ``url`` and makes it the current one; returns
        its alias (``url`` unless ``alias`` is given).

        ``line_ending`` is what `Write Console Line` sends after the text (``\\r``, as
        Enter in a terminal; ``\\r\\n`` or ``\\n`` for consoles that want them).
        Whatever the board printed before is kept and read by the next wait.

        | `Open Console` | hil://board | | |
        | `Open Console` | socket://localhost:4321 | alias=renode | |
        | `Open Console` | /dev/ttyUSB0 | baudrate=115200 | line_ending=\\r\\n |
        """
        name = url if alias is None else alias
        if name in self._consoles:
            self.close_console(name)
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
        self._consoles[name] = ConsoleConnection(url=url, port=port, clock=port_clock(url),
                                                 line_ending=line_ending)
        self._current = name
        return name

    @keyword()
    def switch_console(self, alias: str) -> str | None:
        """Makes the console opened as ``alias`` the current one; returns the previous
        alias (or None).

        | ${before} = | `Switch Console` | renode |
        """
        if alias not in self._consoles:
            known = ", ".join(self._consoles) or "none"
            raise ValueError(f"alias: no console open as {alias!r} (open: {known})")
        previous, self._current = self._current, alias
        return previous

    @keyword()
    def close_console(self, alias: str | None = None) -> None:
        """Closes the current console (or the one opened as ``alias``).

        | `Close Console` |
        """
        name = alias if alias is not None else self._current
        if name is None or name not in self._consoles:
            return
        self._consoles.pop(name).close()
        if self._current == name:
            self._current = next(iter(self._consoles), None)

    def open_aliases(self) -> list[str]:
        """The aliases of the consoles open now (not a keyword)."""
        return list(self._consoles)

    @keyword()
    def close_all_consoles(self) -> None:
        """Closes every console this library opened.

        | `Close All Consoles` |
        """
        for name in list(self._consoles):
            self.close_console(name)

    @keyword()
    def write_console_line(self, text: str) -> None:
        """Types ``text`` and the line ending into the current console. Nothing is read:
        the answer waits for `Wait For Console Line`.

        | `Write Console Line` | rtc get |
        | `Write Console Line` | smtp send --from a@example.com --to b@example.net --body "hi" |
        """
        self._console().write_line(text)

    @keyword()
    def wait_for_console_line(self, pattern: str,
                              timeout: Duration = "10 s") -> str:
        """Reads console lines until one contains a match of the regular expression
        ``pattern`` and returns that line (without its line end). Lines before it are
        logged and consumed. Fails after ``timeout`` on the port's clock (virtual time for
        ``hil://``), listing the lines that did come.

        | `Wait For Console Line` | ^VERSION: | |
        | ${line} = | `Wait For Console Line` | ^SMTP: (sent\\|error) | timeout=10 min |
        """
        console = self._console()
        regex = re.compile(pattern)
        within = duration_us(timeout, "timeout")
        deadline = console.clock() + within / SECOND
        seen: list[str] = []
        while True:
            line = console.next_line(deadline)
            if line is None:
                shown = "\n".join(seen[-15:]) or "(nothing)"
                raise AssertionError(f"No line matching {pattern!r} came from console "
                                     f"{console.url} within {seconds_text(within)}. It "
                                     f"printed:\n{shown}")
            logger.info(f"{console.url}: {line}")
            if regex.search(line):
                return line
            seen.append(line)

    @keyword()
    def run_console_command(self, command: str, expect: str,
                            timeout: Duration = "10 s",
                            fail_on: str | None = None) -> str:
        """`Write Console Line` ``command``, then `Wait For Console Line` ``expect``;
        returns the line. With ``fail_on`` (a regular expression, e.g. ``^ERR:``), a line
        matching it before the expected one fails the keyword with that line.

        | ${rtc} = | `Run Console Command` | rtc get | ^RTC: | fail_on=^ERR: |
        """
        console = self._console()
        console.write_line(command)
        if fail_on is None:
            return self.wait_for_console_line(expect, timeout)
        line = self.wait_for_console_line(f"(?:{expect})|(?:{fail_on})", timeout)
        if re.search(fail_on, line) and not re.search(expect, line):
            raise AssertionError(f"The console answered {line!r} to {command!r}.")
        return line

    @keyword()
    def read_console_output(self) -> str:
        """Everything the current console has printed that was not read yet, without
        waiting (for ``hil://``, after running what is due at the current instant).

        | ${text} = | `Read Console Output` |
        """
        text = self._console().available()
        if text:
            logger.info(f"{self._console().url}: {text!r}")
        return text

    @keyword()
    def get_console_fields(self, line: str) -> dict[str, str]:
        """The ``key=value`` fields of a console line, as a dictionary (values are text;
        quoted values are unquoted as a POSIX shell would).

        | ${line} = | `Run Console Command` | stack stats | ^STACK: |
        | ${stats} = | `Get Console Fields` | ${line} | |
        | `Should Be Equal` | ${stats}[failed_allocations] | 0 |
        """
        return parse_fields(line)
