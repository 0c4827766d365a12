"""The TCP view of a run: every segment the link carried, as Wireshark would list it.

Each ``link`` ``tx`` record is a segment put on the wire and each ``drop`` one the link
lost (a fault or the loss rate). Sequence and acknowledgement numbers are made relative
to each direction's initial sequence number, as Wireshark shows them. What else
happened to a segment comes from the stacks' own records: ``retransmit`` (the sender
sent it again, with the attempt number), ``rx_drop`` (the board's NIC had no buffer or
no ring slot for it) and ``ooo_drop`` (the receiver discarded it, out of order). A long
list keeps its first :data:`HEAD_SEGMENTS` and last :data:`TAIL_SEGMENTS` segments; the
pcap has them all.

This module knows the link's, the stacks' and the board's trace records; it reads no
payload bytes (lengths only), so it shows nothing of what the segments carried.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from emulator.trace import Opaque, TraceKind, TraceRecord
from scenarios.report.dialogue import board_names
from scenarios.report.model import Segment, TcpView

HEAD_SEGMENTS = 700
TAIL_SEGMENTS = 300
_SEQ_SPACE = 1 << 32
_SEGMENT_KINDS: Final[frozenset[TraceKind]] = frozenset({"tx", "drop"})


@dataclass
class _Direction:
    isn: int

    def relative(self, seq: int) -> int:
        return (seq - self.isn) % _SEQ_SPACE


def _is_link(rec: TraceRecord) -> bool:
    return rec.source == "link" or rec.source.startswith("link.")


def _board_ip(records: Sequence[TraceRecord]) -> str | None:
    boards = board_names(records)
    for rec in records:
        if rec.kind == "boot" and rec.source in boards:
            ip = rec.fields.get("ip")
            if isinstance(ip, str):
                return ip
    return None


_STYLES: Final = ("", "retransmission", "dropped", "lost")
"""A segment's style, by its code in :attr:`_Segments.style`."""
_PLAIN, _RETRANSMISSION, _DROPPED, _LOST = range(len(_STYLES))


