"""The SMTP dialogue of a recorded session: the client's units, the server's answers, paired.

The server's bytes are cut into replies by SMTP's own syntax (``250-`` lines continue a
reply, ``250 `` ends it). The client's bytes are cut into what the server answers one by
one: a command line, a line of a SASL exchange (after a ``334``), the content after a
``354`` (up to the final dot: ``DATA_END``), a ``BDAT`` chunk. The two are paired in
order, as SMTP pairs them, with one check the order alone cannot make: a reply the server
sent before it had the command it would answer (say, an extra ``250 OK`` in the same
segment as the EHLO reply) answers nothing; it belongs to the answer it was sent with.

Each :class:`Answer` keeps how the server sent it: its writes (the capture's TCP segments
or TLS records cut at the answer's bounds), the delay from when the server had the
command (and was done sending what came before) to the first write, the gaps between
writes, whether its first write was shared with the previous answer, and what the server
did after it (closed, reset, dropped TLS, or fell silent). :class:`Dialogue` also keeps
what the client said, for the scenario's job, device configuration and expectations.

This module knows SMTP and the session model; it knows nothing about files or scenarios.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from scenarios.capture.model import Piece, Session

UnitKind: TypeAlias = Literal["command", "sasl", "content", "bdat"]
Then: TypeAlias = Literal["close", "reset", "silent", "drop_tls"]
DropMode: TypeAlias = Literal["tcp_close", "rst", "close_notify"]

_REPLY_LINE: Final = re.compile(rb"^(\d{3})([ -]?)")
_BDAT: Final = re.compile(r"^BDAT\s+(\d{1,18})(\s+LAST)?\s*$", re.IGNORECASE)


@dataclass
class Reply:
    """One reply of the server: its bytes in the server's stream and when it started."""

    start: int
    end: int
    data: bytes
    t_us: int
    complete: bool = True

    @property
    def code(self) -> int | None:
        match = _REPLY_LINE.match(self.data)
        return int(match[1]) if match else None

    def text_lines(self) -> list[str]:
        """The reply's lines without CRLF, decoded as latin-1."""
        return [line.rstrip("\r") for line in self.data.decode("latin-1").split("\n") if line]


@dataclass
class Unit:
    """One thing the client sent that the server answers on its own."""

    kind: UnitKind
    verb: str
    """The verb a replay step is matched on (``EHLO``, ``AUTH_RESPONSE``, ``DATA_END``)."""
    line: str
    """The command line without CRLF (for content: a summary)."""
    data: bytes
    t_us: int
    arrival_us: int
    tls: bool
    pipelined: bool = False
    """Sent in the same piece as the unit before it: the client did not wait."""
    complete: bool = True
    """The whole unit arrived (a line with its end, content with its final dot)."""

    @property
    def argument(self) -> str:
        return self.line.partition(" ")[2]


@dataclass
class Answer:
    """How the server answered one unit (or the connection, for the greeting)."""

    replies: list[Reply]
    writes: list[tuple[int, bytes]]
    """``(t_us, bytes)`` of each write, in order."""
    delay_us: int = 0
    join_previous: bool = False
    then: Then | None = None
    then_delay_us: int = 0
    drop_tls_mode: DropMode | None = None
    inject: bytes | None = None
    """With ``drop_tls`` by ``close_notify``: what the server sent in the clear after it."""

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.writes)

    @property
    def code(self) -> int | None:
        return self.replies[0].code if self.replies else None

    @property
    def last_us(self) -> int | None:
        return self.writes[-1][0] if self.writes else None


@dataclass
class Exchange:
    """A unit of the client and the server's answer (None: it was never answered)."""

    unit: Unit | None
    answer: Answer | None
    discarded: bool = False
    """Plaintext the client sent after an accepted STARTTLS: the server drops it."""

    @property
    def verb(self) -> str:
        return "GREETING" if self.unit is None else self.unit.verb


@dataclass
class Dialogue:
    """The whole dialogue: the greeting's answer first, then one exchange per unit."""

    session: Session
    exchanges: list[Exchange] = field(default_factory=list)
    tls_started_at: int | None = None
    """The index of the exchange after which TLS started (STARTTLS accepted)."""

    def answered(self, verb: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.verb == verb and not e.discarded]

    def units(self) -> list[Unit]:
        return [e.unit for e in self.exchanges if e.unit is not None and not e.discarded]


