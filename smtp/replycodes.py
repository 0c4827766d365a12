"""Which reply codes mean success for each command the client sends.

RFC 5321 4.3.2 lists, per command, the codes of success (``S:``), of the intermediate
step (``I:``) and of failure (``E:``). Only the listed success code is success: a ``220``
to HELO, a ``251`` to MAIL or a ``235`` after the content is not, however positive its
first digit. The extensions add their own: STARTTLS ``220`` (RFC 3207), AUTH ``235``
(RFC 4954), BDAT ``250`` (RFC 3030), ETRN ``250``-``253`` (RFC 1985). ``DATA`` is the
``354`` that invites the content; ``DATA_END`` the reply after it. The client decides
with :func:`accepts` and treats every other code as the command's failure.

This module is pure data: no sockets, no clocks, no protocol state.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from smtp.replies import Reply

Command: TypeAlias = Literal[
    "GREETING", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "DATA_END",
    "BDAT", "RSET", "VRFY", "ETRN", "QUIT",
]

SUCCESS: Final[dict[Command, frozenset[int]]] = {
    "GREETING": frozenset({220}),
    "EHLO": frozenset({250}),
    "HELO": frozenset({250}),
    "STARTTLS": frozenset({220}),
    "AUTH": frozenset({235}),
    "MAIL": frozenset({250}),
    "RCPT": frozenset({250, 251}),
    "DATA": frozenset({354}),
    "DATA_END": frozenset({250}),
    "BDAT": frozenset({250}),
    "RSET": frozenset({250}),
    "VRFY": frozenset({250, 251, 252}),
    "ETRN": frozenset({250, 251, 252, 253}),
    "QUIT": frozenset({221}),
}
"""Success codes per command (for DATA: the 354 that invites the content)."""


def accepts(command: Command, reply: Reply) -> bool:
    """Whether ``reply`` is a success answer to ``command``."""
    return reply.code in SUCCESS[command]
