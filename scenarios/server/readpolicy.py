"""The email policy for parses that only read a received mail: ``email.policy.default``
with a header factory that makes each header object once.

The email package's parser asks for a part's Content-Type over and over while it parses
(``get_content_maintype`` at every part, every boundary), and ``policy.default`` parses
the header's text again each time, building a new header class on the way (about 60 µs
each: two thirds of judging a small mail's body and attachments). :data:`READ_POLICY`
is the same policy whose header factory remembers the header object it made for a
(name, text) pair: header objects are immutable (``str`` subclasses with read-only
properties), so the message reads exactly as with ``policy.default``; only the work is
done once. The memory is bounded (:data:`REMEMBERED` headers of up to
:data:`LONGEST` characters; forgotten all at once when full).

Use it for messages that are read, never for messages that are built, changed header
by header or written out again (those keep ``policy.default``).

This module knows the email package; nothing of servers or verdicts.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from typing import Final

REMEMBERED: Final = 512
"""How many header objects the factory keeps."""
LONGEST: Final = 4096
"""Longer header texts are parsed every time (a hostile header is not kept)."""


class RememberingHeaderRegistry(HeaderRegistry):
    """``HeaderRegistry`` that returns the same header object for the same name and text."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        if type(value) is not str or len(value) > LONGEST:
            made: BaseHeader = super().__call__(name, value)
            return made
        key = (name, value)
        found = self._made.get(key)
        if found is None:
            found = super().__call__(name, value)
            if len(self._made) >= REMEMBERED:
                self._made.clear()
            self._made[key] = found
        return found


READ_POLICY: Final = email.policy.default.clone(header_factory=RememberingHeaderRegistry())
"""``email.policy.default`` for parses that only read (module docstring)."""