class _Stream:
    """One side's bytes with the piece each offset came from."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.starts: list[int] = []
        parts, position = [], 0
        for piece in pieces:
            self.starts.append(position)
            parts.append(piece.data)
            position += len(piece.data)
        self.data = b"".join(parts)

    def piece_at(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def piece_end(self, index: int) -> int:
        return self.starts[index] + len(self.pieces[index].data)


def split_replies(server: _Stream) -> list[Reply]:
    """The server's bytes as replies; a line that is not ``ddd[ -]...`` is a reply of its
    own, and bytes after the last line feed are an incomplete reply."""
    out: list[Reply] = []
    data = server.data
    position = 0
    start: int | None = None
    while position < len(data):
        newline = data.find(b"\n", position)
        end = len(data) if newline < 0 else newline + 1
        line = data[position:end]
        if start is None:
            start = position
        match = _REPLY_LINE.match(line)
        continues = match is not None and match[2] == b"-" and newline >= 0
        if not continues:
            piece = server.pieces[server.piece_at(start)]
            out.append(Reply(start, end, data[start:end], piece.t_us, complete=newline >= 0))
            start = None
        position = end
    if start is not None:  # a multi-line reply the server never finished
        piece = server.pieces[server.piece_at(start)]
        out.append(Reply(start, len(data), data[start:], piece.t_us, complete=False))
    return out


class _Pairing:
    """Walks the client's bytes unit by unit and pairs each with the next reply."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.client = _Stream(session.side_pieces("client"))
        self.server = _Stream(session.side_pieces("server"))
        self.replies = split_replies(self.server)
        self.next_reply = 0
        self.dialogue = Dialogue(session)
        self.position = 0
        self.mode: UnitKind = "command"
        self.bdat_size = 0
        self.last_piece: int | None = None

    def run(self) -> Dialogue:
        first_unit_us = self._peek_arrival()
        greeting = self._take_replies(first_unit_us, first=True)
        self.dialogue.exchanges.append(Exchange(None, greeting))
        while (unit := self._next_unit()) is not None:
            if self._discarding(unit):
                self.dialogue.exchanges.append(Exchange(unit, None, discarded=True))
                continue
            self._attach_unsolicited(unit.arrival_us)
            answer = self._take_replies(None)
            exchange = Exchange(unit, answer)
            self.dialogue.exchanges.append(exchange)
            self._after(exchange)
        self._attach_unsolicited(None)
        return self.dialogue

    # -- replies
    def _peek_arrival(self) -> int | None:
        if not self.client.pieces:
            return None
        return self.session.arrival_us(self.client.pieces[0])

    def _take_replies(self, before_us: int | None, first: bool = False) -> Answer | None:
        """The next reply as an answer (for the greeting: only if sent before ``before_us``)."""
        if self.next_reply >= len(self.replies):
            return None
        reply = self.replies[self.next_reply]
        if first and before_us is not None and reply.t_us > before_us:
            return None
        self.next_reply += 1
        return Answer([reply], [])

    def _attach_unsolicited(self, arrival_us: int | None) -> None:
        """Replies sent before the server had the next unit belong to the previous answer."""
        while self.next_reply < len(self.replies):
            reply = self.replies[self.next_reply]
            if arrival_us is not None and reply.t_us >= arrival_us:
                return
            owner = next((e for e in reversed(self.dialogue.exchanges)
                          if e.answer is not None), None)
            if owner is None or owner.answer is None:
                owner = self.dialogue.exchanges[0]
                owner.answer = Answer([], [])
            assert owner.answer is not None
            owner.answer.replies.append(reply)
            self.next_reply += 1

    # -- client units
    def _next_unit(self) -> Unit | None:
        data = self.client.data
        if self.position >= len(data):
            return None
        start = self.position
        if self.mode == "content":
            end = _content_end(data, start)
            self.mode = "command"
            unit = self._unit("content", "DATA_END", start, end,
                              f"(the message: {max(0, end - start - 5)} bytes)")
            unit.complete = unit.data.endswith(b"\r\n.\r\n") or unit.data == b".\r\n"
            return unit
        if self.mode == "bdat":
            end = min(len(data), start + self.bdat_size)
            self.mode = "command"
            return self._unit("bdat", "BDAT", start, end, "")
        newline = data.find(b"\n", start)
        end = len(data) if newline < 0 else newline + 1
        line = data[start:end].rstrip(b"\r\n").decode("utf-8", "replace")
        if self.mode == "sasl":
            return self._unit("sasl", "AUTH_RESPONSE", start, end, line)
        verb = line.split(" ", 1)[0].upper()
        bdat = _BDAT.match(line)
        if bdat is not None:
            size = int(bdat[1])
            chunk_end = min(len(data), end + size)
            unit = self._unit("bdat", "BDAT", start, chunk_end, line)
            unit.data = data[end:chunk_end]
            unit.complete = len(unit.data) == size
            return unit
        unit = self._unit("command", verb, start, end, line)
        unit.complete = newline >= 0
        return unit

    def _unit(self, kind: UnitKind, verb: str, start: int, end: int, line: str) -> Unit:
        self.position = end
        index = self.client.piece_at(max(start, end - 1))
        piece = self.client.pieces[index]
        first = self.client.piece_at(start)
        pipelined = self.last_piece is not None and first == self.last_piece
        self.last_piece = index
        return Unit(kind, verb, line, self.client.data[start:end], piece.t_us,
                    self.session.arrival_us(piece), piece.tls, pipelined)

    def _discarding(self, unit: Unit) -> bool:
        return self.dialogue.tls_started_at is not None and not unit.tls and any(
            p.tls for p in self.client.pieces)

    def _after(self, exchange: Exchange) -> None:
        """The mode for the next unit, from this unit and its reply."""
        unit, answer = exchange.unit, exchange.answer
        assert unit is not None
        code = answer.code if answer is not None else None
        if unit.kind == "command" and unit.verb == "DATA" and code == 354:
            self.mode = "content"
        elif unit.kind in ("command", "sasl") and unit.verb in ("AUTH", "AUTH_RESPONSE") \
                and code == 334:
            self.mode = "sasl"
        elif unit.verb == "STARTTLS" and code == 220 and not unit.tls:
            self.dialogue.tls_started_at = len(self.dialogue.exchanges) - 1
        else:
            self.mode = "command"


