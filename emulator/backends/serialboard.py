"""A line console over any pyserial URL, and a real board driven through it.

:class:`SerialConsole` opens a port with ``serial.serial_for_url``: a real serial port
(``/dev/ttyUSB0``), ``socket://127.0.0.1:PORT`` (Renode's server socket terminal, a
ser2net, any TCP console), ``loop://`` (pyserial's loopback), ``rfc2217://`` or the
emulated board's own ``hil://NAME``. It writes command lines and reads answer lines with
timeouts by the port's clock: the wall clock, except on ``hil://``, where a read
advances virtual time, so long timeouts cost nothing there. Opening a port discards
whatever arrived before (pyserial's ``open()`` flushes its input), so a boot banner
printed before the console connects is gone: send a command (or an empty line), then
wait for the answer.

Cancelling: a read waits as long as it was told to (a board's job may take minutes), in
whichever thread calls it. :meth:`SerialConsole.cancel`, from any thread, stops the read
in progress (or the next one) within :data:`CANCEL_POLL_S`: it raises
:class:`ConsoleCancelled` in the reading thread. So a program that reads the console in a
worker thread (``smtp-hil audit --board``) stops at once on Ctrl-C rather than when the
read's timeout runs out. A wall-clock port is read in slices of at most
:data:`CANCEL_POLL_S` for that (pyserial's ``cancel_read`` exists only for some ports:
not ``socket://``); a port whose reads wait in virtual time (``hil://``: its
``virtual_clock`` attribute) is read in one piece, since its reads cost no wall time.

Telnet: a TCP terminal that speaks telnet (Renode's server socket terminal unless it is
created with telnet mode off) starts with IAC negotiation bytes (``IAC WILL ECHO`` ...).
They are not console text: :class:`TelnetStripper` drops every IAC command, including
subnegotiations and sequences split across reads, and turns ``IAC IAC`` back into one
0xFF byte. Nothing is answered, so the terminal keeps its defaults.

:class:`RealBoard` is a board on a serial port running the console protocol of
:mod:`emulator.console` (``smtp send --from ... --to ...`` answered by ``OK: ...`` and,
when the job ends, ``SMTP: sent 250 2.0.0 OK``). Its network is not ours: point it at
a scripted server started with ``smtp-hil serve`` on a host it can reach.

This module knows pyserial, telnet framing and the console's line protocol; nothing
about kernels, scenarios or servers. It is outside the simulation: it reads the wall
clock (timeouts) and OS devices, so it must never be used from inside a simulated run.
"""

from __future__ import annotations

import enum
import re
import shlex
import threading
import time
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Final

import serial  # type: ignore[import-untyped]

from smtp.events import TERMINAL_EVENT_NAMES
from smtp.message import MailJob

IAC: Final = 0xFF
SB: Final = 0xFA
SE: Final = 0xF0
_OPTION_COMMANDS: Final = frozenset({0xFB, 0xFC, 0xFD, 0xFE})  # WILL, WONT, DO, DONT

#: A console line of an event that ends a job (``smtp.events.describe`` after ``SMTP: ``).
_TERMINAL_LINE: Final = re.compile(r"^SMTP: (?:" + "|".join(TERMINAL_EVENT_NAMES) + r")\b")


CANCEL_POLL_S: Final = 0.1
"""The longest a read of a wall-clock port waits before it looks whether it was
cancelled (:meth:`SerialConsole.cancel`)."""


class ConsoleTimeout(TimeoutError):
    """No (matching) line arrived in time; the message quotes the last lines seen."""


class ConsoleCancelled(Exception):
    """:meth:`SerialConsole.cancel` stopped the read (from another thread)."""


class TelnetState(enum.Enum):
    """Where :class:`TelnetStripper` is in the byte stream."""

    DATA = "data"  # console text
    IAC = "iac"  # after IAC: a command byte comes
    OPTION = "option"  # after IAC WILL/WONT/DO/DONT: the option byte comes
    SUB = "sub"  # inside a subnegotiation (IAC SB ... IAC SE)
    SUB_IAC = "sub_iac"  # an IAC inside a subnegotiation: SE ends it


