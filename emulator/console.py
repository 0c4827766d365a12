"""The console shell the board runs on its UART.

A board task reads command lines from the UART receive FIFO (woken by the UART receive
interrupt), runs them and writes the answers back; SMTP client events are printed as
they happen, one line each, prefixed ``SMTP: `` (``SMTP: sent 250 2.0.0 OK``,
``SMTP: command_abort MAIL 550 5.7.1 Refused``: :func:`smtp.events.describe`).

The output is meant for programs as much as for people:

- every output line ends with CRLF and starts with an upper-case tag and a colon:
  ``BOOT:``, ``VERSION:``, ``HELP:``, ``RTC:``, ``OK:``, ``STATUS:``, ``STACK:``,
  ``SMTP:``, ``ERR:``; most carry ``key=value`` fields, quoted as a POSIX shell would
  (:func:`parse_fields` reads them back);
- the prompt is ``"> "``. The prompt line always ends (CRLF) before anything else is
  printed: when a command line ends, and before an event printed while the prompt
  waits. A reader that skips lines starting with ``"> "`` sees only tagged lines;
- a line ends at CR or LF (CRLF counts once); echo is off by default (``echo on`` turns
  it on, for people at a terminal); backspace/DEL edit the line, Ctrl-C drops it;
- arguments are split like a POSIX shell (``shlex``): ``smtp send --from a@b --to c@d
  --subject "x y" --body "line one\\nline two"``; in ``--body`` the escapes ``\\n``,
  ``\\t`` and ``\\\\`` stand for a line break, a tab and a backslash;
- errors: ``ERR: unknown command 'x' (try help)`` and ``ERR: <command>: <what was
  expected>``.

``reset`` reboots the board (:meth:`Board.reset`); the console task starts again and
prints its boot banner. Bytes still unread when the board resets are lost with the RAM.

This module knows the board, its UART and RTC, the SMTP firmware's job API and the
client's events. It knows nothing about scenarios, servers, pyserial or ptys.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from emulator.board import Board
from emulator.consoleshell import (
    CommandError,
    ConsoleShell,
    format_fields,
)
from emulator.firmware import SmtpFirmware
from emulator.trace import TraceRecord
from emulator.uart import Uart
from smtp.events import describe
from smtp.jobs import EtrnJob, Job, MailJob, VrfyJob
from stack.api import Task, TaskContext, Wait

HELP_LINES = (
    "help                          this list",
    "version                       the client's release profile",
    "rtc get                       read the RTC (UTC)",
    "rtc set <time>                set the RTC, e.g. rtc set 2024-05-01T12:00:00 (UTC)",
    "rtc unset                     lose the time, as a flat backup battery does (1970)",
    "smtp send --from A --to B [--to C] [--cc D] [--bcc E] [--subject S] [--body T]",
    "smtp vrfy <address>           ask the server to verify a mailbox",
    "smtp etrn <node>              ask the server to start its queue for node",
    "smtp status                   the client's state and last event",
    "stack stats                   IP buffer pool use and dropped frames",
    "echo on|off                   echo typed characters (off by default)",
    "reset                         reboot the board",
)

_MAIL_OPTIONS = {"--from": "sender", "--to": "to", "--cc": "cc", "--bcc": "bcc",
                 "--subject": "subject", "--body": "body"}
_REPEATABLE = frozenset({"to", "cc", "bcc"})
_BODY_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def parse_fields(line: str) -> dict[str, str]:
    """``"STACK: in_use=3 free=13"`` -> ``{"in_use": "3", "free": "13"}`` (tag dropped)."""
    _tag, _, rest = line.strip().partition(": ")
    fields: dict[str, str] = {}
    for token in shlex.split(rest):
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def _unescape_body(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _BODY_ESCAPES:
            out.append(_BODY_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_mail_options(args: list[str]) -> MailJob:
    """The ``smtp send`` options as a mail job; CommandError names what is wrong."""
    values: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        token = args[i]
        option, eq, inline = token.partition("=")
        field = _MAIL_OPTIONS.get(option)
        if field is None:
            known = ", ".join(_MAIL_OPTIONS)
            raise CommandError(f"smtp send: unknown option {token!r} (known: {known})")
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(args):
            value = args[i + 1]
            i += 2
        else:
            raise CommandError(f"smtp send: {option}: expected a value")
        if field not in _REPEATABLE and field in values:
            raise CommandError(f"smtp send: {option}: given twice")
        values.setdefault(field, []).append(value)
    if "sender" not in values:
        raise CommandError("smtp send: --from: expected the sender's address")
    if not any(values.get(f) for f in ("to", "cc", "bcc")):
        raise CommandError("smtp send: --to: expected at least one recipient")
    job = MailJob(sender=values["sender"][0], to=tuple(values.get("to", ())),
                  cc=tuple(values.get("cc", ())), bcc=tuple(values.get("bcc", ())),
                  subject=values.get("subject", [""])[0],
                  body=_unescape_body(values.get("body", [""])[0]))
    problems = job.problems()
    if problems:
        raise CommandError("smtp send: " + "; ".join(problems))
    return job


def parse_vrfy_args(args: list[str]) -> VrfyJob:
    """``smtp vrfy`` arguments as a VRFY job."""
    if len(args) != 1:
        raise CommandError("smtp vrfy: expected one address, e.g. smtp vrfy ops@x.net")
    return VrfyJob(args[0])


def parse_etrn_args(args: list[str]) -> EtrnJob:
    """``smtp etrn`` arguments as an ETRN job."""
    if len(args) != 1:
        raise CommandError("smtp etrn: expected one node, e.g. smtp etrn example.com")
    return EtrnJob(args[0])


SMTP_JOB_COMMANDS: Final[dict[str, tuple[str, Callable[[list[str]], Job]]]] = {
    "send": ("mail", parse_mail_options),
    "vrfy": ("vrfy", parse_vrfy_args),
    "etrn": ("etrn", parse_etrn_args),
}
"""``smtp <sub>`` that queue a job: the job's kind (as ``OK: queued=`` says) and the
parser of its arguments."""
ECHO_SETTINGS: Final = {"on": True, "off": False}


def parse_rtc_time(args: list[str]) -> datetime:
    """``rtc set`` arguments as an aware UTC datetime (naive means UTC)."""
    text = " ".join(args)
    example = "expected a time like 2024-05-01T12:00:00 (UTC, or with an offset)"
    if not text:
        raise CommandError(f"rtc set: {example}")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"rtc set: {example}, got {text!r}") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when.year < 1970:
        raise CommandError(f"rtc set: expected a time from 1970 on, got {text!r}")
    return when


class Console(ConsoleShell):
    """The console shell task on ``board``, talking over ``uart``."""

    def __init__(self, board: Board, uart: Uart, firmware: SmtpFirmware, *, echo: bool = False,
                 name: str = "console") -> None:
        super().__init__(echo=echo)
        self.board = board
        self.uart = uart
        self.firmware = firmware
        self.name = name
        self.events_printed = len(firmware.events)
        self._ctx: TaskContext | None = None
        self._reset_pending = False
        self.commands.update({
            "help": self._cmd_help, "version": self._cmd_version, "rtc": self._cmd_rtc,
            "smtp": self._cmd_smtp, "stack": self._cmd_stack, "echo": self._cmd_echo,
            "reset": self._cmd_reset,
        })
        self._rtc_commands: dict[str, Callable[[list[str]], None]] = {
            "get": self._rtc_get, "set": self._rtc_set, "unset": self._rtc_unset,
        }
        board.kernel.trace.subscribe(self._on_trace)
        board.spawn(name, self._task)

    # ---- the task -----------------------------------------------------------------------
    def _task(self, ctx: TaskContext) -> Task:
        # A fresh boot: the line buffer lives in RAM and starts empty. (Whether a prompt
        # is open is the terminal's state: the banner then starts on a line of its own.)
        self._ctx = ctx
        self.clear_line()
        self._reset_pending = False
        self.uart.on_rx = ctx.wake
        self._banner()
        self.prompt()
        while True:
            self.print_new_events(self.firmware.events, lambda timed: timed.event)
            if not self._reset_pending:
                self.consume(self.uart.read())
            yield Wait()

    def _on_trace(self, record: TraceRecord) -> None:
        # The client logs each event as it notifies it; wake up to print it.
        if (record.kind == "event" and record.source.startswith(self.board.name + ".")
                and self._ctx is not None):
            self._ctx.wake()

    # ---- the shell's hooks --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.uart.write(data)

    def input_stopped(self) -> bool:
        return self._reset_pending  # the board is going down: the rest of the input is lost

    # ---- output -----------------------------------------------------------------------
    def _banner(self) -> None:
        stats = self.board.stats
        reason = stats.reset_reasons[-1] if stats.reset_reasons else "power-on"
        lines = [f"BOOT: {format_fields(boot=stats.boots, reason=reason)}", self._version_line()]
        if self.firmware.config_refused is not None:
            lines.append(f"ERR: configuration refused: {self.firmware.config_refused}")
        self.say(lines)

    def _version_line(self) -> str:
        profile = self.firmware.profile
        return f"VERSION: {format_fields(release=profile.name, ip_stack=profile.ip_stack)}"

    # ---- commands -----------------------------------------------------------------------
    def _cmd_help(self, args: list[str]) -> None:
        self.no_args("help", args)
        self.say(f"HELP: {line}" for line in HELP_LINES)

    def _cmd_version(self, args: list[str]) -> None:
        self.no_args("version", args)
        self.say([self._version_line()])

    def _rtc_line(self) -> str:
        rtc = self.board.rtc
        when = rtc.now().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"RTC: {format_fields(time=when, valid=str(rtc.valid).lower())}"

    def _cmd_rtc(self, args: list[str]) -> None:
        action = self._rtc_commands.get(args[0]) if args else None
        if action is None:
            raise self.unknown(["rtc", *args[:1]])
        action(args[1:])
        self.say([self._rtc_line()])

    def _rtc_get(self, args: list[str]) -> None:
        self.no_args("rtc get", args)

    def _rtc_set(self, args: list[str]) -> None:
        self.board.rtc.set(parse_rtc_time(args))

    def _rtc_unset(self, args: list[str]) -> None:
        self.no_args("rtc unset", args)
        self.board.rtc.unset()  # a flat backup battery: 1970, invalid

    def _cmd_smtp(self, args: list[str]) -> None:
        sub, rest = (args[0], args[1:]) if args else ("", [])
        if sub == "status":
            self.no_args("smtp status", rest)
            self.say([self._status_line()])
            return
        if sub not in SMTP_JOB_COMMANDS:
            raise self.unknown(["smtp", *args[:1]])
        kind, parse = SMTP_JOB_COMMANDS[sub]
        job = parse(rest)
        if self.firmware.config_refused is not None:
            raise CommandError(f"smtp {sub}: configuration refused: {self.firmware.config_refused}")
        self.firmware.submit(job)
        self.say([f"OK: {format_fields(queued=kind, job=self.firmware.jobs_submitted)}"])

    def _status_line(self) -> str:
        status = self.firmware.status
        last = describe(status.events[-1]) if status.events else "none"
        return "STATUS: " + format_fields(state=status.state.value, queued=len(self.firmware.jobs),
                                    sessions=status.sessions, events=len(status.events),
                                    submitted=self.firmware.jobs_submitted, last=last)

    def _cmd_stack(self, args: list[str]) -> None:
        if args != ["stats"]:
            raise self.unknown(["stack", *args[:1]])
        pool, board = self.board.pool.stats, self.board.stats
        self.say(["STACK: " + format_fields(
            pool_buffers=pool.count, in_use=pool.in_use, free=pool.free,
            peak_in_use=pool.peak_in_use, lowest_free=pool.lowest_free,
            allocations=pool.allocations, failed_allocations=pool.failed_allocations,
            frames_received=board.frames_received,
            dropped_no_buffer=board.frames_dropped_no_buffer,
            dropped_ring_full=board.frames_dropped_ring_full,
            rx_ring=self.board.rx_ring_depth, watchdog_resets=board.watchdog_resets,
            boots=board.boots)])

    def _cmd_echo(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ECHO_SETTINGS:
            raise CommandError("echo: expected on or off")
        self.echo = ECHO_SETTINGS[args[0]]
        self.say([f"OK: {format_fields(echo=args[0])}"])

    def _cmd_reset(self, args: list[str]) -> None:
        self.no_args("reset", args)
        self.say(["OK: resetting"])
        self._reset_pending = True
        # Not from inside the task itself: the reset closes every task's generator.
        self.board.kernel.call_soon(self.board.reset, "console reset")
