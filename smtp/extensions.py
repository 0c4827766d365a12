"""The server's EHLO reply as a set of extensions: keywords and their parameters.

Everything here comes from the server, so nothing raises whatever the text; what the
grammar does not allow is ignored, never guessed at:

- a line whose keyword is not an RFC 5321 4.1.1.1 ``ehlo-keyword`` (ASCII letters,
  digits and ``-``, not starting with ``-``) is skipped, so ``AUTH=PLAIN``, ``ßTARTTLS``
  (which ``str.upper`` would make ``SSTARTTLS``) or a keyword with a control byte name
  no extension. Keyword and parameters are separated by SP; TAB and SP around them are
  dropped, and no other white space counts (a NO-BREAK SPACE is part of the word);
- the SIZE parameter (RFC 1870 ``size-value = 1*20DIGIT``) counts only when it is ASCII
  digits: ``²`` is a digit to ``str.isdigit`` but not to ``int``, and ``١٢٣`` is a
  number to ``int`` but not to RFC 1870. Anything else, 0, or a value of more than 15
  digits (more than any device sends) means no declared limit: the client still sends
  ``SIZE=`` and the server stays the judge of its own limit;
- the list is capped at :data:`MAX_EXTENSIONS` keywords (a capability bomb gets no
  further).

This module knows RFC 5321 4.1.1.1 and RFC 1870; nothing about sockets or the client's
state.
"""

from __future__ import annotations

import re
from typing import Final

from smtp.replies import Reply

#: The most EHLO keywords kept from one reply.
MAX_EXTENSIONS = 256

_KEYWORD_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_SIZE_RE: Final = re.compile(r"[0-9]{1,15}")
_BLANKS: Final = " \t"


def parse_extensions(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper case) and their parameters, from the lines after the first."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip(_BLANKS).partition(" ")
        if _KEYWORD_RE.fullmatch(keyword) is None:
            continue
        extensions[keyword.upper()] = params.strip(_BLANKS)
        if len(extensions) >= MAX_EXTENSIONS:  # a capability bomb gets no further
            break
    return extensions


def size_limit(param: str) -> int | None:
    """The SIZE parameter as an int; None when it declares no limit or is not ASCII digits."""
    text = param.strip(_BLANKS)
    if _SIZE_RE.fullmatch(text) is None:
        return None
    return int(text) or None
