"""Where TLS records end in a stream of ciphertext, from their 5-byte headers alone.

A TLS session decrypts one record at a time as the application reads (see
:mod:`stack.tls.session`), so it must know how many bytes complete the record under way.
This module reads record headers only; it knows nothing about ``ssl`` or sockets.
"""

from __future__ import annotations

from typing import Final

RECORD_PLAINTEXT: Final = 16 * 1024  # the most plaintext one TLS record carries
RECORD_HEADER: Final = 5  # content type (1), legacy version (2), length (2)


class RecordBoundaries:
    """Tracks where TLS records end in the ciphertext taken so far (headers only)."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._body_left = 0

    def bytes_to_boundary(self) -> int:
        """How many bytes complete the current header or record body."""
        return self._body_left or RECORD_HEADER - len(self._header)

    def bytes_to_record_end(self, ahead: bytes) -> int:
        """How many bytes complete the record under way, given the first bytes still
        to come (``ahead``): at a record's start its header in ``ahead`` tells the whole
        record's length, so header and body can be taken in one read."""
        if self._body_left or self._header or len(ahead) < RECORD_HEADER:
            return self.bytes_to_boundary()
        return RECORD_HEADER + int.from_bytes(ahead[3:5], "big")

    def feed(self, chunk: bytes) -> None:
        i = 0
        while i < len(chunk):
            if self._body_left:
                take = min(self._body_left, len(chunk) - i)
                self._body_left -= take
            else:
                take = min(RECORD_HEADER - len(self._header), len(chunk) - i)
                self._header += chunk[i : i + take]
                if len(self._header) == RECORD_HEADER:
                    self._body_left = int.from_bytes(self._header[3:5], "big")
                    self._header.clear()
            i += take
