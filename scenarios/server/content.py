"""Mail content as the scripted server takes it in: DATA lines and BDAT chunks.

:class:`ContentIntake` frames the client's bytes once the engine has switched to content
(after ``354`` to DATA, or a BDAT command with its size): DATA content line by line up to
``CRLF . CRLF`` (dot-unstuffed), BDAT content as exactly the announced octets. It keeps
what the connection's :class:`~scenarios.server.limits.ContentHold` admits (a line
too long for it is counted and dropped, never buffered whole; a mail the server's
memory budget has no room for keeps nothing) and notes what a careful
client would not send: bare CR or LF, unstuffed dots, lines over 1000 octets, end-of-data
look-alikes (SMTP smuggling shapes). It also says what ``send_during_data`` sends, once
per read of content.

The intake shares the engine's receive buffer and works on the session's envelope; the
engine decides what the end of the content means (the rules, the reply, the mailbox).
This module knows bytes, the envelope and the observations; nothing of verbs, rules,
sockets or time.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from scenarios.server.actions import Action, Send
from scenarios.server.limits import ContentHold
from scenarios.server.mailbox import Observations
from scenarios.server.rules import ServerConfig
from scenarios.server.session import Envelope
from scenarios.server.spool import MailContent

DATA_LINE_LIMIT: Final = 1000
"""RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF."""
BDAT_RE: Final = re.compile(r"(\d{1,18})(?: +(LAST))? *", re.IGNORECASE)
"""A BDAT command's argument: the chunk size, and ``LAST`` for the last chunk."""
_EOD_LOOKALIKE_RE: Final = re.compile(rb"(?:^|[\r\n])\.(?:[\r\n]|$)")


class Framing(enum.Enum):
    """How the next client bytes are framed."""

    COMMAND = "command"  # CRLF lines: commands, or SASL responses while an AUTH runs
    DATA = "data"  # content lines until CRLF . CRLF
    BDAT = "bdat"  # exactly the announced number of octets


