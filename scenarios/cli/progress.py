"""What the long subcommands share about their output: colours, progress, and Ctrl-C.

**Colours.** ``--color auto|always|never`` (:func:`add_color_argument`); ``auto`` (the
default) colours a stream that is a terminal, unless ``NO_COLOR`` is set to anything
but the empty string (https://no-color.org) or ``TERM`` is ``dumb``; ``always`` and
``never`` win over both, as no-color.org asks of a command-line argument. A
:class:`Palette` paints words by what they mean (:data:`Tone`), so every subcommand
colours a pass, a failure, an expected failure and a surprise alike.

**Progress** (:class:`Progress`), on standard error, never on standard output: on a
terminal a live line (``[3/376] starttls on 2.4  1.2 s``) rewritten in place and erased
whenever a result is printed; when standard error is a pipe or a file (CI), a whole line
every :data:`PIPED_EVERY_S` seconds (``smtp-hil matrix: 120 of 424 runs done in 5.0 s;
running starttls on 2.4``), so a log never stays silent while work goes on. A stream in
memory (a test's) gets neither. A background thread keeps the line going during a long
run; it only prints.

**Ctrl-C.** A result is printed and counted whole: Ctrl-C (SIGINT) waits until the
block that reports it is done (:func:`uninterrupted`), then the command says how far it
got (:func:`say_interrupted`) and exits :data:`EXIT_INTERRUPTED`. A subcommand that runs
an event loop runs it with :func:`scenarios.outside.interruptible.run_interruptibly`.

Usage, for a subcommand of many runs::

    add_color_argument(parser)
    ...
    palette = Palette.for_stream(out, args.color)
    with Progress(err, total=len(items), command="smtp-hil audit") as progress:
        for item in items:
            progress.start(item.name)
            result = work(item)
            with uninterrupted(), progress.printing():
                out.write(palette.paint("PASS", "pass") + " ...\\n")
                progress.done()

This module knows terminals, the environment's colour conventions and signals; nothing
of runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Literal, TextIO, get_args

EXIT_INTERRUPTED: Final = 130
"""128 + SIGINT: what a shell reports for a command stopped by Ctrl-C."""

ColorChoice = Literal["auto", "always", "never"]
COLOR_CHOICES: Final = get_args(ColorChoice)

Tone = Literal["pass", "fail", "expected", "surprise", "note", "muted", "bold"]
"""What a painted word means: a pass, a failure, an expected failure (a reproduced bug),
a surprise (a run that does not do what the catalog says), a note, something of little
weight, or a heading."""

_SGR: Final[Mapping[Tone, str]] = {
    "pass": "32", "fail": "31", "expected": "33", "surprise": "1;31", "note": "36",
    "muted": "2", "bold": "1"}
"""ANSI SGR codes: green, red, yellow, bold red, cyan, faint, bold."""

PIPED_EVERY_S: Final = 5.0
"""How often a progress line is printed when standard error is not a terminal."""
LIVE_EVERY_S: Final = 0.5
"""How often the live line on a terminal is redrawn (its elapsed time moves)."""


def add_color_argument(parser: argparse.ArgumentParser) -> None:
    """``--color auto|always|never`` (see the module docstring)."""
    parser.add_argument("--color", choices=COLOR_CHOICES, default="auto",
                        help="colour the output: auto (default: on a terminal, unless "
                             "NO_COLOR is set), always or never")


def wants_color(stream: TextIO, choice: ColorChoice = "auto",
                environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour what goes to ``stream`` (see the module docstring)."""
    if choice != "auto":
        return choice == "always"
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a file at all
        return False


