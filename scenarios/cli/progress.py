"""How ``run`` and ``matrix`` show progress and stop on Ctrl-C.

On a terminal, standard error shows which run is going (``[3/376] starttls on 2.4``),
rewritten in place and erased when the run is reported. A run is printed and counted
whole: Ctrl-C (SIGINT) waits until the run being reported is done (:func:`uninterrupted`),
then the command says how far it got (:func:`say_interrupted`) and exits 130.

This module knows terminals and signals; nothing of runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Final, TextIO

EXIT_INTERRUPTED: Final = 130
"""128 + SIGINT: what a shell reports for a command stopped by Ctrl-C."""


def progress(stream: TextIO, text: str) -> None:
    """Show ``text`` as the progress line (on a terminal only)."""
    if stream.isatty():
        stream.write(f"\r\033[K{text}")
        stream.flush()


def done_progress(stream: TextIO) -> None:
    """Erase the progress line (on a terminal only)."""
    if stream.isatty():
        stream.write("\r\033[K")
        stream.flush()


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C waits until the block is done, so that a run is reported and counted whole
    (SIGINT blocked, then delivered; only the main thread of a POSIX process can)."""
    if not hasattr(signal, "pthread_sigmask") or (
            threading.current_thread() is not threading.main_thread()):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def say_interrupted(out: TextIO, err: TextIO, done: int, total: int) -> int:
    """After Ctrl-C: say how far it got (what finished is printed already); the exit
    status."""
    done_progress(err)
    out.flush()
    err.write(f"smtp-hil: interrupted: {done} of {total} runs done, {total - done} not done\n")
    return EXIT_INTERRUPTED