class ContentIntake:
    """The content of one connection's transactions, taken from the shared ``buffer``."""

    def __init__(self, config: ServerConfig, observations: Observations, hold: ContentHold,
                 buffer: bytearray) -> None:
        self.config = config
        self.observations = observations
        self.hold = hold
        self.buffer = buffer
        self.framing = Framing.COMMAND
        self.mid_line = False
        """DATA: the start of the current line was not kept (it was too long)."""
        self.scan_from = 0
        self.bdat_argument = ""
        self.bdat_size = self.bdat_remaining = 0
        self.bdat_last = False
        self.bdat_chunk = bytearray()
        self.during_data_sent = 0
        self.during_data_this_read = False

    # --- DATA ---------------------------------------------------------------------------
    def start_data(self) -> None:
        self.framing, self.scan_from = Framing.DATA, 0

    def next_data_line(self, envelope: Envelope) -> bytes | None:
        """The next complete content line (without its CRLF), or None when no complete
        line is buffered (a line too long for the hold is then dropped as it comes)."""
        buffer = self.buffer
        end = buffer.find(b"\r\n", self.scan_from)
        if end < 0:
            self._spill_long_line(envelope)
            self.scan_from = max(0, len(buffer) - 1)
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        self.scan_from = 0
        return line

    def ends_data(self, line: bytes) -> bool:
        """Whether ``line`` is the final dot (then the framing is back to commands)."""
        ends = line == b"." and not self.mid_line
        if ends:
            self.framing = Framing.COMMAND
        return ends

    def keep_line(self, line: bytes, envelope: Envelope) -> None:
        """A content line: observe it, unstuff its dot, keep what the hold has room for."""
        obs = self.observations
        obs.data_line_endings.crlf += 1
        bare_lf, bare_cr = line.count(b"\n"), line.count(b"\r")
        obs.data_line_endings.bare_lf += bare_lf
        obs.data_line_endings.bare_cr += bare_cr
        obs.bare_lf_in_data = obs.bare_lf_in_data or bare_lf > 0
        obs.bare_cr_in_data = obs.bare_cr_in_data or bare_cr > 0
        if (bare_lf or bare_cr) and _EOD_LOOKALIKE_RE.search(line):
            obs.eod_lookalikes.append(line)
        if len(line) + 2 > DATA_LINE_LIMIT and not self.mid_line:
            obs.data_lines_too_long += 1
        if line.startswith(b".") and not self.mid_line:
            if line[1:2] != b".":
                obs.dot_stuffing_violations.append(line)
            line = line[1:]
        envelope.add(line + b"\r\n", self._admit(envelope, len(line) + 2))

    def line_done(self) -> None:
        """A whole line was taken: the next one starts at its beginning."""
        self.mid_line = False

    def _spill_long_line(self, envelope: Envelope) -> None:
        """A content line longer than the hold has room for: count it, keep none of it."""
        buffer = self.buffer
        room = 0 if envelope.short_of_storage else self.hold.room(len(envelope.content))
        if room is not None and len(buffer) > room + 1:
            self.observations.data_lines_too_long += not self.mid_line
            spill = len(buffer) - (1 if buffer.endswith(b"\r") else 0)
            envelope.add(b"", 0, octets=spill)
            del buffer[:spill]
            self.mid_line = True

    # --- BDAT ---------------------------------------------------------------------------
    def start_bdat(self, argument: str) -> bool:
        """Frame the chunk a ``BDAT argument`` announces; False when the argument is not
        a chunk size (the command is then answered at once)."""
        match = BDAT_RE.fullmatch(argument)
        if match is None:
            return False
        self.framing, self.bdat_argument = Framing.BDAT, argument
        self.bdat_size = self.bdat_remaining = int(match[1])
        self.bdat_last = match[2] is not None
        self.bdat_chunk = bytearray()
        return True

    def take_bdat_octets(self, envelope: Envelope) -> int:
        """Take the chunk's octets from the buffer (keeping what the hold has room for);
        how many were taken. The chunk is complete when :attr:`bdat_remaining` is 0."""
        buffer = self.buffer
        take = min(self.bdat_remaining, len(buffer))
        room = self._admit(envelope, take)
        self.bdat_chunk += buffer[:take if room is None else min(take, room)]
        del buffer[:take]
        self.bdat_remaining -= take
        if not self.bdat_remaining:
            self.framing = Framing.COMMAND
        return take

    def _admit(self, envelope: Envelope, size: int) -> int | None:
        """How many of ``size`` content bytes arriving now to keep (None: all). A mail
        the server's memory budget has no room for keeps none of its content from then
        on (what it kept goes back; it is refused at its end)."""
        if envelope.short_of_storage:
            return 0
        hold = self.hold
        kept = len(envelope.content) + len(self.bdat_chunk)
        if not hold.fits(kept, size):
            envelope.short_of_storage = True
            envelope.discard_content()
            self.bdat_chunk = bytearray()
            hold.give_up_mail()
            return 0
        return hold.own_room(kept)

    def bdat_octets_waiting(self) -> int:
        """How many octets of the announced chunk the buffer holds now."""
        return min(self.bdat_remaining, len(self.buffer))

    def take_chunk(self) -> bytes:
        chunk, self.bdat_chunk = bytes(self.bdat_chunk), bytearray()
        return chunk

    def observe_bdat_line_endings(self, content: MailContent) -> None:
        """BDAT content is not line-based, but the same rule holds: no bare CR or LF
        (counted block by block; a CRLF split between two blocks is one CRLF)."""
        obs = self.observations
        lf = cr = crlf = 0
        previous = b""
        for block in content.blocks():
            lf, cr, crlf = lf + block.count(b"\n"), cr + block.count(b"\r"), \
                crlf + block.count(b"\r\n") + (previous == b"\r" and block[:1] == b"\n")
            previous = block[-1:]
        bare_lf, bare_cr = lf - crlf, cr - crlf
        obs.bare_lf_in_data = obs.bare_lf_in_data or bare_lf > 0
        obs.bare_cr_in_data = obs.bare_cr_in_data or bare_cr > 0

    # --- send_during_data ---------------------------------------------------------------
    def new_read(self) -> None:
        """Bytes of a new read arrived: ``send_during_data`` may go once more."""
        self.during_data_this_read = False

    def during_data(self) -> list[Action]:
        """``send_during_data`` once per read of content, up to the configured count."""
        payload = self.config.send_during_data_bytes()
        self.during_data_this_read = True
        if payload is None or self.during_data_sent >= self.config.send_during_data_times:
            return []
        self.during_data_sent += 1
        self.observations.send_during_data_count += 1
        return [Send(payload)]
