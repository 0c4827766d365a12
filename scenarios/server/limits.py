"""Bounds on what a scripted server on a real socket holds, so that no client can make it
grow without end.

:class:`ConnectionLimits` are the bounds an :class:`~scenarios.server.asyncdriver.
AsyncServer` keeps (``serve`` sets them from its options):

* ``max_message_bytes``: the content of one mail kept, DATA or BDAT. The scenario's SIZE
  (``max_size``) when it has one, and never more than this. Content past the cap is
  counted, not kept; the mail is refused at its end with 552 (RFC 1870 6.3).
* ``max_connection_bytes``: the content one connection keeps over all its mails
  (accepted and refused); a mail that would pass it is refused with 452 (insufficient
  storage, RFC 5321 4.2.2), and the connection goes on.
* ``memory_budget_bytes``: the content every connection of the server keeps, together
  (the mails in flight as they arrive, and those received), shared through one
  :class:`MemoryBudget`. Content past it is counted, not kept, and the mail is refused
  at its end with ``452 4.3.1 Insufficient system storage`` (RFC 3463 X.3.1: mail
  system full), as a real MTA under resource pressure answers, rather than the server
  growing; the connection goes on. A connection gives its share back when the server
  releases it (its verdict is out).
* ``idle_timeout_s``: how long the server waits for the client's next bytes before it
  says 421 and closes (RFC 5321 4.5.3.2.7: at least 5 minutes, the default).
* ``max_connections``: connections open at once; one more is told 421 and closed at once,
  without an engine (it is not judged).

Each connection's :class:`ContentHold` notes every 452 it caused and why
(:class:`StorageShortfall`), so that the connection's verdict can say the server, not
the client, was short.

A command line is bounded by the scenario's own ``max_line_length`` (the engine answers
500, RFC 5321 4.5.3.1.4); a DATA line by ``max_message_bytes``.

:class:`ContentHold` is the engine's side of the first two: sans-I/O accounting of the
content one connection keeps.

This module knows the replies and the numbers; nothing about sockets, time or engines.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from scenarios.server import replies as R
from smtp.bounds import MAX_DURATION_S

MIB: Final = 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * MIB
DEFAULT_MAX_CONNECTION_BYTES: Final = 256 * MIB
DEFAULT_IDLE_TIMEOUT_S: Final = 300.0
DEFAULT_MAX_CONNECTIONS: Final = 100
DEFAULT_MEMORY_BUDGET_BYTES: Final = 1024 * MIB
CLAIM_AHEAD: Final = 64 * 1024
"""How far ahead of a mail's kept bytes its connection claims from the memory budget."""


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds of a server on a real socket (see the module docstring)."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_connection_bytes: int = DEFAULT_MAX_CONNECTION_BYTES
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_connection_bytes", "max_connections",
                     "memory_budget_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        timeout = self.idle_timeout_s
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_DURATION_S:
            raise ValueError(f"idle_timeout_s: expected seconds > 0 and <= {MAX_DURATION_S}, "
                             f"got {timeout!r}")

    def hold(self, max_size: int | None, budget: MemoryBudget | None = None) -> ContentHold:
        """A fresh connection's hold, for a server that advertises ``max_size``, sharing
        ``budget`` (the server's, made by :meth:`budget`) with the other connections."""
        per_mail = self.max_message_bytes if max_size is None else min(max_size,
                                                                       self.max_message_bytes)
        return ContentHold(per_mail=per_mail, per_connection=self.max_connection_bytes,
                           budget=budget)

    def budget(self) -> MemoryBudget:
        """A fresh server's budget, shared by all its connections."""
        return MemoryBudget(self.memory_budget_bytes)


class StorageShortfall(enum.Enum):
    """Why a mail got ``452 4.3.1 Insufficient system storage``."""

    CONNECTION = "connection"  # the connection's own cap, max_connection_bytes
    SERVER = "server"  # the memory budget all connections share, memory_budget_bytes


class MemoryBudget:
    """The mail content all connections of one server keep, together: ``used`` of
    ``total`` bytes (see the module docstring). Each :class:`ContentHold` claims its
    share; nothing else changes ``used``."""

    def __init__(self, total: int) -> None:
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise ValueError(f"total: expected an integer >= 1, got {total!r}")
        self.total = total
        self.used = 0
        self.peak = 0
        """The most ``used`` ever was (for tests and the bench)."""

    def free(self) -> int:
        return max(0, self.total - self.used)

    def change(self, delta: int) -> None:
        """A hold's claim grew (or shrank) by ``delta`` bytes."""
        self.used += delta
        self.peak = max(self.peak, self.used)


