"""The scripted server's reply ledger: for each command it answered, what it said and did.

One :class:`Answer` per command line, content end (``DATA_END``), BDAT chunk, SASL line
(``AUTH_RESPONSE``) or greeting the engine answered: the command's verb, the code of the
reply it wrote (None: it wrote none), whether the command had its normal, successful
effect (``acted``: the sender recorded, the recipient added, the mail stored, TLS
started), whether it stored a mail (``stored``: the answer to the content, the final dot
or the last BDAT chunk), and whether what it wrote for it was exactly one well-formed
reply (``clean``), as the client's own reply parser reads it: a rule's injected bytes, a second
reply, bytes ``send_during_data`` pushed after a 354, or a reply with no line end are
not clean.

The ledger is what lets an invariant judge a mail's outcome only where the client could
know it: a server that answered a command twice, skipped one, injected a reply, or says
250 and does not store the mail (or 550 and stores it) makes the outcome unknowable to
any client (:mod:`scenarios.verdict.invariants`). The simulated driver writes each
answer as an ``answer`` trace record when the command is taken (:data:`ANSWER_KIND`),
which is also what faults anchored to ``server:VERB`` wait for
(:mod:`scenarios.format.anchors`).

This module knows actions, rules and the client's reply grammar; nothing of sockets,
time or the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from emulator.trace import FieldValue, TraceKind
from scenarios.server.actions import Action, Send
from scenarios.server.rules import Rule
from smtp.errors import RemoteProtocolError
from smtp.replies import ReplyParser

ANSWER_KIND: Final[TraceKind] = "answer"
"""The trace kind of a ledger entry (source ``server.c<N>``)."""

_POSITIVE: Final = ("2", "3")


@dataclass(frozen=True, slots=True)
class Answer:
    """How the server answered one command (see the module docstring)."""

    verb: str
    code: int | None
    acted: bool
    clean: bool
    stored: bool = False

    @property
    def replied(self) -> bool:
        """Whether the server wrote anything for this command."""
        return self.code is not None or not self.clean

    def trace_fields(self) -> dict[str, FieldValue]:
        return {"verb": self.verb, "code": self.code, "acted": self.acted,
                "clean": self.clean, "stored": self.stored}

    @classmethod
    def from_fields(cls, fields: Mapping[str, FieldValue]) -> Answer:
        """The entry an ``answer`` trace record carries."""
        verb, code = fields.get("verb"), fields.get("code")
        return cls(verb=str(verb), code=code if isinstance(code, int) else None,
                   acted=fields.get("acted") is True, clean=fields.get("clean") is True,
                   stored=fields.get("stored") is True)


def answer_of(verb: str, rule: Rule | None, own_reply: str | None,
              actions: Sequence[Action], *, stored: bool = False) -> Answer:
    """The ledger entry of one answer: ``verb`` answered under ``rule`` (None: the
    engine's own reply), ``own_reply`` the reply the verb's method chose (None: the rule
    kept the method from running), ``actions`` what the answer asked the driver to do,
    ``stored`` whether it stored a mail."""
    if len(actions) == 1 and isinstance(actions[0], Send):  # one reply, the common case
        written = actions[0].data
    else:
        written = b"".join(action.data for action in actions if isinstance(action, Send))
    acted = (own_reply is not None and own_reply.startswith(_POSITIVE)
             and (rule is None or rule.keeps_transition()))
    if not written:
        return Answer(verb, None, acted, clean=True, stored=stored)
    head = written[:3]
    code = int(head) if len(head) == 3 and head.isdigit() else None
    # One line (its only CRLF at the end): _first_reply would give all of it back.
    if rule is None and (written.find(b"\r\n") == len(written) - 2
                         or len(written) == len(_first_reply(written))):
        return Answer(verb, code, acted, clean=True, stored=stored)
    return Answer(verb, code, acted, clean=_one_reply(written), stored=stored)


def _first_reply(written: bytes) -> bytes:
    """The engine's own replies are well formed: the bytes up to the end of the first
    reply's last line (a fast path for the common case)."""
    end = 0
    while True:
        line_end = written.find(b"\r\n", end)
        if line_end < 0:
            return written
        line = written[end:line_end]
        end = line_end + 2
        if len(line) < 4 or line[3:4] != b"-":
            return written[:end]


def _one_reply(written: bytes) -> bool:
    """Whether ``written`` is exactly one complete reply, as the client's parser reads it."""
    parser = ReplyParser()
    parser.feed(written)
    try:
        first = parser.next_reply()
        second = parser.next_reply() if first is not None else None
    except RemoteProtocolError:
        return False
    return first is not None and second is None and parser.pending_bytes() == 0
