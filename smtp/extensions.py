"""The server's EHLO reply as a set of extensions: keywords and their parameters.

Keywords are upper-cased; the list is capped (a capability bomb gets no further), and the
SIZE parameter is read with an overflow guard. This module knows RFC 5321 4.1.1.1 and
RFC 1870; nothing about sockets or the client's state.
"""

from __future__ import annotations

from smtp.replies import Reply

#: The most EHLO keywords kept from one reply.
MAX_EXTENSIONS = 256

def parse_extensions(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper case) and their parameters, from the lines after the first."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
        if len(extensions) >= MAX_EXTENSIONS:  # a capability bomb gets no further
            break
    return extensions


def size_limit(param: str) -> int | None:
    """The SIZE parameter as an int (0 or garbage: no limit); overflow-safe."""
    text = param.strip()
    if not text.isdigit() or len(text) > 15:
        return None
    return int(text) or None
