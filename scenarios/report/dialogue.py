"""The SMTP dialogue of a run as sequence-diagram rows, from its trace records.

Arrows are what the scripted server read (``rx``: client to server) and wrote (``tx``:
server to client), decrypted under TLS, stamped with the server's virtual time. A
client-to-server arrow also carries the time the client sent it, where the client's
``send`` records tell: each names its command (``EHLO``, ``MAIL group`` for a pipelined
group) and its length, and they are matched against the bytes the server read, in
order. Bytes no ``send`` record accounts for (the mail's content, which the client
streams) get no client time. A mismatch (bytes that do not start with the command the
client logged) stops the matching for that connection rather than guess. Without any
``send`` record (a real client, seen only by the server), several command lines in one
read are taken as a pipelined group, as the server engine takes them.

Between the arrows are marks where things happened: the client's events (the terminal
one stands out), timers that fired (TCP retransmission, SMTP command timers, the
watchdog), the link's faults and drops, frames the board dropped, TLS steps, connections
opening and closing. Each row knows whether its connection was in a TLS handshake or
under TLS, so the diagram can shade those phases.

Consecutive writes of the server (the replies to a pipelined group, a trickled reply)
become one arrow; so do the consecutive reads of a mail's content, and identical marks
in a row. Long runs keep their first :data:`HEAD_ROWS` and last :data:`TAIL_ROWS` rows.

This module knows trace records (the kinds the board, stack, link, client task and
scripted server write) and the report's row records; it judges nothing. Records are
taken as given: credentials must be masked before they get here.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from emulator.trace import Opaque, TraceKind, TraceRecord
from emulator.units import format_us
from scenarios.report.model import DialogueRow, Lane, RowKind, TlsPhase

LINES_SHOWN = 6
"""Lines shown on one arrow; the rest are counted (the transcript has them all)."""
CONTENT_LINES_SHOWN = 3
LINE_CHARS = 160
KEPT_BYTES = 16 * 1024
"""Bytes of one merged arrow kept for display; its lines are counted in full."""
HEAD_ROWS = 500
TAIL_ROWS = 100

SERVER_PREFIX = "server."
_UNSHOWN_BOARD_KINDS: Final[frozenset[TraceKind]] = frozenset({"boot", "task_exit"})
TERMINAL_STYLE = "terminal"
ExtraMark = tuple[int, Lane, str, str]
"""``(t_us, lane, style, text)``: a mark the trace does not hold as a record, such as
the instant an SMTP command timer that later fired was armed."""


def escape_line(raw: str) -> str:
    """A line as the transcript shows it: control bytes escaped, long lines cut."""
    shown = raw.encode("unicode_escape").decode("ascii")
    if len(shown) > LINE_CHARS:
        shown = f"{shown[:LINE_CHARS]}... ({len(shown)} characters)"
    return shown


def _split(data: bytes) -> list[str]:
    parts = data.decode("latin-1").split("\r\n")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


@dataclass
class _Send:
    """A client ``send`` record not yet matched in full against the server's reads."""

    t_us: int
    label: str
    remaining: int
    fresh: bool = True


@dataclass
class _Connection:
    number: int
    phase: TlsPhase = ""
    starttls_asked: bool = False
    in_content: bool = False
    content_tail: bytes = b""
    accepted_row: int = 0
    """The index of the first row after the connection's ``accept`` mark."""
    synced: bool = True


@dataclass
class _Row:
    kind: RowKind
    t_us: int
    lane: Lane
    style: str
    connection: int
    tls: TlsPhase
    data: bytearray = field(default_factory=bytearray)
    line_count: int = 0
    ends_line: bool = True
    last_byte: bytes = b""
    text: str = ""
    client_t_us: int | None = None
    last_t_us: int | None = None
    count: int = 1

    def add_data(self, data: bytes) -> None:
        room = KEPT_BYTES - len(self.data)
        if room > 0:
            self.data += data[:room]
        joined = self.last_byte == b"\r" and data[:1] == b"\n"
        self.line_count += data.count(b"\r\n") + int(joined)
        self.last_byte = data[-1:]
        self.ends_line = data.endswith(b"\r\n") or (joined and len(data) == 1)

    def freeze(self) -> DialogueRow:
        if self.kind == "mark":
            lines: tuple[str, ...] = (self.text,)
            total = 1
        else:
            parts = _split(bytes(self.data))
            total = max(self.line_count + (0 if self.ends_line else 1), len(parts))
            shown = CONTENT_LINES_SHOWN if self.style == "content" else LINES_SHOWN
            lines = tuple(escape_line(p) for p in parts[:shown])
        return DialogueRow(kind=self.kind, t_us=self.t_us, lane=self.lane, lines=lines,
                           total_lines=total, client_t_us=self.client_t_us,
                           last_t_us=self.last_t_us, count=self.count, style=self.style,
                           connection=self.connection, tls=self.tls)