class _Segments:
    """Every segment in a few numbers (compact columns: what later notes and the
    summary read), and as a :class:`Segment` only the first :data:`HEAD_SEGMENTS` and
    the latest :data:`TAIL_SEGMENTS`, the ones shown: a long run's list is not held
    whole."""

    def __init__(self, device_ip: str) -> None:
        self.device_ip = device_ip
        self.directions: dict[tuple[str, str], _Direction] = {}
        self.count = 0
        self.shown: dict[int, Segment] = {}
        """The segments that may be shown, by index."""
        self.retransmits: dict[tuple[str, int], tuple[int, object]] = {}
        """(sender address, absolute seq) -> (time, attempt) of a ``retransmit`` record."""
        self.senders: dict[str, int] = {}
        # per segment, by index: when, sender (its number in senders), absolute seq and
        # payload length (for later notes), and what the summary counts
        self.t_us = array("q")
        self.sender = array("q")
        self.absolute = array("q")
        self.length = array("q")
        self.from_device = bytearray()
        self.style = bytearray()
        self.retransmission = bytearray()
        self.reset = bytearray()
        self.device = "?"
        self.server = "?"

    def _direction(self, src: str, dst: str, seq: int, flags: str) -> _Direction:
        key = (src, dst)
        known = self.directions.get(key)
        if known is None or ("S" in flags and known.isn != seq):
            known = _Direction(seq if "S" in flags else (seq - 1) % _SEQ_SPACE)
            self.directions[key] = known
        return known

    def link(self, rec: TraceRecord) -> None:
        f = rec.fields
        src, dst, seq, ack = f.get("src"), f.get("dst"), f.get("seq"), f.get("ack")
        flags, window, payload = f.get("flags"), f.get("window"), f.get("payload")
        if not (isinstance(src, str) and isinstance(dst, str) and isinstance(seq, int)
                and isinstance(flags, str)):
            return
        if rec.kind == "drop":  # the link wrote the segment's tx record just before
            self._dropped(rec.t_us, src, seq, f"dropped by the link: {f.get('reason')}")
            return
        from_device = src.rsplit(":", 1)[0] == self.device_ip
        if from_device:
            self.device, self.server = src, dst
        mine = self._direction(src, dst, seq, flags)
        theirs = self.directions.get((dst, src))
        length = len(payload) if isinstance(payload, bytes | Opaque) else 0
        ack_rel = theirs.relative(ack) if theirs is not None and isinstance(ack, int) \
            and "A" in flags else 0
        note, style = "", ""
        retransmit = self.retransmits.pop((src, seq), None)
        if retransmit is not None and retransmit[0] == rec.t_us:
            note, style = f"retransmission (attempt {retransmit[1]})", "retransmission"
        index = self.count
        self.count += 1
        self.shown[index] = Segment(rec.t_us, from_device, flags, mine.relative(seq), ack_rel,
                                    length, window if isinstance(window, int) else 0, note,
                                    style)
        older = index - TAIL_SEGMENTS
        if older >= HEAD_SEGMENTS:
            del self.shown[older]  # neither among the first nor the last: never shown
        self.t_us.append(rec.t_us)
        self.sender.append(self.senders.setdefault(src, len(self.senders)))
        self.absolute.append(seq)
        self.length.append(length)
        self.from_device.append(from_device)
        self.style.append(_STYLES.index(style))
        self.retransmission.append(bool(note))
        self.reset.append("R" in flags)

    def _note(self, index: int, why: str, style: int) -> None:
        self.style[index] = style
        segment = self.shown.get(index)
        if segment is not None:
            note = f"{segment.note}; {why}" if segment.note else why
            self.shown[index] = replace(segment, note=note, style=_STYLES[style])

    def _dropped(self, t_us: int, src: str, seq: int, why: str) -> None:
        sender = self.senders.get(src)
        for index in range(self.count - 1, -1, -1):
            if self.t_us[index] != t_us:
                return
            if self.sender[index] == sender and self.absolute[index] == seq:
                self._note(index, why, _DROPPED)
                return

    def annotate_lost(self, t_us: int, sender_is_device: bool, seq: object, length: object,
                      why: str) -> None:
        """Note on the latest matching segment sent by then that its receiver lost it."""
        for index in range(self.count - 1, -1, -1):
            if self.t_us[index] > t_us or bool(self.from_device[index]) != sender_is_device:
                continue
            if self.absolute[index] == seq and (length is None or self.length[index] == length):
                if self.style[index] in (_PLAIN, _RETRANSMISSION):
                    self._note(index, why, _LOST)
                return

    def summary(self, counts: dict[str, int]) -> dict[str, int]:
        """The figures of every segment, shown or not, with ``counts``."""
        device = sum(self.from_device)
        sent = sum(n for n, mine in zip(self.length, self.from_device, strict=True) if mine)
        counts["retransmissions"] += sum(self.retransmission)
        counts["link_drops"] += self.style.count(_DROPPED)
        counts["lost_at_receiver"] += self.style.count(_LOST)
        counts["rst"] += sum(self.reset)
        return {"segments_from_device": device, "segments_from_server": self.count - device,
                "bytes_from_device": sent, "bytes_from_server": sum(self.length) - sent,
                **counts}


def _tcp_side(rec: TraceRecord, boards: list[str]) -> bool:
    """Whether a ``tcp.<host>`` record is the device's (its host is a board)."""
    return rec.source[len("tcp."):] in boards


def tcp_view(records: Sequence[TraceRecord]) -> TcpView | None:
    """The segments of the run (module docstring), or None when the link carried none."""
    device_ip = _board_ip(records)
    if device_ip is None:
        return None
    boards = board_names(records)
    view = _Segments(device_ip)
    counts = {"rto": 0, "retransmissions": 0, "link_drops": 0, "lost_at_receiver": 0,
              "rst": 0}
    for rec in records:
        f = rec.fields
        if _is_link(rec) and rec.kind in _SEGMENT_KINDS:
            view.link(rec)
        elif rec.source.startswith("tcp.") and rec.kind == "retransmit":
            conn, seq = f.get("conn"), f.get("seq")
            if isinstance(conn, str) and isinstance(seq, int):
                view.retransmits[(conn.split("-", 1)[0], seq)] = (rec.t_us, f.get("attempt"))
        elif rec.source.startswith("tcp.") and rec.kind == "rto":
            counts["rto"] += 1
        elif rec.source.startswith("tcp.") and rec.kind == "ooo_drop":
            view.annotate_lost(rec.t_us, not _tcp_side(rec, boards), f.get("seq"), None,
                               "discarded by the receiver: out of order")
        elif rec.source in boards and rec.kind == "rx_drop":
            length = f.get("length")
            view.annotate_lost(rec.t_us, False, f.get("seq"), length,
                               f"lost at the device's NIC: {f.get('why')}")
    if not view.count:
        return None
    summary = view.summary(counts)
    omitted = max(0, view.count - HEAD_SEGMENTS - TAIL_SEGMENTS)
    segments = tuple(view.shown[index] for index in sorted(view.shown))
    return TcpView(device=view.device, server=view.server, segments=segments,
                   omitted=omitted, summary=summary)
