"""``[[link.faults]]``: the link's fault verbs, each a model that arms itself on a link.

One entry per fault: ``fault`` names the verb (the same names as :class:`stack.link.Link`'s
methods and the Robot keywords: ``drop_nth``, ``drop_after``, ``inject_rst``, ``hold``,
``partition``, ``set_loss``), ``at_s`` when it is armed or fires, and the verb's own
keys. Instead of ``at_s``, a fault may be anchored to what the server saw: ``after =
"server:DATA"`` (with ``after_nth`` and ``after_s``: :mod:`scenarios.format.anchors`).
Sides are named as the file names them: ``device`` or ``server``. ``hold`` and
``partition`` go by pairs of sides (``src`` to ``dst``, either left out: any), and a
timed one is released or repaired alone, ``duration_s`` later: overlapping holds and
partitions never end one another.

Each model knows its keys and how it arms itself: :meth:`arm` schedules the verb on the
link's kernel for a run whose two ends have the addresses in :class:`Sides`. The world
calls :meth:`LinkSection.arm <scenarios.format.link.LinkSection.arm>` and knows no verb,
so a new verb is a method of :class:`~stack.link.Link` and a model here (a class and its
place in :data:`Fault`), nothing else.

This module knows the fault keys, the link's verbs and the kernel's scheduling; nothing
of the other sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Final, Literal, TypeAlias, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from scenarios.format.anchors import AnchoredTiming
from scenarios.format.vocabulary import (
    STRICT,
    Probability,
    Side,
    seconds_to_us,
    seconds_to_us_or_none,
)
from smtp.bounds import Count, PositiveCount, PositiveSeconds, Seconds
from smtp.inputwording import problems_error
from stack.link import Link


@dataclass(frozen=True, slots=True)
class Sides:
    """The addresses of the link's two ends in one run."""

    device: str
    server: str

    def ip(self, side: Side) -> str:
        return self.device if side == "device" else self.server

    def ip_or_any(self, side: Side | None) -> str | None:
        """The address of ``side``; None (any host) when no side is named."""
        return None if side is None else self.ip(side)


class _TimedFault(AnchoredTiming):
    """A fault the runner arms (or fires) ``at_s`` seconds into the run, or ``after_s``
    after an anchor (:class:`~scenarios.format.anchors.AnchoredTiming`)."""

    model_config = STRICT
    at_s: Seconds | None = 0.0  # None only where a verb needs at_s or after (inject_rst)

    @property
    def at_us(self) -> int:
        return seconds_to_us(self.at_s or 0.0)

    def when(self, link: Link, action: Callable[[], object]) -> None:
        """Call ``action`` when this fault is due (at ``at_s``, or after its anchor)."""
        self.schedule(link, self.at_us, action)


class DropNthFault(_TimedFault):
    """Lose the ``n``-th segment sent by ``src`` (either side when omitted), counted from
    ``at_s``; with ``payload_only`` only segments carrying payload count."""

    fault: Literal["drop_nth"]
    n: PositiveCount
    src: Side | None = None
    payload_only: bool = False

    def arm(self, link: Link, sides: Sides) -> None:
        self.when(link, partial(link.drop_nth, self.n, src=sides.ip_or_any(self.src),
                                payload_only=self.payload_only))


class DropAfterFault(AnchoredTiming):
    """Make ``src`` a silent peer from ``at_s`` or once it has sent
    ``after_payload_bytes`` payload bytes, whichever comes first (from the start when
    neither is given). Armed when the run starts (``Link.drop_after(time_us=...)``), or
    when its anchor fires: then ``after_s`` and the bytes count from the anchor."""

    model_config = STRICT
    fault: Literal["drop_after"]
    src: Side
    at_s: Seconds | None = None
    after_payload_bytes: Count | None = None

    @property
    def time_us(self) -> int | None:
        """When the silence starts by time (None: only by payload bytes, or at once)."""
        return seconds_to_us_or_none(self.at_s)

    def arm(self, link: Link, sides: Sides) -> None:
        if self.after is None:
            link.drop_after(src=sides.ip(self.src), time_us=self.time_us,
                            payload_bytes=self.after_payload_bytes)
            return
        offset = seconds_to_us(self.after_s) if "after_s" in self.model_fields_set else None
        self.schedule(link, 0, partial(link.drop_after, src=sides.ip(self.src),
                                       time_us=offset, payload_bytes=self.after_payload_bytes))