def _connection_number(source: str) -> int:
    """``server.c3`` -> 3 (0 when the name has no number)."""
    tail = source.rsplit(".", 1)[-1].lstrip("c")
    return int(tail) if tail.isdigit() else 0


def _fields_text(rec: TraceRecord, skip: tuple[str, ...] = ()) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(rec.fields.items())
                    if k not in skip and isinstance(v, str | int) and v is not None)


def _peer(conn: object) -> str:
    """``a:1-b:2`` (a TCP connection label) -> ``b:2``."""
    return conn.split("-", 1)[-1] if isinstance(conn, str) else "?"


def _ms(us: object) -> str:
    return f"{us / 1000:g} ms" if isinstance(us, int) else "?"


class _Builder:
    def __init__(self, boards: set[str], terminal: tuple[int, str] | None) -> None:
        self.boards = boards
        self.terminal = terminal
        self.rows: list[_Row | DialogueRow] = []
        """The rows so far, frozen as soon as another follows (only the last can still
        grow), without those left out of the middle (:meth:`_add`)."""
        self.left_out = 0
        """Rows dropped from the middle: never among the first HEAD_ROWS or the last
        TAIL_ROWS, so never shown (a long run's rows are not held whole)."""
        self.connections: dict[str, _Connection] = {}
        self.current: _Connection | None = None
        self.sends: deque[_Send] = deque()
        self.client_logged_sends = False
        """Whether the client's ``send`` records are in the trace (a simulated client)."""

    # -- rows
    def _phase(self, connection: _Connection | None = None) -> TlsPhase:
        conn = connection or self.current
        return conn.phase if conn is not None else ""

    @property
    def last(self) -> _Row | None:
        last = self.rows[-1] if self.rows else None
        return last if isinstance(last, _Row) else None

    @property
    def count(self) -> int:
        """Rows made so far, those left out included."""
        return self.left_out + len(self.rows)

    def _add(self, row: _Row) -> None:
        """Append ``row``; freeze the one before; leave out the middle once it is long."""
        if self.rows and isinstance(self.rows[-1], _Row):
            self.rows[-1] = self.rows[-1].freeze()
        self.rows.append(row)
        if len(self.rows) > HEAD_ROWS + 2 * TAIL_ROWS:
            gone = len(self.rows) - HEAD_ROWS - TAIL_ROWS
            del self.rows[HEAD_ROWS:HEAD_ROWS + gone]
            self.left_out += gone

    def frozen(self) -> list[DialogueRow]:
        return [row.freeze() if isinstance(row, _Row) else row for row in self.rows]

    def mark(self, t_us: int, lane: Lane, style: str, text: str) -> None:
        last = self.last
        if (last is not None and last.kind == "mark" and last.lane == lane
                and last.style == style and last.text == text):
            last.count += 1
            last.last_t_us = t_us
            return
        number = self.current.number if self.current else 0
        self._add(_Row("mark", t_us, lane, style, number, self._phase(), text=text))

    def _arrow(self, kind: RowKind, t_us: int, conn: _Connection, data: bytes, style: str,
               client_t_us: int | None) -> None:
        last = self.last
        if last is not None and last.kind == kind and last.connection == conn.number:
            merge = (kind == "s2c"
                     or not last.ends_line
                     or (style == "content" and last.style == "content"))
            if merge:
                last.add_data(data)
                last.count += 1
                last.last_t_us = t_us
                return
        lane: Lane = "server" if kind == "c2s" else "client"
        row = _Row(kind, t_us, lane, style, conn.number, conn.phase, client_t_us=client_t_us)
        row.add_data(data)
        self._add(row)

    # -- the server's records
    def server(self, rec: TraceRecord) -> None:
        conn = self.connections.get(rec.source)
        if conn is None or rec.kind == "accept":
            conn = _Connection(_connection_number(rec.source))
            self.connections[rec.source] = conn
        self.current = conn
        data = rec.fields.get("data")
        if rec.kind == "rx" and isinstance(data, bytes):
            self._client_bytes(rec.t_us, conn, data)
        elif rec.kind == "tx" and isinstance(data, bytes):
            self._server_bytes(rec.t_us, conn, data)
        elif rec.kind == "accept":
            self.sends.clear()
            self.mark(rec.t_us, "server", "conn",
                      f"connection {conn.number} accepted from {rec.fields.get('peer', '?')}")
            conn.accepted_row = self.count
        elif rec.kind == "tls_established":  # the handshake's last row, then TLS
            self._implicit_handshake(conn)
            self.mark(rec.t_us, "server", "tls", f"TLS established: {rec.fields.get('version')} "
                                                 f"{rec.fields.get('cipher')}")
            conn.phase = "tls"
        elif rec.kind == "tls_failed":
            self._implicit_handshake(conn)
            self.mark(rec.t_us, "server", "tls", f"TLS failed: {rec.fields.get('reason')}")
            conn.phase = ""
        else:
            self._server_event(rec, conn)

    def _implicit_handshake(self, conn: _Connection) -> None:
        """TLS from the first byte (implicit TLS): the handshake ran since the accept."""
        if conn.phase == "":
            start = conn.accepted_row  # rows left out since are never shown
            if start > HEAD_ROWS:
                start = max(HEAD_ROWS, start - self.left_out)
            for at in range(start, len(self.rows)):
                row = self.rows[at]
                if isinstance(row, _Row):
                    row.tls = "handshake"
                else:
                    self.rows[at] = dataclasses.replace(row, tls="handshake")
            conn.phase = "handshake"

    def _server_event(self, rec: TraceRecord, conn: _Connection) -> None:
        kind = rec.kind
        if kind == "close":
            self.mark(rec.t_us, "server", "conn", "server closes the connection")
        elif kind == "reset":
            conn.phase = ""
            self.mark(rec.t_us, "server", "fault", "server resets the connection (RST)")
        elif kind == "drop_tls":
            self.mark(rec.t_us, "server", "fault",
                      f"server drops TLS ({rec.fields.get('mode')})")
            conn.phase = ""
        elif kind == "silence":
            self.mark(rec.t_us, "server", "fault", "server goes silent")
        elif kind == "stop_reading":
            how_long = rec.fields.get("for_us")
            until = (f"for {format_us(how_long)} s" if isinstance(how_long, int)
                     else "for good")
            self.mark(rec.t_us, "server", "fault", f"server stops reading {until}: its "
                      f"receive window fills and closes")
        elif kind == "resume_reading":
            self.mark(rec.t_us, "server", "fault", f"server reads again "
                      f"({rec.fields.get('unread')} bytes were waiting)")
        elif kind == "closed":
            conn.phase = ""
            self.mark(rec.t_us, "server", "conn",
                      f"connection {conn.number} closed ({rec.fields.get('reason')})")
        elif kind == "answer":
            return  # the reply ledger: the arrows already show what the server wrote
        elif kind == "discarded_plaintext":
            self.mark(rec.t_us, "server", "log", f"server discards "
                      f"{rec.fields.get('length')} plaintext byte(s) sent before TLS")
        else:
            detail = rec.fields.get("detail")
            text = f"{kind}: {detail}" if isinstance(detail, str) else \
                f"{kind} {_fields_text(rec, ('data',))}".strip()
            self.mark(rec.t_us, "server", "log", text)

    def _server_bytes(self, t_us: int, conn: _Connection, data: bytes) -> None:
        self._arrow("s2c", t_us, conn, data, "reply", None)
        lines = _split(data)
        if any(line.startswith("354") for line in lines):
            conn.in_content = True
            conn.content_tail = b"\r\n"
        if conn.starttls_asked and lines and lines[0].startswith("220"):
            conn.phase = "handshake"
        conn.starttls_asked = False

    def _client_bytes(self, t_us: int, conn: _Connection, data: bytes) -> None:
        sent_at, group = self._match_sends(t_us, conn, data)
        if not self.client_logged_sends and not conn.in_content:
            group = data.count(b"\r\n") >= 2  # a real client: what the server read at once
        style = "group" if group else ("content" if conn.in_content else "command")
        if conn.in_content:
            conn.content_tail = (conn.content_tail + data)[-5:]
            conn.in_content = not conn.content_tail.endswith(b"\r\n.\r\n")
        if not conn.in_content and data.upper().startswith(b"STARTTLS"):
            conn.starttls_asked = True
        self._arrow("c2s", t_us, conn, data, style, sent_at)

    def _match_sends(self, t_us: int, conn: _Connection, data: bytes
                     ) -> tuple[int | None, bool]:
        """Account ``data`` against the client's ``send`` records (module docstring):
        the send time of the record the first byte came from, and whether it was a
        pipelined group."""
        offset = 0
        first: _Send | None = None
        while offset < len(data) and conn.synced and self.sends and self.sends[0].t_us <= t_us:
            head = self.sends[0]
            if head.fresh:
                verb = head.label.split()[0].encode()
                if head.label not in ("AUTH response", "AUTH cancel"):
                    piece = data[offset:offset + len(verb)].upper()
                    if not verb.startswith(piece) or not piece:
                        if offset == 0 and not conn.in_content:
                            conn.synced = False  # not what the client said it sent
                        break
                head.fresh = False
            if offset == 0:
                first = head
            taken = min(head.remaining, len(data) - offset)
            head.remaining -= taken
            offset += taken
            if head.remaining == 0:
                self.sends.popleft()
        if first is None:
            return None, False
        return first.t_us, first.label.endswith(" group")

    # -- the client side
    def client(self, rec: TraceRecord, board: str) -> None:
        kind, t = rec.kind, rec.t_us
        if rec.source.endswith(".smtp"):
            if kind == "send":
                label, length = rec.fields.get("label"), rec.fields.get("length")
                if isinstance(label, str) and isinstance(length, int):
                    self.sends.append(_Send(t, label, length))
                    self.client_logged_sends = True
            elif kind == "event":
                line = str(rec.fields.get("line", rec.fields.get("name", "")))
                style = "timer" if rec.fields.get("name") == "timeout" else "event"
                if self.terminal is not None and (t, line) == self.terminal:
                    style = TERMINAL_STYLE
                self.mark(t, "client", style, line)
            elif kind == "message_composed":
                self.mark(t, "client", "log", f"message composed: Date {rec.fields.get('date')} "
                          f"from the RTC reading {rec.fields.get('rtc')}")
            elif kind == "matched":
                return  # which reply answered which command: the arrows' business
            else:
                detail = rec.fields.get("detail")
                text = f"{kind}: {detail}" if isinstance(detail, str) else \
                    f"{kind} {_fields_text(rec)}".strip()
                self.mark(t, "client", "log", text)
        elif rec.source == board:
            self._board(rec)
        elif rec.source == f"{board}.pool":
            if kind == "exhausted" and rec.fields.get("purpose") != "rx":
                self.mark(t, "client", "drop",
                          f"buffer pool empty: no buffer for {rec.fields.get('purpose')}")
            elif kind == "reclaimed":
                self.mark(t, "client", "log",
                          f"{rec.fields.get('buffers')} pool buffer(s) reclaimed by the reset")
        elif rec.source == f"{board}.app" and kind == "submit":
            self.mark(t, "client", "log", f"job submitted ({rec.fields.get('job')})")

    def _board(self, rec: TraceRecord) -> None:
        kind, t, f = rec.kind, rec.t_us, rec.fields
        if kind == "boot" and f.get("after"):
            self.mark(t, "client", "watchdog", f"board boots again ({f.get('after')})")
        elif kind == "busy_wait":
            self.mark(t, "client", "watchdog", f"task {f.get('task')} busy-waits for "
                      f"{f.get('reason')}: the super-loop stops, the watchdog runs")
        elif kind == "busy_wait_end":
            self.mark(t, "client", "watchdog",
                      f"busy-wait of task {f.get('task')} ends after {_ms(f.get('held_us'))}")
        elif kind == "watchdog_reset":
            self.mark(t, "client", "watchdog",
                      f"watchdog fires: task {f.get('task')} held the CPU "
                      f"{_ms(f.get('held_us'))} waiting for {f.get('waiting_for')}; "
                      f"{f.get('rx_ring')} frame(s) in the RX ring, {f.get('pool_in_use')} "
                      f"buffer(s) in use; the board resets")
        elif kind == "rx_drop":
            self.mark(t, "client", "drop", f"NIC drops a received frame: {f.get('why')}")
        elif kind not in _UNSHOWN_BOARD_KINDS:
            self.mark(t, "client", "log", f"{kind} {_fields_text(rec)}".strip())

    def tcp(self, rec: TraceRecord, lane: Lane) -> None:
        kind, t, f = rec.kind, rec.t_us, rec.fields
        if kind == "connect":
            self.mark(t, lane, "conn", f"TCP connects to {_peer(f.get('conn'))}")
        elif kind == "rto":
            self.mark(t, lane, "timer", f"TCP retransmission timer fires "
                      f"({_ms(f.get('rto_us'))}, retry {f.get('retries')})")
        elif kind == "retransmit":
            self.mark(t, lane, "timer", f"TCP retransmits {f.get('len')} byte(s) "
                      f"[{f.get('flags')}]")
        elif kind == "probe":
            self.mark(t, lane, "timer", "TCP persist timer: window probe")
        elif kind == "timeout":
            self.mark(t, lane, "timer", f"TCP gives up in {f.get('state')} after "
                      f"{f.get('retries')} retries")
        elif kind == "rst":
            what = "receives" if f.get("direction") == "in" else "sends"
            self.mark(t, lane, "conn", f"TCP {what} RST")
        elif kind == "closed" and f.get("why") == "refused":
            self.mark(t, lane, "conn", "TCP connection refused")
        elif kind == "reset":
            self.mark(t, lane, "watchdog", f"TCP stack reset: {f.get('connections')} "
                      f"connection(s) dropped")
        elif kind == "ooo_drop":
            self.mark(t, lane, "drop", "TCP drops an out-of-order segment")

    def link(self, rec: TraceRecord) -> None:
        f = rec.fields
        if rec.kind == "fault":
            self.mark(rec.t_us, "link", "fault",
                      f"fault {f.get('verb')} {_fields_text(rec, ('verb',))}".strip())
        elif rec.kind == "drop":
            payload = f.get("payload")
            size = len(payload) if isinstance(payload, bytes | Opaque) else 0
            self.mark(rec.t_us, "link", "drop", f"link drops {f.get('src')} -> {f.get('dst')} "
                      f"[{f.get('flags')}] {size} byte(s): {f.get('reason')}")