class TelnetStripper:
    """Removes telnet commands from a byte stream, fed in any pieces."""

    def __init__(self) -> None:
        self._state = TelnetState.DATA

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        state = self._state
        for byte in data:
            match state:
                case TelnetState.DATA:
                    if byte == IAC:
                        state = TelnetState.IAC
                    else:
                        out.append(byte)
                case TelnetState.IAC:
                    if byte == IAC:
                        out.append(IAC)
                        state = TelnetState.DATA
                    elif byte in _OPTION_COMMANDS:
                        state = TelnetState.OPTION
                    elif byte == SB:
                        state = TelnetState.SUB
                    else:
                        state = TelnetState.DATA  # a two-byte command: NOP, GA, AYT, ...
                case TelnetState.OPTION:
                    state = TelnetState.DATA
                case TelnetState.SUB:
                    if byte == IAC:
                        state = TelnetState.SUB_IAC
                case TelnetState.SUB_IAC:
                    state = TelnetState.DATA if byte == SE else TelnetState.SUB
        self._state = state
        return bytes(out)


class SerialConsole:
    """Lines in and out of a pyserial URL (see the module docstring)."""

    def __init__(self, url: str, *, baudrate: int = 115200, line_end: str = "\r\n",
                 history: int = 50) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url: expected a pyserial URL or port name, got {url!r}")
        if not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(f"baudrate: expected a positive integer, got {baudrate!r}")
        if line_end not in ("\r\n", "\n", "\r"):
            raise ValueError(f"line_end: expected '\\r\\n', '\\n' or '\\r', got {line_end!r}")
        self.url = url
        self.line_end = line_end
        self.port: Any = serial.serial_for_url(url, baudrate=baudrate, timeout=CANCEL_POLL_S)
        self._virtual_clock = getattr(self.port, "virtual_clock", False) is True
        self._cancelled = threading.Event()
        self.history: deque[str] = deque(maxlen=history)
        self._telnet = TelnetStripper()
        self._pending = bytearray()
        self._skip_lf = False

    def write_line(self, text: str) -> None:
        """Send ``text`` and the line end; ``text`` must be one line."""
        if "\r" in text or "\n" in text:
            raise ValueError(f"text: expected one line without CR or LF, got {text!r}")
        self.port.write((text + self.line_end).encode("utf-8"))
        self.port.flush()

    def read_line(self, timeout: float = 5.0) -> str:
        """The next line, without its line end; ConsoleTimeout if none ends in time."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._take_line()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._fill(remaining):
                raise ConsoleTimeout(self._timeout_text(f"no complete line within {timeout} s"))

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float = 5.0) -> re.Match[str]:
        """Read lines until one matches ``pattern`` (``re.search``); lines before it are
        skipped (they stay in :attr:`history`)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.read_line(max(remaining, 0.0))
            except ConsoleTimeout:
                raise ConsoleTimeout(self._timeout_text(
                    f"no line matching {regex.pattern!r} within {timeout} s")) from None
            match = regex.search(line)
            if match is not None:
                return match

    def cancel(self) -> None:
        """Stop the read in progress in another thread, or the next read if none is: it
        raises :class:`ConsoleCancelled` within :data:`CANCEL_POLL_S`. Safe from any
        thread."""
        self._cancelled.set()

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> SerialConsole:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------
    def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout`` by the port's clock; False if nothing did
        (on ``hil://`` that clock is virtual: the wait cost no wall time). A wall-clock
        port is read in slices, each ended by a look at :meth:`cancel`'s flag."""
        if self._virtual_clock:
            self._check_cancelled()
            return self._read_some(timeout)
        deadline = time.monotonic() + timeout
        while True:
            self._check_cancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._read_some(min(remaining, CANCEL_POLL_S)):
                return True

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            self._cancelled.clear()
            raise ConsoleCancelled(self._timeout_text("the read was cancelled"))

    def _read_some(self, timeout: float) -> bool:
        """One read of what arrives within ``timeout``; False if nothing did."""
        try:
            if self.port.timeout != timeout:  # setting it reconfigures a real port
                self.port.timeout = timeout
            data = bytes(self.port.read(max(1, self.port.in_waiting)))
        except serial.SerialException as exc:
            raise ConnectionError(self._timeout_text(f"the port failed: {exc}")) from None
        self._pending += self._telnet.feed(data)
        return bool(data)

    def _take_line(self) -> str | None:
        if self._skip_lf and self._pending:
            if self._pending[:1] == b"\n":
                del self._pending[:1]
            self._skip_lf = False
        ends = [i for i in (self._pending.find(b"\n"), self._pending.find(b"\r")) if i >= 0]
        if not ends:
            return None
        end = min(ends)
        raw = bytes(self._pending[:end])
        skip = 2 if self._pending[end:end + 2] == b"\r\n" else 1
        # A CR that ends the buffer may be the first half of a CRLF still on its way.
        self._skip_lf = self._pending[end:] == b"\r"
        del self._pending[:end + skip]
        line = raw.decode("utf-8", errors="replace")
        self.history.append(line)
        return line

    def _timeout_text(self, what: str) -> str:
        seen = list(self.history)[-10:]
        shown = "\n".join(f"  {line}" for line in seen) if seen else "  (nothing)"
        return f"{self.url}: {what}; last lines read:\n{shown}"


def _escape_body(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r\n", "\n").replace("\n", "\\n").replace(
        "\t", "\\t")


def send_command(job: MailJob) -> str:
    """The console's ``smtp send`` line for ``job`` (text bodies only)."""
    if not isinstance(job.body, str):
        raise ValueError("job.body: expected text; the console cannot carry a bytes body")
    if job.attachments:
        raise ValueError("job.attachments: expected none; the console has no attachment option")
    words = ["smtp", "send", "--from", job.sender]
    for option, addresses in (("--to", job.to), ("--cc", job.cc), ("--bcc", job.bcc)):
        for address in addresses:
            words += [option, address]
    if job.subject:
        words += ["--subject", job.subject]
    if job.body:
        words += ["--body", _escape_body(job.body)]
    return shlex.join(words)


class RealBoard:
    """A board on a serial port (or any pyserial URL) speaking the console protocol."""

    def __init__(self, url: str, *, baudrate: int = 115200, line_end: str = "\r\n") -> None:
        self.console = SerialConsole(url, baudrate=baudrate, line_end=line_end)

    def command(self, line: str, *, expect: str = r"^(?:OK|ERR): ",
                timeout: float = 5.0) -> re.Match[str]:
        """Send one command line and wait for the line that answers it."""
        self.console.write_line(line)
        return self.console.wait_for_line(expect, timeout)

    def send_mail(self, job: MailJob, *, timeout: float = 600.0) -> str:
        """Queue ``job`` and wait for its terminal event; the event line without the
        ``SMTP: `` tag (``sent 250 2.0.0 OK``). A refused command raises ValueError."""
        answer = self.command(send_command(job))
        if answer.group(0).startswith("ERR"):
            raise ValueError(f"the board refused the job: {answer.string}")
        return self.wait_for_event(timeout=timeout)

    def wait_for_event(self, *, timeout: float = 600.0) -> str:
        """The next terminal event line, without the ``SMTP: `` tag (ConsoleTimeout if
        none comes in time): the end of a job queued earlier."""
        return self.console.wait_for_line(_TERMINAL_LINE, timeout).string[len("SMTP: "):]

    def cancel(self) -> None:
        """Stop the console read in progress in another thread (see
        :meth:`SerialConsole.cancel`): it raises :class:`ConsoleCancelled`."""
        self.console.cancel()

    def events(self, lines: Iterable[str] | None = None) -> list[str]:
        """The ``SMTP:`` lines read so far (from :attr:`SerialConsole.history`)."""
        seen = self.console.history if lines is None else lines
        return [line[len("SMTP: "):] for line in seen if line.startswith("SMTP: ")]

    def close(self) -> None:
        self.console.close()

    def __enter__(self) -> RealBoard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
