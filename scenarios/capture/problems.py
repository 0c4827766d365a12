"""What can be wrong with an input to ``smtp-hil import``, and reading the user's files.

A :class:`CaptureError` is bad input: one line that says which file, what is wrong and
what to do; the command line prints it and exits 2. The user's files (the capture, a
transcript, a key log) are checked and read through :mod:`smtp.userfiles`, the one way
smtp-hil reads a user's file (a regular file, below a size limit), its findings worded
as CaptureErrors.

This module knows files and messages; it knows nothing about captures or SMTP.
"""

from __future__ import annotations

from os import PathLike
from typing import Final

from emulator.userinput import UserInputError
from smtp.userfiles import MIB, FileKind, UserFileError
from smtp.userfiles import check_user_file as _check
from smtp.userfiles import read_user_file as _read

CAPTURE_FILE: Final = FileKind("capture file", 16 * 1024 * MIB)
"""Checked only (regular, readable, bounded): tshark reads it."""
INPUT_FILE: Final = FileKind("input file", CAPTURE_FILE.limit)
"""Whatever ``--format auto`` is given, before its first bytes say what it is."""
TEXT_FILE: Final = FileKind("input file", 256 * MIB)
"""A transcript, swaks output or a ``C:``/``S:`` dialogue, read whole."""
KEYLOG_FILE: Final = FileKind("key log", 16 * MIB)


class CaptureError(UserInputError):
    """An input ``smtp-hil import`` cannot use: ``problems`` holds one line per problem."""


def check_user_file(path: str | PathLike[str], kind: FileKind) -> int:
    """The size of the regular, readable file at ``path``; CaptureError otherwise."""
    try:
        return _check(path, kind)
    except UserFileError as exc:
        raise CaptureError(str(exc)) from None


def read_user_file(path: str | PathLike[str], kind: FileKind) -> bytes:
    """The bytes of the user's file at ``path``, at most ``kind.limit``."""
    try:
        return _read(path, kind)
    except UserFileError as exc:
        raise CaptureError(str(exc)) from None