@dataclass
class ContentHold:
    """How much mail content one connection may keep; ``held`` is what it keeps so far
    (of mails received). None: no bound (the simulation's engines).

    With a ``budget``, the hold claims from it what the connection keeps: ``held`` and
    the mail in flight's bytes, claimed before they are kept (:meth:`fits`), up to
    :data:`CLAIM_AHEAD` ahead so that a mail's lines do not each go to the budget (the
    budget counts that reserve as used: counted too long, never too short). A mail the
    budget has no room for keeps nothing from then on (:meth:`give_up_mail`: its claim
    goes back at once, so that the mails that do fit can finish rather than every mail
    in flight being cut) and is refused at its end. At a mail's end the claim is what
    the connection keeps; a mail dropped without its end (RSET between BDAT chunks)
    keeps its claim until the connection's next mail ends or it is released."""

    per_mail: int | None = None
    per_connection: int | None = None
    held: int = 0
    budget: MemoryBudget | None = None
    claimed: int = 0
    """What this hold counts in ``budget``: ``held``, the mail in flight's kept bytes and
    a reserve for the next ones."""
    shortfalls: Counter[StorageShortfall] = field(default_factory=Counter)
    """The 452s this hold caused, by cause."""

    def own_room(self, kept: int) -> int | None:
        """How many more bytes of the current mail (``kept`` so far) its own caps (the
        mail's and the connection's) let it keep; None: no cap."""
        rooms = []
        if self.per_mail is not None:
            rooms.append(self.per_mail - kept)
        if self.per_connection is not None:
            rooms.append(self.per_connection - self.held - kept)
        return max(0, min(rooms)) if rooms else None

    def room(self, kept: int) -> int | None:
        """How many more bytes of the current mail (``kept`` so far) may be kept: its own
        caps, and what this hold has claimed or could claim of the budget."""
        room = self.own_room(kept)
        if self.budget is None:
            return room
        budget_room = max(0, self.claimed + self.budget.free() - self.held - kept)
        return budget_room if room is None else min(room, budget_room)

    def fits(self, kept: int, size: int) -> bool:
        """Whether the budget has room for what the current mail (``kept`` so far) keeps
        of ``size`` bytes arriving now (its own caps may keep less); if so, that much is
        claimed (with up to :data:`CLAIM_AHEAD` more). Always True without a budget."""
        budget = self.budget
        if budget is None or self.held + kept + size <= self.claimed:
            return True
        room = self.own_room(kept)
        need = self.held + kept + (size if room is None else min(size, room))
        if need <= self.claimed:
            return True
        available = self.claimed + budget.free()
        if need > available:
            return False
        self._claim(min(need + CLAIM_AHEAD, available))
        return True

    def give_up_mail(self) -> None:
        """The mail in flight keeps nothing (the budget had no room for it): its claim
        goes back."""
        if self.budget is not None:
            self._claim(self.held)

    def refusal(self, octets: int, kept: int) -> str | None:
        """The reply refusing a mail of ``octets`` bytes of which ``kept`` were kept, or
        None when it may be kept; a 452 is noted in :attr:`shortfalls`. With a budget, a
        mail not kept whole (the budget had no room for the rest) is refused, however
        much room there is now."""
        if self.per_mail is not None and octets > self.per_mail:
            return R.S552_SIZE_EXCEEDED
        if self.per_connection is not None and self.held + octets > self.per_connection:
            self.shortfalls[StorageShortfall.CONNECTION] += 1
            return R.S452_INSUFFICIENT_STORAGE
        if self.budget is not None and kept < octets:
            self.shortfalls[StorageShortfall.SERVER] += 1
            return R.S452_INSUFFICIENT_STORAGE
        return None

    def keep(self, kept: int) -> None:
        """A mail's content stays with the connection (accepted, or refused and noted);
        the mail in flight is over, and so is its reserve."""
        self.held += kept
        if self.budget is not None:
            self._claim(self.held)

    def release(self) -> None:
        """The connection is forgotten: its whole claim goes back to the budget."""
        if self.budget is not None:
            self._claim(0)

    def _claim(self, claim: int) -> None:
        assert self.budget is not None
        self.budget.change(claim - self.claimed)
        self.claimed = claim
