"""The expectation queue: which command each reply the client awaits will answer.

Every command the client sends appends one :class:`Expect` (the command, the timer that
bounds the wait, the handler of its reply); a pipelined group (RFC 2920) appends one per
command at once, so a group and a lone command are matched by the same code. Replies
answer the expectations in order: the head of the queue is the command whose reply comes
next, and its timer is the one that runs.

(The rule that a reply may only answer a command already waiting when the bytes that
complete it were read belongs to reading: :meth:`smtp.client.ClientCore.receive`.)

This module knows replies and outputs as types; it has no sockets, no clocks and no
protocol decisions (the handlers make those).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from smtp.outputs import Output
from smtp.replies import Reply
from smtp.replycodes import Command
from smtp.timers import TimerName

Handler = Callable[[Reply], list[Output]]
"""What to do with the reply to a command: the outputs it leads to."""


@dataclass(slots=True)
class Expect:
    """One reply awaited: to ``command``, under the timer ``timer``."""

    command: Command
    timer: TimerName
    handler: Handler


class ExpectationQueue(deque[Expect]):
    """The replies awaited, oldest first: a deque (``append``/``extend`` when commands
    go out, ``popleft`` when a reply arrives, ``clear`` when the session ends or TLS
    starts afresh); :attr:`head` is the expectation the next reply answers."""

    __slots__ = ()

    @property
    def head(self) -> Expect:
        """The expectation the next reply answers (the queue must not be empty)."""
        return self[0]
