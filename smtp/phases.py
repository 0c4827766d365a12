"""The client core's phases and the one table of legal moves between them.

A session is in exactly one :class:`Phase`. :data:`TRANSITIONS` lists, for each phase,
the phases it may move to, each with the reason it does (as h11 keeps its states in one
table). :class:`PhaseMachine` (the client core is one) is the only writer of the phase:
:meth:`PhaseMachine.enter_phase` checks the move against the table, raises
:class:`IllegalTransition` (a :class:`~smtp.errors.LocalProtocolError`: the core itself
is wrong) for a move the table does not list, and records every move it makes
(:attr:`PhaseMachine.transitions`, and the optional ``observer``).

:class:`CloseMode` says how a session that fails leaves its connection.

Inside ``SESSION`` (and ``QUITTING``) the core waits for replies through its expectation
queue (:mod:`smtp.expectations`); which command a reply answers is the queue's business,
not the phase's.

This module is pure data and bookkeeping: no sockets, no clocks, no protocol logic.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final

from smtp.errors import LocalProtocolError


class Phase(enum.Enum):
    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # a connection was asked for
    TLS_HANDSHAKE = "tls_handshake"  # implicit TLS, or after 220 to STARTTLS
    SESSION = "session"  # replies are matched through the expectation queue
    CONTENT = "content"  # the driver is streaming the message content
    QUITTING = "quitting"  # QUIT sent: every job has ended; the reply closes the session
    STUCK = "stuck"  # a historical release lost track of the job: silent forever
    DONE = "done"


TRANSITIONS: Final[Mapping[Phase, Mapping[Phase, str]]] = {
    Phase.IDLE: {
        Phase.CONNECTING: "start: jobs to run, a connection is asked for",
        Phase.DONE: "start: no job passed the input checks; or the session failed",
    },
    Phase.CONNECTING: {
        Phase.TLS_HANDSHAKE: "connected, implicit TLS (security = tls)",
        Phase.SESSION: "connected: the greeting is awaited",
        Phase.DONE: "the connection failed, timed out or was lost",
    },
    Phase.TLS_HANDSHAKE: {
        Phase.SESSION: "TLS is up: the greeting (implicit TLS) or EHLO again (RFC 3207)",
        Phase.DONE: "TLS failed, timed out, or the connection was lost",
    },
    Phase.SESSION: {
        Phase.TLS_HANDSHAKE: "220 to STARTTLS",
        Phase.CONTENT: "354 to DATA: the content is streamed",
        Phase.QUITTING: "no job left, or the session failed politely: QUIT sent",
        Phase.STUCK: "a release before 2.1 lost a job whose pipelined MAIL failed",
        Phase.DONE: "the session failed (timer, connection lost, 421, broken protocol)",
    },
    Phase.CONTENT: {
        Phase.SESSION: "the content was sent (the reply after it is awaited), or the "
                       "server replied early",
        Phase.DONE: "the data-block timer fired or the connection was lost",
    },
    Phase.QUITTING: {
        Phase.DONE: "the reply to QUIT, its timer, or the connection closed",
    },
    Phase.STUCK: {},
    Phase.DONE: {},
}
"""Every legal move: ``TRANSITIONS[old][new]`` is why the core makes it."""


class IllegalTransition(LocalProtocolError):
    """The core tried a move :data:`TRANSITIONS` does not list (a bug of the core)."""

    def __init__(self, old: Phase, new: Phase) -> None:
        allowed = ", ".join(p.value for p in TRANSITIONS[old]) or "none"
        super().__init__(f"illegal phase transition {old.value} -> {new.value} "
                         f"(from {old.value} the table allows: {allowed})")
        self.old = old
        self.new = new


class CloseMode(enum.Enum):
    """How a session that ends early leaves its connection."""

    QUIT = "quit"  # say QUIT: its reply (or its timer) closes the connection
    CLOSE = "close"  # close the connection now (FIN), no QUIT: the server said goodbye
    ABORT = "abort"  # reset the connection now (RST)
    GONE = "gone"  # the connection is gone already: nothing to close


Observer = Callable[[Phase, Phase], None]


class PhaseMachine:
    """The phase of one session; :meth:`enter_phase` is the only way to change it.

    ``phase`` is a plain attribute, for speed: read it, never write it (the drivers and
    the reply fuzzer read it at every step)."""

    __slots__ = ("observer", "phase", "transitions")

    def __init__(self, observer: Observer | None = None) -> None:
        self.phase = Phase.IDLE
        self.transitions: list[tuple[Phase, Phase]] = []
        """Every move made, in order (the session's trace of its phases)."""
        self.observer = observer
        """Called with ``(old, new)`` after every move, when set."""

    def enter_phase(self, new: Phase) -> None:
        """Move to ``new``; :class:`IllegalTransition` if the table does not allow it."""
        old = self.phase
        if new not in TRANSITIONS[old]:
            raise IllegalTransition(old, new)
        self.phase = new
        self.transitions.append((old, new))
        if self.observer is not None:
            self.observer(old, new)
