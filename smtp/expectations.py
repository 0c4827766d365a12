"""The expectation queue: which command each reply the client awaits will answer.

Every command the client sends appends one :class:`Expect` (the command, the timer that
bounds the wait, the handler of its reply); a pipelined group (RFC 2920) appends one per
command at once, so a group and a lone command are matched by the same code. Replies
answer the expectations in order: the head of the queue is the command whose reply comes
next, and its timer is the one that runs.

The queue also keeps the rule that stops a server from answering ahead of time: a reply
completed by one read was on the wire before any command sent while handling that read,
so it may only answer a command that was already waiting when the read began (a reply
begun in an earlier read, only one that was waiting then). :meth:`open_read` says how
many replies of a read may answer; :meth:`partial_reply_pending` carries that bound over
to the read that completes a reply cut in two.

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


@dataclass(frozen=True, slots=True)
class Expect:
    """One reply awaited: to ``command``, under the timer ``timer``."""

    command: Command
    timer: TimerName
    handler: Handler


class ExpectationQueue(deque[Expect]):
    """The replies awaited, oldest first: a deque (``extend`` when commands go out,
    ``popleft`` when a reply arrives, ``clear`` when the session ends or TLS starts
    afresh) that also keeps the bound on which replies of a read may answer."""

    __slots__ = ("_answerable_by_partial",)

    def __init__(self) -> None:
        super().__init__()
        self._answerable_by_partial: int | None = None

    @property
    def head(self) -> Expect:
        """The expectation the next reply answers (the queue must not be empty)."""
        return self[0]

    def open_read(self) -> int:
        """How many of the replies a read completes may answer a waiting command."""
        answerable = len(self)
        if self._answerable_by_partial is not None:
            answerable = min(answerable, self._answerable_by_partial)
            self._answerable_by_partial = None
        return answerable

    def partial_reply_pending(self, answerable: int) -> None:
        """The read ended inside a reply: the read that completes it may answer only
        ``answerable`` (what was left of this read's bound)."""
        self._answerable_by_partial = answerable
