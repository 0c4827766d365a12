"""What an invariant finds in a run: a :class:`Violation` (broken) or a :class:`Note`
(a case it cannot judge, counted and named, never a failure).

A violation's ``reason`` is a short, stable class (``hang``, ``body``, ``date`` ...): with
the invariant's name and the run's context it tells one bug from another, so the
explorer keys deduplication and shrinking on it; ``text`` is the sentence a person
reads. A note's ``kind`` is one of :data:`NoteKind`.

This module is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from scenarios.format.vocabulary import InvariantName

NoteKind: TypeAlias = Literal["third_outcome", "inconsistent_server", "not_judged"]
"""``third_outcome``: the connection ended after the content left the device and
before the client read the reply to it (Jepsen's ``:info``: the mail may or may not be
delivered, and the client cannot know); ``inconsistent_server``: the server answered a
command twice or not at all, injected a reply, or acted otherwise than its reply said,
so no client could know the outcome; ``not_judged``: the run cannot tell (a run that
ended too early to call a hang, a firmware that leaves no record of its replies)."""
NOTE_KINDS: Final[tuple[NoteKind, ...]] = get_args(NoteKind)


@dataclass(frozen=True)
class Violation:
    """``invariant`` is broken: ``reason`` (its class) and ``text`` (the sentence)."""

    invariant: InvariantName
    reason: str
    text: str


@dataclass(frozen=True)
class Note:
    """``invariant`` could not judge this run, for a reason of kind ``kind``."""

    invariant: InvariantName
    kind: NoteKind
    text: str


Finding: TypeAlias = Violation | Note
