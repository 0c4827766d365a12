"""What can be wrong with an input to ``smtp-hil import``, and reading the user's files.

A :class:`CaptureError` is bad input: one line that says which file, what is wrong and
what to do; the command line prints it and exits 2. :func:`read_user_file` is the one
place the importer reads a file the user named: a regular file (a FIFO or a device would
block or never end), below a size limit, never a traceback.

This module knows files and messages; it knows nothing about captures or SMTP.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

MiB: Final = 1024 * 1024


class CaptureError(ValueError):
    """An input ``smtp-hil import`` cannot use: ``problems`` holds one line per problem."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problems = (problem,)


def check_user_file(path: Path, what: str) -> int:
    """The size of ``path``, a regular, readable file; CaptureError naming ``what`` otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise CaptureError(f"{path}: {kind}: give the {what} itself")
    if not os.access(path, os.R_OK):
        raise CaptureError(f"{path}: cannot read the {what}: permission denied")
    return info.st_size


def read_user_file(path: Path, what: str, limit: int) -> bytes:
    """The bytes of the user's ``what`` at ``path``, at most ``limit`` bytes."""
    size = check_user_file(path, what)
    if size > limit:
        raise CaptureError(f"{path}: the {what} is {size / MiB:.1f} MiB, more than the "
                           f"{limit / MiB:.0f} MiB this reads")
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CaptureError(f"{path}: the {what} grew beyond {limit / MiB:.0f} MiB while "
                           f"being read")
    return data
