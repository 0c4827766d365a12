"""``[[server.replay]]``: a scripted server that answers with a recorded server's exact bytes.

Each entry is one answer of the recorded server, in order: ``on`` names what it answers
(a command verb, ``GREETING``, ``DATA_END`` for the reply after the content,
``AUTH_RESPONSE`` for a line of a SASL exchange), and it answers the next occurrence of
that verb (``nth`` counts them from 1; by default the entries of one verb are numbered in
the order they are listed), or the next ``times`` occurrences the same way. ``reply`` is
what the server sent: lines joined with CRLF as in ``[[server.rules]]``, or exactly as
written with ``raw = true``; ``writes`` (sizes) or ``write_size`` cut it into writes,
``delay_s`` comes before the first write, ``gaps_s`` between writes (one number for all,
or one per gap); ``join_previous`` sends the first write together with the previous
answer's last one; ``then`` is what the server did after (``close``, ``reset``,
``silent``, ``drop_tls`` with ``drop_tls_mode``), ``then_delay_s`` later; ``inject``
(with ``drop_tls`` and ``close_notify`` only) is sent in plaintext after the alert.
``scenarios/README.md`` documents every key with an example.

The entries become :class:`scenarios.server.replay.ReplayStep` rules placed before the
scenario's own ``[[server.rules]]``. This module knows the section's keys and how they
map onto steps; :mod:`scenarios.format.server` includes the section in ``[server]``.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from emulator.units import SECOND
from scenarios.server import replies
from scenarios.server.actions import DropTlsMode
from scenarios.server.replay import ReplayStep, ReplayThen, replay_step
from smtp.inputwording import Problem, problems_error

_STRICT: Final = ConfigDict(extra="forbid", strict=True, frozen=True)
_SECONDS_KEYS: Final = {"delay_us": "delay_s", "gaps_us": "gaps_s",
                        "then_delay_us": "then_delay_s"}

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _us(seconds: float) -> int:
    return round(seconds * SECOND)


class ReplayEntry(BaseModel):
    """One ``[[server.replay]]`` entry: one recorded answer (see the module docstring)."""

    model_config = _STRICT
    on: Annotated[str, Field(min_length=1)]
    nth: Annotated[int, Field(ge=1)] | None = None
    times: Annotated[int, Field(ge=1)] = 1
    """The same answer for this many occurrences from ``nth`` on."""
    reply: Annotated[str, Field(min_length=1)] | None = None
    raw: bool = False
    writes: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    write_size: Annotated[int, Field(ge=1)] | None = None
    delay_s: Seconds = 0.0
    gaps_s: Seconds | list[Seconds] = 0.0
    join_previous: bool = False
    then: ReplayThen | None = None
    then_delay_s: Seconds = 0.0
    drop_tls_mode: DropTlsMode | None = None
    inject: Annotated[str, Field(min_length=1)] | None = None
    """With ``then = "drop_tls"`` and ``close_notify``: bytes sent in plaintext after the
    alert (exactly as written)."""

    @model_validator(mode="after")
    def _check_entry(self) -> ReplayEntry:
        problems: list[Problem] = []
        if self.writes and self.write_size is not None:
            problems.append((("write_size",), "not used with writes"))
        if (self.writes or self.write_size is not None) and self.reply is None:
            problems.append((("writes",), "only used with reply"))
        if self.then == "drop_tls" and self.drop_tls_mode is None:
            problems.append((("drop_tls_mode",),
                             "missing, expected one of tcp_close, rst, close_notify with "
                             "then = \"drop_tls\""))
        if problems:
            raise problems_error(problems)
        try:
            self.to_step(self.nth or 1)
        except ValueError as exc:
            raise problems_error([_step_problem(str(exc))]) from None
        return self

    def wire(self) -> bytes | None:
        """The reply's bytes as the server sends them."""
        if self.reply is None:
            return None
        return replies.text_bytes(self.reply) if self.raw else replies.encode(self.reply)

    def to_step(self, nth: int) -> ReplayStep:
        wire = self.wire()
        writes = list(self.writes)
        if self.write_size is not None and wire:
            writes = [self.write_size] * (len(wire) // self.write_size)
        gaps = self.gaps_s if isinstance(self.gaps_s, list) else [self.gaps_s]
        gaps_us = [_us(g) for g in gaps]
        if not any(gaps_us):
            gaps_us = []
        return replay_step(self.on, nth, wire, times=self.times, writes=writes, gaps_us=gaps_us,
                           delay_us=_us(self.delay_s), join_previous=self.join_previous,
                           then=self.then, then_delay_us=_us(self.then_delay_s),
                           drop_tls_mode=self.drop_tls_mode,
                           inject=replies.text_bytes(self.inject) if self.inject else None)


def _step_problem(message: str) -> Problem:
    """``"ReplayStep.gaps_us: ..."`` or ``"Rule.verb: ..."`` -> the entry's key."""
    head, _, text = message.partition(": ")
    name = head.rpartition(".")[2]
    key = {"verb": "on", **_SECONDS_KEYS}.get(name, name)
    return (key,), text or message


def _numbered(entries: list[ReplayEntry]) -> list[ReplayEntry]:
    """Every entry's ``nth`` filled in: by default, the entries of one verb in list order."""
    following: Counter[str] = Counter()
    taken: set[tuple[str, int]] = set()
    problems: list[Problem] = []
    out = []
    for index, entry in enumerate(entries):
        verb = entry.on.upper()
        nth = entry.nth if entry.nth is not None else following[verb] + 1
        following[verb] = nth + entry.times - 1
        covered = {(verb, n) for n in range(nth, nth + entry.times)}
        if covered & taken:
            first = min(n for _, n in covered & taken)
            problems.append(((index, "nth"), f"a second entry for {verb} number {first}"))
        taken |= covered
        out.append(entry if entry.nth == nth else entry.model_copy(update={"nth": nth}))
    if problems:
        raise problems_error(problems)
    return out


ReplayEntries = Annotated[list[ReplayEntry], AfterValidator(_numbered)]
"""The ``[[server.replay]]`` list, each entry's ``nth`` filled in."""


def replay_rules(entries: list[ReplayEntry]) -> tuple[ReplayStep, ...]:
    """The steps of a validated ``[[server.replay]]`` list, in order."""
    return tuple(entry.to_step(entry.nth or 1) for entry in entries)
