"""Argument types the ``smtp-hil`` subcommands share: a release profile and a seed.

Each raises ``argparse.ArgumentTypeError`` with the sentence argparse prints after the
option's name. This module knows argparse and the profile names, nothing else.
"""

from __future__ import annotations

import argparse

from smtp.profiles import PROFILE_NAMES


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
