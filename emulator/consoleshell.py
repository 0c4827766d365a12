"""The console shell's line discipline, output framing and command dispatch, whatever
carries its bytes and whatever runs its commands.

:class:`ConsoleShell` is shared by the emulated board's console (:mod:`emulator.console`,
over the simulated UART) and the host-network board (:mod:`scenarios.outside.hostboard`,
over an OS pty), so both read and print alike: a line ends at CR or LF (CRLF counts
once); backspace/DEL edit the line, Ctrl-C drops it; a line over :data:`MAX_LINE`
characters is refused whole; arguments are split like a POSIX shell; every output line
ends with CRLF, and the prompt line always ends before anything else is printed. A
subclass gives :meth:`ConsoleShell.write` (the bytes out) and its commands
(:attr:`ConsoleShell.commands`), and may stop input (:meth:`ConsoleShell.input_stopped`).

This module knows the console's framing and the client's event wording; nothing about
boards, UARTs, ptys or sockets.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypeVar

from smtp.events import ClientEvent, describe

PROMPT: Final = "> "
MAX_LINE: Final = 1024
_BACKSPACE: Final = (0x08, 0x7F)
_CTRL_C: Final = 0x03
T = TypeVar("T")


class CommandError(ValueError):
    """A command line the console refuses; the message is printed after ``ERR: ``."""


def format_fields(**values: object) -> str:
    """``key=value`` fields, each value quoted as a POSIX shell would."""
    return " ".join(f"{k}={shlex.quote(str(v))}" for k, v in values.items())


def printable(text: str) -> str:
    """One line of output: control characters are shown escaped, never sent raw."""
    out = []
    for ch in text:
        if ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


class ConsoleShell:
    """Bytes in, command lines run, tagged lines out (see the module docstring)."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self.commands_run = 0
        self.commands: dict[str, Callable[[list[str]], None]] = {}
        self.events_printed = 0
        """How many of the client's events have been printed (:meth:`print_new_events`)."""
        self._line = bytearray()
        self._prompt_open = False
        self._skip_lf = False
        self._overlong = False

    # ---- what a subclass gives -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def input_stopped(self) -> bool:
        """True while input is to be dropped (a board going down)."""
        return False

    # ---- output ---------------------------------------------------------------------------
    def say(self, lines: Iterable[str]) -> None:
        self.end_prompt_line()
        self.write("".join(printable(line) + "\r\n" for line in lines).encode("utf-8"))

    def end_prompt_line(self) -> None:
        if self._prompt_open:
            self.write(b"\r\n")
            self._prompt_open = False

    def prompt(self) -> None:
        partial = self._line.decode("utf-8", errors="replace") if self.echo else ""
        self.write((PROMPT + partial).encode("utf-8"))
        self._prompt_open = True

    def print_new_events(self, events: Sequence[T], event_of: Callable[[T], ClientEvent]
                         ) -> None:
        """Print the entries of ``events`` not printed yet, one ``SMTP:`` line each;
        ``event_of`` gives an entry's client event."""
        if self.events_printed >= len(events):
            return
        new = events[self.events_printed:]
        self.events_printed = len(events)
        was_open = self._prompt_open
        self.say(f"SMTP: {describe(event_of(entry))}" for entry in new)
        if was_open:
            self.prompt()

    # ---- input ----------------------------------------------------------------------------
    def clear_line(self) -> None:
        """A fresh boot: the line buffer lives in RAM and starts empty."""
        self._line.clear()
        self._skip_lf = self._overlong = False

    def consume(self, data: bytes) -> None:
        for byte in data:
            if self.input_stopped():
                return  # the rest of the input is lost
            if self._skip_lf and byte == 0x0A:
                self._skip_lf = False
                continue
            self._skip_lf = False
            if byte in (0x0D, 0x0A):
                self._skip_lf = byte == 0x0D
                self._end_of_line()
            elif byte in _BACKSPACE:
                if self._line:
                    del self._line[-1]
                    if self.echo:
                        self.write(b"\b \b")
            elif byte == _CTRL_C:
                self._line.clear()
                self._overlong = False
                if self.echo:
                    self.write(b"^C")
                self.end_prompt_line()
                self.prompt()
            elif len(self._line) >= MAX_LINE:
                self._overlong = True
            else:
                self._line.append(byte)
                if self.echo:
                    self.write(bytes([byte]))

    def _end_of_line(self) -> None:
        text = self._line.decode("utf-8", errors="replace")
        self._line.clear()
        self.end_prompt_line()
        if self._overlong:
            self._overlong = False
            self.say([f"ERR: line too long (at most {MAX_LINE} characters)"])
        elif text.strip():
            self.run_line(text)
        if not self.input_stopped():
            self.prompt()

    def run_line(self, text: str) -> None:
        """Run one command line (as if typed), printing its answer."""
        self.commands_run += 1
        try:
            words = shlex.split(text)
        except ValueError as exc:
            self.say([f"ERR: cannot split the line: {exc}"])
            return
        if not words:
            return
        handler = self.commands.get(words[0])
        try:
            if handler is None:
                raise CommandError(f"unknown command {words[0]!r} (try help)")
            handler(words[1:])
        except CommandError as exc:
            self.say([f"ERR: {exc}"])

    @staticmethod
    def no_args(command: str, args: list[str]) -> None:
        if args:
            raise CommandError(f"{command}: expected no arguments, got {' '.join(args)!r}")

    @staticmethod
    def unknown(words: list[str]) -> CommandError:
        return CommandError(f"unknown command {' '.join(words)!r} (try help)")
