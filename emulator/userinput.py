"""The one root of "the user's input is wrong": :class:`UserInputError`.

A scenario file, a device configuration, a DUT file, a capture, a golden hashes file, a
command-line argument, a path the user named: when one cannot be used, the code that
finds out raises a ``UserInputError`` (or a subclass named after what was read:
``ScenarioError``, ``ConfigError``, ``UserFileError``, ``DutError``, ``CaptureError``
...) holding one line per problem, each naming the file and the key, e.g. ``x.toml:
device.pool_buffers: expected an integer >= 2, got 1``. The lines carry no program
name: the command line (:mod:`scenarios.cli`) is the one place that prints them, after
its own prefix, and exits 2; a library caller catches ``UserInputError`` and shows
``problems``. Anything else that escapes is a bug, never the user's fault.

Not to be confused with :class:`smtp.errors.SmtpInputError`: that is the embedded
application's bad input to the SMTP client, which the client reports as an
``error invalid_input`` event, as the device would.

It is a ``ValueError`` (a bad value, in Python's words). This module imports nothing of
the project: it lives at the bottom of the layers, so that every layer may raise it.
"""

from __future__ import annotations

from collections.abc import Sequence


class UserInputError(ValueError):
    """The user's input cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        lines = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(lines))
        self.problems: list[str] = lines