def _content_end(data: bytes, start: int) -> int:
    """The offset after the final ``.`` line of DATA content (or the end of the bytes)."""
    if data[start:start + 3] == b".\r\n":
        return start + 3
    found = data.find(b"\r\n.\r\n", start)
    return len(data) if found < 0 else found + 5


def _shape(dialogue: Dialogue, server: _Stream) -> None:
    """Each answer's writes, delay, gaps and whether it shares its first write."""
    ready = dialogue.session.accepted_us
    previous_end: int | None = None
    for exchange in dialogue.exchanges:
        answer = exchange.answer
        if exchange.unit is not None:
            ready = max(ready, exchange.unit.arrival_us)
        if answer is None or not answer.replies:
            continue
        start, end = answer.replies[0].start, answer.replies[-1].end
        writes: list[tuple[int, bytes]] = []
        index = server.piece_at(start)
        while index < len(server.pieces) and server.starts[index] < end:
            piece = server.pieces[index]
            low = max(start, server.starts[index])
            high = min(end, server.piece_end(index))
            if high > low:
                writes.append((piece.t_us, server.data[low:high]))
            index += 1
        answer.writes = writes
        answer.join_previous = (previous_end is not None and start > 0
                                and server.piece_at(start) == server.piece_at(previous_end - 1)
                                and server.starts[server.piece_at(start)] < start)
        answer.delay_us = 0 if answer.join_previous else max(0, writes[0][0] - ready)
        ready = max(ready, writes[-1][0])
        previous_end = end


def _tls_active_after(dialogue: Dialogue, index: int) -> bool:
    session = dialogue.session
    if session.tls is not None and session.tls.implicit:
        return True
    return dialogue.tls_started_at is not None and index > dialogue.tls_started_at


