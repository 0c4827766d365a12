"""Schedules: what run number *i* of a campaign is, computed from nothing but its address.

Schedule *i* of campaign seed *s* starts from ``starts[i % len(starts)]`` and draws its
kernel seed and mutations from ``random.Random("explore:<version>:<s>:<start>:<i>")`` (a
string seed goes through SHA-512: the same numbers in every process, whatever
``PYTHONHASHSEED``). So any process computes any schedule alone: shards (``i % N ==
K``), worker processes and Dask workers run exactly the schedules the unsharded run
would, and a schedule runs the same on every release profile.

:func:`build` turns a start and a list of mutations into a validated
:class:`~scenarios.format.Scenario` (a mutation the format refuses is a bug of the space,
raised as such).

This module knows addresses, the space and the format; nothing of running.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from scenarios.explore.mutations import DIMENSIONS, Dimension, Mutation, apply
from scenarios.explore.space import GENERATOR_VERSION, draw
from scenarios.explore.start import StartPoint
from scenarios.format import Scenario


@dataclass(frozen=True)
class Schedule:
    """One run of a campaign: where it starts, its kernel seed, its mutations."""

    index: int
    start: StartPoint
    kernel_seed: int
    mutations: tuple[Mutation, ...]


def schedule(seed: int, starts: Sequence[StartPoint], index: int,
             vary: Sequence[Dimension] = DIMENSIONS) -> Schedule:
    """Schedule ``index`` of the campaign ``seed`` over ``starts``."""
    start = starts[index % len(starts)]
    rng = random.Random(f"explore:{GENERATOR_VERSION}:{seed}:{start.name}:{index}")
    kernel_seed = rng.randrange(2**32)
    return Schedule(index, start, kernel_seed, tuple(draw(rng, start, vary)))


def in_shard(index: int, shard: tuple[int, int] | None) -> bool:
    """Whether schedule ``index`` belongs to shard ``(k, n)`` (every one without)."""
    return shard is None or index % shard[1] == shard[0]


class SpaceError(RuntimeError):
    """A drawn or shrunk schedule the format refuses: a bug of the search space."""


def build(start: StartPoint, mutations: Sequence[Mutation]) -> Scenario:
    """The scenario ``mutations`` make of ``start``."""
    doc = apply(start.doc, list(mutations))
    try:
        return Scenario.model_validate(doc, context={"source": start.source})
    except ValidationError as exc:
        changes = "; ".join(str(m) for m in mutations)
        raise SpaceError(f"explore made a scenario the format refuses from {start.name} "
                         f"with {changes}: {exc}") from exc
