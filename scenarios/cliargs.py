"""Argument types the ``smtp-hil`` subcommands share: a release profile, a seed, seconds,
a speed. Numbers are bounded above as well as below, and nan and inf are refused.

Each raises ``argparse.ArgumentTypeError`` with the sentence argparse prints after the
option's name. This module knows argparse and the profile names, nothing else.
"""

from __future__ import annotations

import argparse
import math
from typing import Final

from smtp.bounds import MAX_DURATION_S
from smtp.profiles import PROFILE_NAMES

MAX_SPEED: Final = 1_000_000
"""The fastest paced speed: a million virtual seconds per real second (``--fast`` for
as fast as events allow)."""


def profile_name(value: str) -> str:
    """A release profile name (1.0 ... 2.5, current)."""
    if value not in PROFILE_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown profile {value!r} (known: {', '.join(PROFILE_NAMES)})")
    return value


def seed(value: str) -> int:
    """A kernel seed: an integer >= 0 (random.Random folds -1 onto 1: refuse it rather
    than silently repeat another seed's run)."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return number


def _positive_number(value: str, high: int, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 < number <= high:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected {what} > 0 and <= {high}, got {value!r}")
    return number


def positive_seconds(value: str) -> float:
    """A duration in seconds: more than 0 and, like every duration of the files, at most
    ``smtp.bounds.MAX_DURATION_S`` (a year); nan and inf are refused."""
    return _positive_number(value, MAX_DURATION_S, "seconds")


def speed(value: str) -> float:
    """Virtual seconds per real second: more than 0, at most :data:`MAX_SPEED`."""
    return _positive_number(value, MAX_SPEED, "a number")