def _endings(dialogue: Dialogue) -> None:
    """What the server did after its last answer: closed, reset, dropped TLS, fell silent."""
    session = dialogue.session
    server_end = session.ending("server")
    client_end = session.ending("client")
    live = [i for i, e in enumerate(dialogue.exchanges) if not e.discarded]
    if server_end is not None and (client_end is None or server_end.t_us <= client_end.t_us):
        owner = _owner_at(dialogue, server_end.t_us)
        exchange = dialogue.exchanges[owner]
        if server_end.kind == "fin" and exchange.verb == "QUIT":
            return  # the server's own answer to QUIT
        answer = exchange.answer or Answer([], [])
        exchange.answer = answer
        base = answer.last_us if answer.last_us is not None else _ready_at(dialogue, owner)
        answer.then_delay_us = max(0, server_end.t_us - base)
        in_tls = _tls_active_after(dialogue, owner) or (
            exchange.unit is not None and exchange.unit.tls)
        orderly = session.tls is not None and any(
            side == "server" and t <= server_end.t_us for side, t in session.tls.close_notify)
        if server_end.kind == "rst" and in_tls:  # on the wire, the same as a reset
            answer.then, answer.drop_tls_mode = "drop_tls", "rst"
        elif server_end.kind == "rst":
            answer.then = "reset"
        elif in_tls and not orderly:
            answer.then, answer.drop_tls_mode = "drop_tls", "tcp_close"
        else:
            answer.then = "close"
        return
    notified = [t for side, t in (session.tls.close_notify if session.tls else ())
                if side == "server"]
    if notified and (client_end is None or notified[0] < client_end.t_us):
        owner = _owner_at(dialogue, notified[0])
        exchange = dialogue.exchanges[owner]
        if exchange.verb != "QUIT":
            answer = exchange.answer or Answer([], [])
            exchange.answer = answer
            base = answer.last_us if answer.last_us is not None else _ready_at(dialogue, owner)
            answer.then, answer.drop_tls_mode = "drop_tls", "close_notify"
            answer.then_delay_us = max(0, notified[0] - base)
            plain = session.plain_after_tls
            if plain is not None and plain.t_us >= notified[0]:
                answer.inject = plain.data
            return
    unanswered = [i for i in live if dialogue.exchanges[i].answer is None
                  and ((u := dialogue.exchanges[i].unit) is None or u.complete)]
    if unanswered:
        last_answered = max((i for i in live if dialogue.exchanges[i].answer is not None),
                            default=-1)
        first_silent = next((i for i in unanswered if i > last_answered), None)
        if first_silent is not None and not _server_wrote_after(dialogue, first_silent):
            dialogue.exchanges[first_silent].answer = Answer([], [], then="silent")


def _server_wrote_after(dialogue: Dialogue, index: int) -> bool:
    unit = dialogue.exchanges[index].unit
    arrived = unit.arrival_us if unit is not None else 0
    return any(p.t_us > arrived for p in dialogue.session.side_pieces("server"))


def _ready_at(dialogue: Dialogue, index: int) -> int:
    """When the server had the unit of exchange ``index`` (the greeting's: when it had
    the connection)."""
    unit = dialogue.exchanges[index].unit
    return unit.arrival_us if unit is not None else dialogue.session.accepted_us


def _owner_at(dialogue: Dialogue, t_us: int) -> int:
    """The exchange the server was at when it did something at ``t_us``: the answer it was
    writing at that very instant, else the last exchange whose unit had arrived by then
    (the greeting when none had)."""
    owner = 0
    for index, exchange in enumerate(dialogue.exchanges):
        if exchange.discarded:
            continue
        if exchange.unit is None or exchange.unit.arrival_us <= t_us:
            owner = index
    for index in range(owner, -1, -1):
        answer = dialogue.exchanges[index].answer
        if answer is not None and answer.last_us is not None:
            return index if answer.last_us == t_us else owner
    return owner


def analyse(session: Session) -> Dialogue:
    """The dialogue of ``session`` (see the module docstring)."""
    pairing = _Pairing(session)
    dialogue = pairing.run()
    _shape(dialogue, pairing.server)
    _endings(dialogue)
    return dialogue


def decode_base64(text: str) -> bytes | None:
    """``text`` as base64, or None when it is not (SASL lines)."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
