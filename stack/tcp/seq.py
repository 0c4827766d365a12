"""Sequence-number arithmetic (modulo 2**32, RFC 9293) and the flag bits as plain ints.

The flag bits are the :class:`~stack.segment.Flags` values as ``int``: ``IntFlag``
arithmetic is slow on the per-segment path, so the connection tests and combines
these. This module knows nothing but numbers.
"""

from __future__ import annotations

from typing import Final

from stack.segment import Flags

FIN: Final = int(Flags.FIN)
SYN: Final = int(Flags.SYN)
RST: Final = int(Flags.RST)
PSH: Final = int(Flags.PSH)
ACK: Final = int(Flags.ACK)

MASK: Final = 0xFFFF_FFFF
_HALF: Final = 1 << 31


def seq_add(a: int, n: int) -> int:
    """``a + n`` in sequence space."""
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """``a - b`` in sequence space, as a signed number."""
    d = (a - b) & MASK
    return d - (1 << 32) if d >= _HALF else d
