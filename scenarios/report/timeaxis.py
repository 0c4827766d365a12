"""A time axis for virtual time, with long quiet stretches drawn short.

A run is often a few milliseconds of dialogue, then minutes of nothing (a server gone
silent, a timer running out), then a few more milliseconds. Drawn to scale, the action
would be a sliver at each end. So a gap between two instants much longer than the run's
usual gaps becomes a narrow *gap piece* (its true length is kept for its label), and the
rest stays to scale.

This module knows integers and :class:`~scenarios.report.model.AxisPiece`; it knows
nothing about what happened at those instants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

from scenarios.report.model import AxisPiece

GAP_FACTOR = 4
"""A gap longer than this many times the 75th percentile of the gaps is compressed."""


def _threshold(gaps: list[int]) -> int:
    ordered = sorted(gaps)
    typical = ordered[(len(ordered) * 3) // 4]
    return max(1, typical * GAP_FACTOR)


def _width(gap: int, threshold: int) -> float:
    """The drawn width of a compressed gap: a little longer for longer gaps."""
    return threshold * (1.0 + 0.25 * math.log10(gap / threshold))


def compress_axis(times: Iterable[int], end_us: int) -> tuple[AxisPiece, ...]:
    """Pieces covering ``0..end_us`` (or the last time, if later) with every long gap
    between consecutive ``times`` compressed; ``x`` runs from 0 to 1."""
    points = sorted({0, max(end_us, 0), *(t for t in times if t >= 0)})
    if len(points) == 1:
        points.append(points[0] + 1)
    gaps = [b - a for a, b in itertools.pairwise(points)]
    threshold = _threshold(gaps)
    spans: list[tuple[int, int, float, bool]] = []
    for a, b in itertools.pairwise(points):
        long_gap = (b - a) > threshold
        width = _width(b - a, threshold) if long_gap else float(b - a)
        if spans and not long_gap and not spans[-1][3]:
            start, _, drawn, _ = spans[-1]
            spans[-1] = (start, b, drawn + width, False)
        else:
            spans.append((a, b, width, long_gap))
    total = sum(width for _, _, width, _ in spans)
    pieces: list[AxisPiece] = []
    x = 0.0
    for start, stop, width, gap in spans:
        x_end = x + width / total
        pieces.append(AxisPiece(start, stop, x, x_end, gap))
        x = x_end
    last = pieces[-1]
    pieces[-1] = AxisPiece(last.t0, last.t1, last.x0, 1.0, last.gap)
    return tuple(pieces)

