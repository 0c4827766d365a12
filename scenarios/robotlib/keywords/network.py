"""Network keywords: the link's fault verbs, named as in scenario files and ``stack/link.py``.

``Drop Nth``, ``Drop After``, ``Inject Rst``, ``Hold``/``Release`` (and ``Release All
Holds``), ``Partition``/``Repair`` (and ``Repair All Partitions``) and ``Set Loss`` act on
the simulated link between the booted board and its scripted server, from the current
instant of virtual time (a scenario file's ``at_s`` is the keyword's place in the test).
Sides are named as in scenario files: ``device`` or ``server``; ``Hold`` and
``Partition`` go by pairs of sides (``src`` to ``dst``) and return a number that their
``Release`` or ``Repair`` names, so overlapping ones never end one another. No time moves
here.

This module knows the world's link and the two sides' addresses; nothing else.
"""

from __future__ import annotations

from robot.api import logger

from scenarios.format.vocabulary import SIDE_NAMES, Side
from scenarios.robotlib.context import Duration, LibraryComponent, duration_us, keyword
from stack.link import Link


def _side(field: str, side: str | None) -> Side | None:
    """``side`` as a :data:`~scenarios.format.vocabulary.Side`; None stays None."""
    if side is None:
        return None
    for known in SIDE_NAMES:
        if side == known:
            return known
    raise ValueError(f"{field}: expected {' or '.join(SIDE_NAMES)}, got {side!r}")


class NetworkKeywords(LibraryComponent):
    """Faults on the simulated link."""

    AREA = "network"

    def _link(self) -> Link:
        return self.ctx.world.link

    def _ip(self, field: str, side: str | None) -> str | None:
        return self.ctx.world.sides.ip_or_any(_side(field, side))

    @keyword()
    def drop_nth(self, n: int, src: Side | None = None, payload_only: bool = False) -> None:
        """Loses the ``n``-th segment sent by ``src`` (either side when not given), counted
        from now; with ``payload_only=${TRUE}`` only segments carrying data count.

        | `Drop Nth` | 3 | src=server | |
        | `Drop Nth` | 1 | src=device | payload_only=${TRUE} |
        """
        self._link().drop_nth(n, src=self._ip("src", src), payload_only=payload_only)

    @keyword()
    def drop_after(self, src: Side, time: Duration | None = None,
                   payload_bytes: int | None = None) -> None:
        """Makes ``src`` a silent peer: everything it sends is lost after ``time`` (from
        now) or once it has sent ``payload_bytes`` more bytes of payload, whichever comes
        first; with neither, from now on.

        | `Drop After` | server | | |
        | `Drop After` | server | payload_bytes=1000 | |
        | `Drop After` | device | time=30 s | |
        """
        ip = self._ip("src", src)
        assert ip is not None
        time_us = None if time is None else duration_us(time, "time")
        self._link().drop_after(src=ip, time_us=time_us, payload_bytes=payload_bytes)

    @keyword()
    def inject_rst(self, towards: Side) -> None:
        """Forges a TCP RST from the peer of ``towards``'s latest connection and delivers
        it to ``towards`` behind the frames already in flight.

        | `Inject Rst` | towards=device |
        """
        ip = self._ip("towards", towards)
        assert ip is not None
        rst = self._link().inject_rst(towards=ip)
        logger.info(f"Forged RST {rst.src_ip}:{rst.src_port} -> {rst.dst_ip}:{rst.dst_port} "
                    f"seq={rst.seq}")

    @keyword()
    def hold(self, src: Side | None = None, dst: Side | None = None) -> int:
        """Holds the frames ``src`` sends to ``dst`` (any side when not given) until this
        hold is released, and returns its number for `Release`. Holds overlap without
        interfering: a frame stays held while any hold in force covers it.

        | ${hold}= | `Hold` | src=server | |
        | ${one way}= | `Hold` | src=device | dst=server |
        | `Let Virtual Time Pass` | 30 s | | |
        | `Release` | ${hold} | | |
        """
        placed = self._link().hold(src=self._ip("src", src), dst=self._ip("dst", dst))
        logger.info(f"Hold {placed.number} on frames from {src or 'any side'} to "
                    f"{dst or 'any side'}")
        return placed.number

    @keyword()
    def release(self, hold: int | None = None) -> None:
        """Ends the hold numbered ``hold`` (what `Hold` returned), and only that one: the
        frames it held go out in the order they were sent, unless another hold still
        covers them. Without a number it ends the one hold in force (and fails when
        there are several). To end every hold, use `Release All Holds`.

        | `Release` | ${hold} |
        """
        link = self._link()
        link.release(None if hold is None else link.active_hold(hold))

    @keyword()
    def release_all_holds(self) -> None:
        """Ends every hold in force; every held frame goes out in the order it was sent.

        | `Release All Holds` |
        """
        self._link().release_all()

    @keyword()
    def partition(self, src: Side | None = None, dst: Side | None = None) -> int:
        """Loses the frames ``src`` sends to ``dst`` (any side when not given; with
        neither, every frame both ways) until this partition is repaired, and returns its
        number for `Repair`. Partitions overlap without interfering: a frame is lost
        while any partition in force covers it.

        | ${cut}= | `Partition` | |
        | `Let Virtual Time Pass` | 2 min | |
        | `Repair` | ${cut} | |
        | ${deaf}= | `Partition` | src=server |
        """
        placed = self._link().partition(src=self._ip("src", src), dst=self._ip("dst", dst))
        logger.info(f"Partition {placed.number} loses frames from {src or 'any side'} to "
                    f"{dst or 'any side'}")
        return placed.number

    @keyword()
    def repair(self, partition: int | None = None) -> None:
        """Ends the partition numbered ``partition`` (what `Partition` returned), and
        only that one: the frames it covered get through again, unless another partition
        still covers them. Without a number it ends the one partition in force (and
        fails when there are several). To end every partition, use `Repair All
        Partitions`.

        | `Repair` | ${cut} |
        """
        link = self._link()
        link.repair(None if partition is None else link.active_partition(partition))

    @keyword()
    def repair_all_partitions(self) -> None:
        """Ends every partition in force.

        | `Repair All Partitions` |
        """
        self._link().repair_all()

    @keyword()
    def set_loss(self, probability: float, src: Side | None = None) -> None:
        """Loses each frame from ``src`` (both sides when not given) with ``probability``
        (0 to 1), drawn from the run's seeded random generator.

        | `Set Loss` | 0.1 | |
        | `Set Loss` | 0 | src=server |
        """
        self._link().set_loss(probability, src=self._ip("src", src))
