"""Small measuring helpers shared by the benchmarks: load average, CPU and wall time, memory.

Not a benchmark itself (no ``bench_`` prefix). The benchmarks run as scripts from the
repository root, so this folder is on ``sys.path``. On a shared machine wall time
scatters with the load; CPU time (``time.process_time``) much less, so every figure
that matters is printed with both, and every script prints the load average.

This module reads the host's clocks and ``/proc``; it knows nothing about the project.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """One measured call: wall and CPU seconds of this process."""

    wall_s: float
    cpu_s: float


def timed(work: Callable[[], T]) -> tuple[T, Timing]:
    """``work()``'s result and what it cost."""
    cpu = time.process_time()
    wall = time.perf_counter()
    result = work()
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def load_average() -> str:
    """The 1-minute load average, as ``load 1.23`` (``load n/a`` off Linux)."""
    try:
        return f"load {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load n/a"


def bytecode_cache() -> str:
    """Whether this interpreter writes and reads ``__pycache__`` (start-up figures need it)."""
    return "no bytecode cache" if sys.dont_write_bytecode else "bytecode cache"


def peak_rss_mib() -> float:
    """This process's peak resident memory (``VmHWM``; ``ru_maxrss`` off Linux), MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    scaled = sorted(v * scale for v in values)
    return (f"{statistics.median(scaled):.{digits}f} "
            f"({scaled[0]:.{digits}f}-{scaled[-1]:.{digits}f})")