def board_names(records: Sequence[TraceRecord]) -> list[str]:
    """The boards of a run: the sources of ``boot`` records, in order of appearance."""
    names: list[str] = []
    for rec in records:
        if rec.kind == "boot" and "." not in rec.source and rec.source not in names:
            names.append(rec.source)
    return names


def dialogue_rows(records: Sequence[TraceRecord], *, terminal: tuple[int, str] | None = None,
                  extra: Sequence[ExtraMark] = ()) -> tuple[list[DialogueRow], int]:
    """The rows of the sequence diagram and how many were left out of the middle.

    ``terminal`` is the run's terminal event as ``(t_us, describe(event))``: its mark
    stands out. ``extra`` marks are placed after the records of the same instant.
    """
    boards = board_names(records)
    builder = _Builder(set(boards), terminal)
    pending = sorted(extra, key=lambda m: m[0])
    index = 0
    for rec in records:
        while index < len(pending) and pending[index][0] < rec.t_us:
            builder.mark(*pending[index])
            index += 1
        source = rec.source
        if source.startswith(SERVER_PREFIX):
            builder.server(rec)
        elif source == "link" or source.startswith("link."):
            builder.link(rec)
        elif source.startswith("tcp."):
            host = source[len("tcp."):]
            builder.tcp(rec, "client" if host in builder.boards else "server")
        else:
            board = next((b for b in boards if source == b or source.startswith(b + ".")), None)
            if board is not None:
                builder.client(rec, board)
    for mark in pending[index:]:
        builder.mark(*mark)
    rows = builder.frozen()
    total = builder.count
    if total <= HEAD_ROWS + TAIL_ROWS:
        return rows, 0
    return rows[:HEAD_ROWS] + rows[-TAIL_ROWS:], total - HEAD_ROWS - TAIL_ROWS
