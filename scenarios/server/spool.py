"""A mail's content kept out of the process's memory once it is large.

:class:`MailContent` takes the content as it arrives (:meth:`~MailContent.append`, line by
line or chunk by chunk) and keeps it in memory up to :data:`IN_MEMORY_LIMIT`, then in an
unnamed temporary file (``tempfile.TemporaryFile``: deleted when closed, never seen by
another process). Writes are gathered in memory and go to the file in blocks of that
size, so a 20 MiB mail costs about 20 writes, not one per line. Readers take the content
back in blocks (:meth:`~MailContent.blocks`), a byte range (:meth:`~MailContent.read`) or
whole (:meth:`~MailContent.to_bytes`, for the APIs that hand a message to a user); each
read seeks first, so interleaved readers do not disturb each other.

Two contents are equal when their length and SHA-256 are (the digest is computed once,
on first use, by reading the content back). A content pickles as its bytes (worker
processes return results with their mailbox).

This module knows bytes and files; nothing of SMTP, the engine or verdicts. The
temporary file is storage, not input: it reads no clock, randomness or socket, and the
simulation's outcome does not depend on it.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from typing import Final

IN_MEMORY_LIMIT: Final = 1 << 20
"""Content up to this size stays in memory; beyond it, the content goes to a file."""
READ_BLOCK: Final = 1 << 18
"""How much :meth:`MailContent.blocks` reads at a time by default."""
FIND_BLOCK: Final = 64 * 1024
"""How much :meth:`MailContent.find` reads at a time (it usually looks near the start:
the end of the header section)."""


class MailContent:
    """Bytes appended as they arrive, then read back (module docstring)."""

    __slots__ = ("_file", "_file_size", "_pending", "_sha256")

    def __init__(self) -> None:
        self._pending = bytearray()
        """What is not in the file (all of it while there is no file)."""
        self._file: io.FileIO | None = None
        self._file_size = 0
        self._sha256: str | None = None

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> MailContent:
        """A content holding ``data``."""
        content = cls()
        content.append(data)
        return content

    # --- writing ----------------------------------------------------------------------
    def append(self, data: bytes | bytearray | memoryview) -> None:
        """``data`` arrived after what is already there."""
        if not data:
            return
        self._sha256 = None
        self._pending += data
        if len(self._pending) > IN_MEMORY_LIMIT:
            self._spill()

    def _spill(self) -> None:
        """The pending bytes to the file (made on the first call)."""
        if self._file is None:
            file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 (closed by close())
            assert isinstance(file, io.FileIO)  # unbuffered binary mode
            self._file = file
        self._file.seek(self._file_size)
        view = memoryview(self._pending)
        while view:
            written = self._file.write(view)
            assert written is not None  # a regular file never blocks
            view = view[written:]
        self._file_size += len(self._pending)
        self._pending = bytearray()

    # --- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._file_size + len(self._pending)

    @property
    def size(self) -> int:
        return len(self)

    @property
    def in_memory(self) -> bool:
        """Whether the whole content is still in memory (no file was needed)."""
        return self._file is None

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start:end]`` (``end`` None: to the end), as a slice would give."""
        size = len(self)
        start, end, _ = slice(start, end).indices(size)
        if end <= start:
            return b""
        if self._file is None:
            return bytes(self._pending[start:end])
        if end <= self._file_size:
            return self._read_file(start, end)
        head = self._read_file(start, self._file_size) if start < self._file_size else b""
        tail = self._pending[max(start, self._file_size) - self._file_size:
                             end - self._file_size]
        return head + tail

    def _read_file(self, start: int, end: int) -> bytes:
        assert self._file is not None
        self._file.seek(start)
        data = self._file.read(end - start)
        if data is not None and len(data) == end - start:
            return data  # one read: no second copy
        out = bytearray(data or b"")
        while len(out) < end - start:
            got = self._file.read(end - start - len(out))
            if not got:
                raise OSError(f"mail content: the spool file ended at byte "
                              f"{start + len(out)} of {self._file_size}")
            out += got
        return bytes(out)

    def blocks(self, start: int = 0, end: int | None = None,
               size: int = READ_BLOCK) -> Iterator[bytes]:
        """The bytes ``[start:end]`` in pieces of at most ``size`` bytes."""
        first, stop, _ = slice(start, end).indices(len(self))
        for at in range(first, stop, size):
            yield self.read(at, min(at + size, stop))

    def to_bytes(self) -> bytes:
        """The whole content in memory (for a user's API; verdicts read blocks)."""
        return self.read()

    def prefix(self, length: int | None) -> MailContent:
        """A new content with the first ``length`` bytes (all of them for None: then
        this very object, which is never appended to again)."""
        if length is None or length >= len(self):
            return self
        out = MailContent()
        for block in self.blocks(0, length):
            out.append(block)
        return out

    def find(self, needle: bytes, start: int = 0, limit: int | None = None,
             block: int = FIND_BLOCK) -> int:
        """Where ``needle`` first occurs at or after ``start`` (and before ``limit``
        bytes were searched, when given), or -1; reads ``block`` bytes at a time."""
        overlap = len(needle) - 1
        at = start
        stop = len(self) if limit is None else min(len(self), start + limit)
        while at < stop:
            found = self.read(at, min(at + block + overlap, len(self))).find(needle)
            if found >= 0 and at + found < stop:
                return at + found
            at += block
        return -1

    @property
    def sha256(self) -> str:
        """The SHA-256 of the content (hex), computed once."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            for block in self.blocks():
                digest.update(block)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def close(self) -> None:
        """Let go of the file now (it goes anyway when the content is collected)."""
        if self._file is not None:
            self._file.close()

    # --- identity ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MailContent):
            return NotImplemented
        return self is other or (len(self) == len(other) and self.sha256 == other.sha256)

    def __hash__(self) -> int:
        return hash((len(self), self.sha256))

    def __repr__(self) -> str:
        where = "memory" if self._file is None else "file"
        return f"MailContent({len(self)} bytes in {where})"

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (MailContent.of, (self.to_bytes(),))
