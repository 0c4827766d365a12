"""Reading a file the user named, safely: the one way smtp-hil reads a user's file.

Scenario files, device configurations, DUT files, certificates and keys, mail bodies and
attachments all come through here. Before anything is read the path must name a regular
file (a FIFO would block forever, a device such as ``/dev/zero`` never ends, a directory
is not a file) no larger than the limit of its :class:`FileKind`; the check is made with
``os.stat`` and again on the opened file (opened with ``O_NONBLOCK``, so that even a FIFO
put there in between cannot block), and reading stops at the limit too (a file that grows,
or one of ``/proc`` that says it is empty). Text is UTF-8; a leading byte-order mark is
skipped. TOML is parsed here as well, with the nesting of arrays and tables bounded: a
file nested deeper than the parser can follow, or than :data:`MAX_TOML_NESTING`, is
refused instead of raising ``RecursionError``.

Every problem is a :class:`UserFileError` (a :class:`~emulator.userinput.UserInputError`)
holding one line that names the file:
``no such scenario file: x.toml``, ``x.toml: not a regular file (a FIFO)``,
``x.toml: too large: 104857600 bytes, a scenario file may have at most 1 MiB``,
``x.toml: line 3, column 8: TOML syntax error: ...``. Callers put their own context
(an option name, the config key that named the file) in front.

This module knows files, UTF-8 and TOML; it knows nothing about what the files mean.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike, fspath
from typing import IO, Any, Final

from emulator.userinput import UserInputError

KIB: Final = 1024
MIB: Final = 1024 * KIB
MAX_TOML_NESTING: Final = 32
"""The deepest nesting of arrays and tables a TOML file may have; ours need four."""
READ_CHUNK: Final = 64 * KIB
"""The size of the pieces :func:`stream_user_file` yields."""


@dataclass(frozen=True, slots=True)
class FileKind:
    """What a file is for (``noun``, as messages name it) and how large it may be."""

    noun: str
    limit: int

    def limit_text(self) -> str:
        if self.limit % MIB == 0:
            return f"{self.limit // MIB} MiB"
        return f"{self.limit} bytes"


SCENARIO_FILE: Final = FileKind("scenario file", 1 * MIB)
CONFIG_FILE: Final = FileKind("device configuration file", 1 * MIB)
DUT_FILE: Final = FileKind("DUT file", 1 * MIB)
CA_FILE: Final = FileKind("CA file", 1 * MIB)
CERT_FILE: Final = FileKind("certificate file", 1 * MIB)
KEY_FILE: Final = FileKind("key file", 1 * MIB)
GOLDEN_FILE: Final = FileKind("golden hashes file", 1 * MIB)
FIRMWARE_FILE: Final = FileKind("C firmware library", 256 * MIB)
"""Checked only (regular, readable, bounded): the dynamic loader reads it."""
BODY_FILE: Final = FileKind("body file", 64 * MIB)
"""A mail body is read whole; 64 MiB is more than any mail an embedded client sends."""
ATTACHMENT_FILE: Final = FileKind("attachment", 64 * MIB)
"""Attachments are streamed, but bounded like the body."""


class UserFileError(UserInputError):
    """A file the user named cannot be used; the message is one line naming the file."""


_FILE_TYPES: Final = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind_of_file(mode: int) -> str:
    return next((name for test, name in _FILE_TYPES if test(mode)), "a special file")


def shown_path(path: str | PathLike[str]) -> str:
    """``path`` as messages show it: as it is, or quoted when it holds a control character
    (a line break in it would split a one-line message)."""
    text = fspath(path)
    return text if text.isprintable() else repr(text)


def _os_problem(source: str, kind: FileKind, exc: OSError) -> UserFileError:
    if exc.errno == errno.ENOENT:
        return UserFileError(f"no such {kind.noun}: {source}")
    return UserFileError(f"{source}: cannot read the file: {exc.strerror or exc}")


def _check_stat(source: str, kind: FileKind, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UserFileError(f"{source}: not a regular file ({_kind_of_file(info.st_mode)})")
    _check_size(source, kind, info.st_size)


def _check_size(source: str, kind: FileKind, size: int) -> None:
    if size > kind.limit:
        raise UserFileError(f"{source}: too large: {size} bytes, a {kind.noun} may have at "
                            f"most {kind.limit_text()}")


def _open(path: str, kind: FileKind) -> int:
    """A file descriptor of the regular file ``path``, checked before and after opening."""
    source = shown_path(path)
    if "\0" in path:
        raise UserFileError(f"{source}: not a file name (it holds a NUL character)")
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _os_problem(source, kind, exc) from None
    _check_stat(source, kind, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _os_problem(source, kind, exc) from None
    try:
        _check_stat(source, kind, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_user_file(path: str | PathLike[str], kind: FileKind) -> int:
    """The size of the regular, readable file at ``path`` (opened, nothing read), or
    :class:`UserFileError` saying why it cannot be used."""
    fd = _open(fspath(path), kind)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def stream_user_file(path: str | PathLike[str], kind: FileKind) -> Iterator[bytes]:
    """The bytes of the file at ``path`` in pieces of at most :data:`READ_CHUNK`;
    :class:`UserFileError` when it is no regular file or grows past the limit."""
    source = shown_path(path)
    with os.fdopen(_open(fspath(path), kind), "rb") as fh:
        total = 0
        while chunk := _read(source, kind, fh, READ_CHUNK):
            total += len(chunk)
            _check_size(source, kind, total)
            yield chunk


def _read(source: str, kind: FileKind, fh: IO[bytes], size: int) -> bytes:
    try:
        data = fh.read(size)
    except OSError as exc:
        raise _os_problem(source, kind, exc) from None
    return data


def read_user_file(path: str | PathLike[str], kind: FileKind) -> bytes:
    """The whole content of the file at ``path``, checked as :func:`stream_user_file`."""
    source = shown_path(path)
    with os.fdopen(_open(fspath(path), kind), "rb") as fh:
        data = _read(source, kind, fh, kind.limit + 1)
    _check_size(source, kind, len(data))
    return data


def decode_text(source: str, data: bytes) -> str:
    """``data`` as UTF-8 text, without a leading byte-order mark."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserFileError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def read_user_text(path: str | PathLike[str], kind: FileKind) -> str:
    """The file at ``path`` as UTF-8 text (see :func:`read_user_file`)."""
    return decode_text(shown_path(path), read_user_file(path, kind))


