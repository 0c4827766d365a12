"""A shared port's queue on the link: frames one after another, and a limit to the wait.

When many hosts talk to one (a fleet of devices and their server), the frames towards
that host share its attachment: each waits for the ones ahead of it to be clocked out
at the link's bandwidth, and a port with a limit loses what arrives while that many are
already waiting (tail drop, as a switch port's buffer does). :class:`PortQueue` is one
direction of one such port; :class:`stack.link.Link` keeps two per shared host.

This module knows integer microseconds and counts; nothing about segments or links.
"""

from __future__ import annotations

from collections import deque


class PortQueue:
    """One direction of a shared port: when each frame is through, and how many wait."""

    __slots__ = ("_through", "busy_until", "dropped", "limit", "peak")

    def __init__(self, limit: int | None) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit < 1):
            raise ValueError(f"queue_frames: expected a positive integer or None, got {limit!r}")
        self.limit = limit
        self.busy_until = 0
        self.peak = 0
        """The most frames ever queued or being clocked out at once."""
        self.dropped = 0
        self._through: deque[int] = deque()

    def admit(self, now_us: int, serialisation_us: int) -> int | None:
        """When a frame that takes ``serialisation_us`` to clock out, offered at
        ``now_us``, is through the port; None when it is lost (the queue is full)."""
        through = self._through
        while through and through[0] <= now_us:
            through.popleft()
        if self.limit is not None and len(through) >= self.limit:
            self.dropped += 1
            return None
        done = max(now_us, self.busy_until) + serialisation_us
        self.busy_until = done
        through.append(done)
        self.peak = max(self.peak, len(through))
        return done

    @property
    def waiting(self) -> int:
        """Frames queued or being clocked out at the last :meth:`admit`."""
        return len(self._through)
