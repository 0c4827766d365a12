"""Time units of the kernel: everything is an integer number of microseconds."""

from typing import Final

US: Final = 1
MS: Final = 1_000
SECOND: Final = 1_000_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE


def format_us(t_us: int) -> str:
    """Render a virtual time as seconds with microsecond precision, e.g. ``12.000345``."""
    sign = "-" if t_us < 0 else ""
    t = abs(t_us)
    return f"{sign}{t // SECOND}.{t % SECOND:06d}"
