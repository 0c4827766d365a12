"""Running a coroutine from the command line so that Ctrl-C ends it at once, whichever
thread of the process the operating system hands the SIGINT to.

A signal sent to a process may be delivered to any of its threads that does not block
it, and Python runs the handler only in the main thread, the next time that thread runs
Python code. :func:`asyncio.run` relies on that: its SIGINT handler cancels the main
task, but when the signal lands on another thread (in Python 3.11, the thread asyncio
starts to wait for each child process) while the main thread sleeps in the event loop's
``epoll_wait``, nothing wakes the main thread: the Ctrl-C took effect only when the loop
next woke up, for ``smtp-hil run --dut`` at the client program's time limit (60 s by
default). :func:`run_interruptibly` instead has the event loop take SIGINT
(:meth:`asyncio.loop.add_signal_handler`: the signal's number is written to the loop's
wake-up pipe by whichever thread receives it), cancels the coroutine, lets its cleanup run
(``finally`` blocks: the client program's process group is killed there) and raises
:class:`KeyboardInterrupt` in the caller. A Ctrl-C is never lost: if the coroutine
swallowed the cancellation and returned, :class:`KeyboardInterrupt` is raised all the
same, and so is a Ctrl-C during the event loop's teardown. Where SIGINT is not Python's
default handler (ignored, as in a background job of a shell without job control, or
handled by the caller), it is left as it is.

This module knows asyncio and signals; nothing of what the coroutine does.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

ResultT = TypeVar("ResultT")


class _Interrupted:
    """What the wrapped coroutine returns when a SIGINT arrived while it ran."""


class _Sigints:
    """How many SIGINTs the event loop took: until the loop is closed, also after the
    coroutine ended (the loop's own teardown)."""

    def __init__(self) -> None:
        self.count = 0


def run_interruptibly(make: Callable[[], Coroutine[Any, Any, ResultT]]) -> ResultT:
    """``asyncio.run(make())``, where SIGINT cancels the coroutine and then raises
    :class:`KeyboardInterrupt` here (see the module docstring). ``make`` is called inside
    the event loop, so a Ctrl-C that comes before it leaves no coroutine never awaited."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return asyncio.run(make())
    sigints = _Sigints()
    outcome = asyncio.run(_cancelled_by_sigint(make, sigints))
    if sigints.count or isinstance(outcome, _Interrupted):
        raise KeyboardInterrupt
    return outcome


async def _cancelled_by_sigint(make: Callable[[], Coroutine[Any, Any, ResultT]],
                               sigints: _Sigints) -> ResultT | _Interrupted:
    task = asyncio.current_task()
    assert task is not None

    def interrupt() -> None:  # in the loop's thread, woken through its pipe
        sigints.count += 1
        task.cancel()  # a second Ctrl-C cuts the cleanup short; none once the task ended

    # Taken until the loop is closed (closing it gives SIGINT back to Python's default
    # handler), so that a Ctrl-C during the loop's teardown is counted too and never
    # raised inside a task
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await make()
    except asyncio.CancelledError:
        if sigints.count:
            return _Interrupted()
        raise
