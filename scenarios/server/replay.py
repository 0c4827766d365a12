"""A replayed server: each answer of a recorded server, exactly, as a rule of the engine.

A :class:`ReplayStep` is a :class:`~scenarios.server.rules.Rule` that fires on the ``nth``
command of its verb (or pseudo verb: ``GREETING``, ``DATA_END``, ``AUTH_RESPONSE``), and
on the ``times - 1`` after it, and answers with recorded bytes instead of the engine's
reply:

- ``reply``: the exact bytes the server sent (several replies, or part of one, as
  recorded), cut into ``writes`` (sizes in bytes, one write each; what is left over is
  one last write), the first one ``delay_us`` after the server has the command (and has
  finished what it was sending), the others ``gaps_us`` apart (one gap for all, or one
  per gap);
- ``join_previous``: the first write leaves in the same write as the previous answer's
  last one, when both are due at once (a pipelined group answered in one segment);
- ``then``: what the server did after the answer, ``then_delay_us`` later: ``close``
  (FIN), ``reset`` (RST), ``silent`` (never answers again), ``drop_tls`` (end TLS the
  ``drop_tls_mode`` way); None: what the command itself does (STARTTLS starts TLS,
  QUIT closes).

The engine still frames the commands and keeps the session and the mailbox: a command
keeps its normal effect when its recorded reply is 2xx or 3xx, as with any rule. A
command no step covers gets the engine's own answer.

This module knows rules and actions; it knows nothing about capture files, sockets or
scenario files (``scenarios/format/replay.py`` maps ``[[server.replay]]`` onto it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from scenarios.server.actions import Action, Close, Delay, DropTls, Reset, Send, Silence
from scenarios.server.rules import Rule, RuleAction

ReplayThen: TypeAlias = Literal["close", "reset", "silent", "drop_tls"]
REPLAY_THENS: Final[tuple[str, ...]] = get_args(ReplayThen)


@dataclass(frozen=True)
class ReplayStep(Rule):
    """One recorded answer (see the module docstring). Build it with :func:`replay_step`,
    which picks the rule ``action`` that tells the engine whether a reply went out."""

    writes: tuple[int, ...] = ()
    gaps_us: tuple[int, ...] = ()
    join_previous: bool = False
    then: ReplayThen | None = None
    then_delay_us: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reply is not None and not isinstance(self.reply, bytes):
            raise ValueError("ReplayStep.reply: expected bytes")
        for name, values, low in (("writes", self.writes, 1), ("gaps_us", self.gaps_us, 0)):
            if not isinstance(values, tuple) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= low
                    for v in values):
                raise ValueError(f"ReplayStep.{name}: expected integers >= {low}")
        size = len(self.reply) if isinstance(self.reply, bytes) else 0
        if sum(self.writes) > size:
            raise ValueError(f"ReplayStep.writes: {sum(self.writes)} bytes in all, the reply "
                             f"has {size}")
        if len(self.gaps_us) > 1 and len(self.gaps_us) != len(self.pieces()) - 1:
            raise ValueError(f"ReplayStep.gaps_us: expected one gap, or one between each two "
                             f"of the {len(self.pieces())} writes, got {len(self.gaps_us)}")
        if self.then is not None and self.then not in REPLAY_THENS:
            raise ValueError(f"ReplayStep.then: expected one of {REPLAY_THENS}, got {self.then!r}")
        if self.then_delay_us and self.then is None:
            raise ValueError("ReplayStep.then_delay_us: only used with then")
        if self.inject is not None and self.then != "drop_tls":
            raise ValueError("ReplayStep.inject: only used with then = \"drop_tls\" and "
                             "drop_tls_mode = \"close_notify\"")

    def pieces(self) -> list[bytes]:
        """The reply cut into its writes."""
        data = self.reply if isinstance(self.reply, bytes) else b""
        out, start = [], 0
        for size in self.writes:
            out.append(data[start:start + size])
            start += size
        if start < len(data):
            out.append(data[start:])
        return out

    def _gap(self, index: int) -> int:
        if not self.gaps_us:
            return 0
        return self.gaps_us[0] if len(self.gaps_us) == 1 else self.gaps_us[index - 1]

    def answer(self, reply: bytes | None, after: Sequence[Action],
               rng: random.Random | None = None) -> list[Action]:
        out: list[Action] = [Delay(self.delay_us)] if self.delay_us else []
        for index, piece in enumerate(self.pieces()):
            if index and self._gap(index):
                out.append(Delay(self._gap(index)))
            out.append(Send(piece, join=index == 0 and self.join_previous))
        if self.then is None:
            if self.action != "ignore":
                out.extend(after)
            return out
        out.extend(a for a in after if not isinstance(a, Close))
        if self.then_delay_us:
            out.append(Delay(self.then_delay_us))
        if self.then == "drop_tls":
            assert self.drop_tls_mode is not None  # checked by Rule
            out.append(DropTls(self.drop_tls_mode))
            if self.inject is not None:
                out.append(Send(self.inject_bytes()))
        else:
            ending: dict[str, Action] = {"close": Close(), "reset": Reset(), "silent": Silence()}
            out.append(ending[self.then])
        return out


def _action(has_reply: bool, then: ReplayThen | None) -> RuleAction:
    """The rule action that says the same to the engine (whether a reply went out)."""
    if then == "drop_tls":
        return "drop_tls"
    if has_reply:
        return "reply_then_close" if then == "close" else "reply"
    return "ignore" if then is None else then


def replay_step(verb: str, nth: int, reply: bytes | None, *, times: int = 1,
                writes: Sequence[int] = (),
                gaps_us: Sequence[int] = (), delay_us: int = 0, join_previous: bool = False,
                then: ReplayThen | None = None, then_delay_us: int = 0,
                drop_tls_mode: Literal["tcp_close", "rst", "close_notify"] | None = None,
                inject: bytes | None = None) -> ReplayStep:
    """A step answering the ``nth`` ``verb`` once with ``reply`` (see the module docstring);
    ``inject`` (with ``then = "drop_tls"`` and ``close_notify``) is sent in plaintext after
    the alert."""
    return ReplayStep(
        verb=verb, nth=nth, times=times, reply=reply or None, raw=True,
        action=_action(bool(reply), then), delay_us=delay_us, drop_tls_mode=drop_tls_mode,
        writes=tuple(writes), gaps_us=tuple(gaps_us), join_previous=join_previous,
        then=then, then_delay_us=then_delay_us, inject=inject or None)