class Palette:
    """Paints text with ANSI colours when ``enabled``, else leaves it alone."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO, choice: ColorChoice = "auto") -> Palette:
        return cls(wants_color(stream, choice))

    def paint(self, text: str, tone: Tone) -> str:
        if not self.enabled or not text:
            return text
        return f"\033[{_SGR[tone]}m{text}\033[0m"


def _has_file(stream: TextIO) -> bool:
    """Whether ``stream`` is backed by a file descriptor (a pipe, a file, a terminal)."""
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Progress:
    """The progress of ``total`` items of work on ``stream`` (see the module docstring).

    :meth:`start` names the item now being worked on, :meth:`done` counts one finished;
    results go to standard output inside :meth:`printing`, which takes the live line
    away first. Use it as a context manager: leaving it stops the thread and erases the
    line. ``live`` and ``every_s`` override what the stream decides (tests)."""

    def __init__(self, stream: TextIO, *, total: int | None, command: str = "smtp-hil",
                 unit: str = "runs", live: bool | None = None,
                 every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.total = total
        self.command = command
        self.unit = unit
        self.live = _isatty(stream) if live is None else live
        self.periodic = not self.live and _has_file(stream)
        self.every_s = every_s if every_s is not None else (
            LIVE_EVERY_S if self.live else PIPED_EVERY_S)
        self.clock = clock
        self.count = 0
        self.current = ""
        self._started = clock()
        self._item_started = self._started
        self._shown = False  # a live line is on the terminal
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the work ---------------------------------------------------------------------------
    def start(self, item: str) -> None:
        """``item`` is now being worked on (the live line shows it at once)."""
        with self._lock:
            self.current = item
            self._item_started = self.clock()
            if self.live:
                self._draw()

    def done(self, count: int = 1) -> None:
        """``count`` more items finished."""
        with self._lock:
            self.count += count
            self.current = ""

    def advance(self, count: int = 1) -> None:
        """``count`` more items finished while the work :meth:`start` named goes on (runs
        finishing on worker processes: ``[122/432] on 2 workers  3.1 s``); the live line
        shows the new count at once."""
        with self._lock:
            self.count += count
            if self.live and self.current:
                self._draw()

    @contextlib.contextmanager
    def printing(self) -> Iterator[None]:
        """Print results inside this block: the live line is erased first and comes back
        at the next redraw, and no progress line is written meanwhile."""
        with self._lock:
            self._erase()
            yield

    # ---- the lines --------------------------------------------------------------------------
    def counted(self) -> str:
        """``120 of 424 runs done`` (``120 runs done`` when the total is unknown)."""
        of = f" of {self.total}" if self.total is not None else ""
        return f"{self.count}{of} {self.unit} done"

    def live_line(self) -> str:
        """``[3/376] starttls on 2.4  1.2 s`` (without a total: ``reading x.pcap  1.2 s``)."""
        elapsed = self.clock() - self._item_started
        position = f"[{self.count + 1}/{self.total}] " if self.total is not None else ""
        return f"{position}{self.current}  {elapsed:.1f} s" if self.current else (
            f"[{self.counted()}]")

    def piped_line(self) -> str:
        """``smtp-hil matrix: 120 of 424 runs done in 5.0 s; running starttls on 2.4``
        (without a total: ``smtp-hil import: 5.0 s; running reading x.pcap``)."""
        elapsed = self.clock() - self._started
        running = f"; running {self.current}" if self.current else ""
        done = f"{self.counted()} in " if self.total is not None else ""
        return f"{self.command}: {done}{elapsed:.1f} s{running}"

    def _draw(self) -> None:
        self._shown = True  # first: a Ctrl-C during the write still gets it erased
        self.stream.write(f"\r\033[K{self.live_line()}")
        self.stream.flush()

    def _erase(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False

    def tick(self) -> None:
        """One beat of the thread: redraw the live line, or print a piped line."""
        with self._lock:
            if self.live:
                if self.current:
                    self._draw()
            elif self.periodic:
                self.stream.write(self.piped_line() + "\n")
                self.stream.flush()

    # ---- the thread -------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        if (self.live or self.periodic) and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="smtp-hil progress",
                                            daemon=True)
            with _sigint_blocked():  # the thread inherits the mask: SIGINT is never its
                self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread and erase the live line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._erase()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick()
            except (OSError, ValueError):  # the stream went away: stop quietly
                return


def progress(stream: TextIO, text: str) -> None:
    """Show ``text`` as the live line, on a terminal only: for a subcommand that keeps
    its own progress state and decides itself when to print a piped line."""
    if _isatty(stream):
        stream.write(f"\r\033[K{text}")
        stream.flush()


def done_progress(stream: TextIO) -> None:
    """Erase the line :func:`progress` showed (on a terminal only)."""
    if _isatty(stream):
        stream.write("\r\033[K")
        stream.flush()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked for this thread during the block (where POSIX allows it)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C waits until the block is done, so that a run is reported and counted whole:
    a SIGINT that comes during the block is noted and raised again when it ends, under
    the handler that was there before. Python runs signal handlers on the main thread
    only, whichever thread received the signal, so this holds however the kernel
    delivers it (blocking SIGINT on the main thread did not: the process's other threads,
    a process pool's, could still take it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if received:
            signal.raise_signal(signal.SIGINT)  # as if it came now


def say_interrupted(out: TextIO, err: TextIO, done: int, total: int,
                    unit: str = "runs") -> int:
    """After Ctrl-C: say how far it got (what finished is printed already); the exit
    status. The caller has closed its :class:`Progress` (the live line is gone)."""
    out.flush()
    err.write(f"smtp-hil: interrupted: {done} of {total} {unit} done, {total - done} "
              f"not done\n")
    return EXIT_INTERRUPTED
