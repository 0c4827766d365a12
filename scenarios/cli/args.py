"""Arguments the ``smtp-hil`` subcommands share: a release profile, a seed, a number of
jobs, seconds, a speed, the real-time pacing of a scripted server, the ``--show-secrets``
switch, and the selection of scenarios (``-k``, ``--tag``). Numbers are bounded above as
well as below, and nan and inf are refused.

Each type raises ``argparse.ArgumentTypeError`` with the sentence argparse prints after
the option's name. This module knows argparse, the profile names and the pacing's
bounds, nothing else.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Final

from smtp.bounds import MAX_DURATION_S
from smtp.profiles import PROFILE_NAMES, check_profile_name

TIME_SCALE_LIMIT: Final = 1_000_000
"""``--time-scale`` stays below this (a scripted server's pacing refuses more)."""
MAX_SPEED: Final = 1_000_000
"""The fastest paced speed: a million virtual seconds per real second (``--fast`` for
as fast as events allow)."""


def profile_name(value: str) -> str:
    """A release profile name (1.0 ... 2.5, current)."""
    try:
        return check_profile_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    """``--profile``: the release the modelled client runs (default ``current``)."""
    parser.add_argument("--profile", type=profile_name, default="current",
                        help=f"release profile ({', '.join(PROFILE_NAMES)}); default current")


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


MAX_JOBS: Final = 256


def jobs(value: str) -> int:
    """How many runs at once: an integer from 1 to :data:`MAX_JOBS`."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_JOBS}, "
                                         f"got {value!r}")
    return number


def _number(value: str, what: str, fits: Callable[[float], bool], bounds: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not fits(number):  # nan fits nothing
        raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {value!r}")
    return number


def positive_seconds(value: str) -> float:
    """A duration in seconds: more than 0 and, like every duration of the files, at most
    ``smtp.bounds.MAX_DURATION_S`` (a year); nan and inf are refused."""
    return _number(value, "seconds", lambda n: 0 < n <= MAX_DURATION_S,
                   f"> 0 and <= {MAX_DURATION_S}")


def seconds(value: str) -> float:
    """A duration in seconds, 0 included, at most ``smtp.bounds.MAX_DURATION_S``."""
    return _number(value, "seconds", lambda n: 0 <= n <= MAX_DURATION_S,
                   f">= 0 and <= {MAX_DURATION_S}")


def speed(value: str) -> float:
    """Virtual seconds per real second: more than 0, at most :data:`MAX_SPEED`."""
    return _number(value, "a number", lambda n: 0 < n <= MAX_SPEED, f"> 0 and <= {MAX_SPEED}")


def time_scale(value: str) -> float:
    """A factor for a scenario's delays in real time: 0 (no delays) up to, but not
    including, :data:`TIME_SCALE_LIMIT` (``scenarios.server.asyncdriver.Pacing``'s)."""
    return _number(value, "a number", lambda n: 0 <= n < TIME_SCALE_LIMIT,
                   f">= 0 and < {TIME_SCALE_LIMIT}")


def add_show_secrets_argument(parser: argparse.ArgumentParser) -> None:
    """``--show-secrets``: credentials in clear in what the subcommand writes."""
    parser.add_argument("--show-secrets", action="store_true",
                        help="show credentials (AUTH payloads, LOGIN lines) in transcripts, "
                             "trace lines, pcaps and JSON; hidden by default")


def add_pacing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--time-scale`` and ``--max-delay``: a scripted server's delays in real time."""
    parser.add_argument("--time-scale", type=time_scale, default=1.0, metavar="X",
                        help="multiply the scenario's delays by X (default 1: real time)")
    parser.add_argument("--max-delay", type=seconds, default=None, metavar="S",
                        help="cap every scenario delay at S seconds")


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """``-k EXPR`` and ``--tag TAG`` (repeatable): which scenarios (``scenarios.selection``)."""
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only scenarios whose name or a tag contains these words, with "
                             "and/or/not and parentheses, as pytest -k "
                             "(e.g. -k 'tls and not starttls')")
    parser.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG",
                        help="only scenarios with this tag (repeatable: any of them); "
                             "smtp-hil list shows the tags")
