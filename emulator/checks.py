"""The one check of an integer argument, and its one wording.

``check_int("mtu", 575, 576, 65535)`` raises ``ValueError("mtu: expected an integer
576..65535, got 575")``; with no upper bound the wording is ``expected an integer >= 1``.
``True`` is not an integer here. Constructors of every layer (kernel, stack, client,
scripted server) use it for their integer arguments, so a wrong one reads the same
wherever it is caught.

This module is pure: it imports nothing, reads no clock and knows no other module, so
the sans-I/O modules of ``smtp`` may use it too.
"""

from __future__ import annotations


def check_int(field: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` when it is an integer in ``low..high`` (``high`` None: no upper bound);
    otherwise ``ValueError`` naming ``field``, the range and the value."""
    if (not isinstance(value, int) or isinstance(value, bool) or value < low
            or (high is not None and value > high)):
        expected = f"an integer >= {low}" if high is None else f"an integer {low}..{high}"
        raise ValueError(f"{field}: expected {expected}, got {value!r}")
    return value


def check_optional_int(field: str, value: object, low: int,
                       high: int | None = None) -> int | None:
    """``check_int``, with None allowed (an optional argument left out)."""
    return None if value is None else check_int(field, value, low, high)