class InjectRstFault(_TimedFault):
    """At ``at_s``, forge an RST to ``towards`` as if from its peer."""

    fault: Literal["inject_rst"]
    towards: Side
    at_s: Seconds | None = Field(default=None, validate_default=True)

    @field_validator("at_s")
    @classmethod
    def _at_or_after(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and info.data.get("after") is None:
            # there is no connection to reset at the start: say when
            raise PydanticCustomError("missing", "Field required")
        return value

    def arm(self, link: Link, sides: Sides) -> None:
        self.when(link, partial(link.inject_rst, towards=sides.ip(self.towards)))


class _PairedFault(_TimedFault):
    """A fault on the frames from ``src`` to ``dst`` (either omitted: any side), from
    ``at_s`` for ``duration_s`` (for ever when omitted); a timed one ends alone."""

    src: Side | None = None
    dst: Side | None = None
    duration_s: PositiveSeconds | None = None

    @property
    def duration_us(self) -> int | None:
        return seconds_to_us_or_none(self.duration_s)

    @model_validator(mode="after")
    def _two_sides(self) -> _PairedFault:
        if self.src is not None and self.src == self.dst:
            raise problems_error([(("dst",), f"the same side as src ({self.src}): no frame "
                                             f"goes from a side to itself")])
        return self

    def arm(self, link: Link, sides: Sides) -> None:
        self.when(link, partial(self._place, link, sides))

    def _place(self, link: Link, sides: Sides) -> None:
        end = self._start(link, sides.ip_or_any(self.src), sides.ip_or_any(self.dst))
        if self.duration_us is not None:
            link.kernel.call_later(self.duration_us, end)

    def _start(self, link: Link, src: str | None, dst: str | None) -> Callable[[], None]:
        """Place the fault on the link; what ends this one (and only this one)."""
        raise NotImplementedError


class HoldFault(_PairedFault):
    """From ``at_s``, hold what ``src`` sends to ``dst`` (any side when omitted); release
    it ``duration_s`` later (never when omitted), and only it."""

    fault: Literal["hold"]

    def _start(self, link: Link, src: str | None, dst: str | None) -> Callable[[], None]:
        return partial(link.release, link.hold(src=src, dst=dst))


class PartitionFault(_PairedFault):
    """From ``at_s``, lose what ``src`` sends to ``dst`` (any side when omitted: with
    neither, every frame both ways); repair it ``duration_s`` later (never when omitted),
    and only it."""

    fault: Literal["partition"]

    def _start(self, link: Link, src: str | None, dst: str | None) -> Callable[[], None]:
        return partial(link.repair, link.partition(src=src, dst=dst))


class SetLossFault(_TimedFault):
    """From ``at_s``, lose each frame from ``src`` (both sides when omitted) with
    ``probability`` (drawn from the kernel's seeded generator)."""

    fault: Literal["set_loss"]
    probability: Probability
    src: Side | None = None

    def arm(self, link: Link, sides: Sides) -> None:
        self.when(link, partial(link.set_loss, self.probability, src=sides.ip_or_any(self.src)))


Fault: TypeAlias = Annotated[
    DropNthFault | DropAfterFault | InjectRstFault | HoldFault | PartitionFault | SetLossFault,
    Field(discriminator="fault"),
]
"""One ``[[link.faults]]`` entry; its ``fault`` key picks the model."""

FAULT_MODELS: Final = get_args(get_args(Fault)[0])
FAULT_NAMES: Final[tuple[str, ...]] = tuple(
    get_args(model.model_fields["fault"].annotation)[0] for model in FAULT_MODELS)
"""The fault verbs a scenario file knows, in the order of :data:`Fault`."""
