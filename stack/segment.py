"""A TCP/IPv4 segment as it crosses the simulated link.

The link carries these structured segments rather than raw bytes; :mod:`stack.pcap`
turns them into Ethernet/IPv4/TCP frames. This module knows the fields and flags, not
how segments are produced or consumed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from emulator.trace import FieldValue, Opaque


class Flags(enum.IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10


_SYN: Final = int(Flags.SYN)
_FIN: Final = int(Flags.FIN)

IPV4_HEADER = 20
TCP_HEADER = 20
ETHERNET_HEADER = 14


def _flag_letters(bits: int) -> str:
    return "".join(name for flag, name in ((Flags.SYN, "S"), (Flags.FIN, "F"), (Flags.RST, "R"),
                                           (Flags.PSH, "P"), (Flags.ACK, "A"))
                   if bits & flag)


_FLAG_LETTERS: Final[tuple[str, ...]] = tuple(_flag_letters(bits) for bits in range(32))
"""The letters of every combination of the five flags (``SFRPA`` order), by bits."""
_FLAG_BITS: Final = 0x1F


@dataclass(slots=True)
class Segment:
    """One TCP segment in one IPv4 packet.

    ``flags`` are :class:`Flags` bits; the stack builds and tests them as plain ``int``
    (``IntFlag`` arithmetic costs 40 times as much on the per-segment path), so read them
    as ``Flags(segment.flags)`` where the names matter. ``ip_id`` is the IPv4
    identification the link stamps on the segment when it transmits it (the sender
    leaves it 0) and ``pool_in_use`` the sending stack's (see the field): the fields that
    change after construction; a segment is otherwise never changed once built.
    """

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes = b""
    mss: int | None = None  # MSS option, only on SYN segments
    ciphertext: bool = False  # payload is TLS records (hashed by length only)
    ip_id: int = field(default=0, compare=False)
    pool_in_use: int | None = field(default=None, compare=False)
    """Set by a stack whose traced pool lent a buffer for this segment's transmission
    only (a pure ACK, an RST): the number of its buffers in use meanwhile."""

    @property
    def wire_length(self) -> int:
        """Bytes on the wire without the Ethernet header (IP total length)."""
        options = 4 if self.mss is not None else 0
        return IPV4_HEADER + TCP_HEADER + options + len(self.payload)

    def seq_space(self) -> int:
        """Sequence numbers this segment consumes (payload + SYN + FIN)."""
        n = len(self.payload)
        if self.flags & _SYN:
            n += 1
        if self.flags & _FIN:
            n += 1
        return n

    def flag_names(self) -> str:
        """The flags as letters in ``SFRPA`` order (``"SA"``, ``"PA"``)."""
        return _FLAG_LETTERS[self.flags & _FLAG_BITS]

    def trace_fields(self) -> dict[str, FieldValue]:
        """Fields for a trace record; ciphertext payload is wrapped in Opaque. A segment
        that held a lent pool buffer carries ``pool_in_use`` too."""
        fields: dict[str, FieldValue] = {
            "src": f"{self.src_ip}:{self.src_port}",
            "dst": f"{self.dst_ip}:{self.dst_port}",
            "seq": self.seq,
            "ack": self.ack,
            "flags": _FLAG_LETTERS[self.flags & _FLAG_BITS],
            "window": self.window,
            "mss": self.mss,
            "ip_id": self.ip_id,
            "payload": Opaque(self.payload) if self.ciphertext else self.payload,
        }
        if self.pool_in_use is not None:
            fields["pool_in_use"] = self.pool_in_use
        return fields