# ----------------------------------------------------------------------------------------
# TOML

_POSITION_RE: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_END_RE: Final = re.compile(r"\s*\(at end of document\)$")
_DIGITS_RE: Final = re.compile(r"limit \((\d+) digits\).*value has (\d+) digits")


def toml_syntax_problem(source: str, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``FILE: line L, column C: TOML syntax error: WHAT`` for a ``tomllib`` error in
    ``text`` (the wording every TOML file of smtp-hil uses)."""
    message = str(exc)
    if match := _POSITION_RE.search(message):
        line, column = int(match[1]), int(match[2])
        message = message[: match.start()]
    else:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = _END_RE.sub("", message)
    return f"{source}: line {line}, column {column}: TOML syntax error: {message}"


def parse_toml(text: str, *, source: str) -> dict[str, Any]:
    """The TOML document ``text``; :class:`UserFileError` names ``source`` and what is
    wrong: the syntax, a nesting deeper than :data:`MAX_TOML_NESTING`, a number too long."""
    nested = f"nested too deeply (at most {MAX_TOML_NESTING} levels of arrays and tables)"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserFileError(toml_syntax_problem(source, text, exc)) from None
    except RecursionError:
        raise UserFileError(f"{source}: {nested}") from None
    except ValueError as exc:  # int(): more digits than Python converts
        match = _DIGITS_RE.search(str(exc))
        what = (f"a number of {match[2]} digits (at most {match[1]})" if match
                else f"a value TOML cannot hold: {exc}")
        raise UserFileError(f"{source}: {what}") from None
    too_deep = _too_deep(data)
    if too_deep is not None:
        raise UserFileError(f"{source}: {too_deep}: {nested}")
    return data


def _too_deep(data: dict[str, Any]) -> str | None:
    """The dotted key (tables only) of a value nested deeper than allowed, if any."""
    stack: list[tuple[str, object, int]] = [(key, value, 1) for key, value in data.items()]
    while stack:
        key, value, depth = stack.pop()
        if depth > MAX_TOML_NESTING:
            return key
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}", v, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((key, v, depth + 1) for v in value)
    return None


def load_toml(path: str | PathLike[str], kind: FileKind) -> dict[str, Any]:
    """The parsed document of the TOML file at ``path`` (read by :func:`read_user_text`)."""
    return parse_toml(read_user_text(path, kind), source=shown_path(path))
