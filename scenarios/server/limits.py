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
* ``idle_timeout_s``: how long the server waits for the client's next bytes before it
  says 421 and closes (RFC 5321 4.5.3.2.7: at least 5 minutes, the default).
* ``max_connections``: connections open at once; one more is told 421 and closed at once,
  without an engine (it is not judged).

A command line is bounded by the scenario's own ``max_line_length`` (the engine answers
500, RFC 5321 4.5.3.1.4); a DATA line by ``max_message_bytes``.

:class:`ContentHold` is the engine's side of the first two: sans-I/O accounting of the
content one connection keeps.

This module knows the replies and the numbers; nothing about sockets, time or engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from scenarios.server import replies as R
from smtp.bounds import MAX_DURATION_S

MIB: Final = 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * MIB
DEFAULT_MAX_CONNECTION_BYTES: Final = 256 * MIB
DEFAULT_IDLE_TIMEOUT_S: Final = 300.0
DEFAULT_MAX_CONNECTIONS: Final = 100


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds of a server on a real socket (see the module docstring)."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_connection_bytes: int = DEFAULT_MAX_CONNECTION_BYTES
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_connection_bytes", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        timeout = self.idle_timeout_s
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_DURATION_S:
            raise ValueError(f"idle_timeout_s: expected seconds > 0 and <= {MAX_DURATION_S}, "
                             f"got {timeout!r}")

    def hold(self, max_size: int | None) -> ContentHold:
        """A fresh connection's hold, for a server that advertises ``max_size``."""
        per_mail = self.max_message_bytes if max_size is None else min(max_size,
                                                                       self.max_message_bytes)
        return ContentHold(per_mail=per_mail, per_connection=self.max_connection_bytes)


@dataclass
class ContentHold:
    """How much mail content one connection may keep; ``held`` is what it keeps so far.
    None: no bound (the simulation's engines)."""

    per_mail: int | None = None
    per_connection: int | None = None
    held: int = 0

    def room(self, kept: int) -> int | None:
        """How many more bytes of the current mail (``kept`` so far) may be kept."""
        rooms = []
        if self.per_mail is not None:
            rooms.append(self.per_mail - kept)
        if self.per_connection is not None:
            rooms.append(self.per_connection - self.held - kept)
        return max(0, min(rooms)) if rooms else None

    def refusal(self, octets: int) -> str | None:
        """The reply refusing a mail of ``octets`` bytes, or None when it may be kept."""
        if self.per_mail is not None and octets > self.per_mail:
            return R.S552_SIZE_EXCEEDED
        if self.per_connection is not None and self.held + octets > self.per_connection:
            return R.S452_INSUFFICIENT_STORAGE
        return None

    def keep(self, kept: int) -> None:
        """A mail's content stays with the connection (accepted, or refused and noted)."""
        self.held += kept
