"""The hostile reply source: a server that answers every command, and lies now and then.

:class:`HostileServer` reads what the client sends (command lines, BDAT chunks, SASL
responses), works out the correct reply to each (the greeting, an EHLO capability list
drawn for the session, 235/334 for AUTH by mechanism, 354 and the reply after the
content, 221 to QUIT ...), and hands back :class:`Piece` objects: the reply's bytes,
mutated by :func:`scenarios.replyfuzz.mutations.mutate` with probability
``mutate_percent``. It also makes the *unsolicited* replies (before the greeting, right
after the 220 to STARTTLS, after the 221 to QUIT, a surplus one after any reply).

It is deliberately simpler than the scripted engine (:mod:`scenarios.server.engine`):
no mailbox, no rules, no parsing of the message; only enough state to answer in order
(TLS, the SASL round, the BDAT bytes still to skip). Delivering the pieces (segments,
delays, closes) is :mod:`scenarios.replyfuzz.harness`'s business.

This module knows SMTP commands and replies; nothing about the client core, sockets or
time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from scenarios.replyfuzz import mutations as M
from scenarios.replyfuzz.chooser import Chooser, chance, pick

HOSTNAME = b"mx.example.net"
MAX_COMMAND_LINE = 4096
"""A client line longer than this is answered 500 and forgotten (the client's are short)."""


_PLAIN_ANSWERS: Final = {
    b"MAIL": (250, b"2.1.0 Ok"), b"RCPT": (250, b"2.1.5 Ok"),
    b"DATA": (354, b"End data with <CR><LF>.<CR><LF>"), b"RSET": (250, b"2.0.0 Ok"),
    b"VRFY": (252, b"2.0.0 Cannot VRFY user"), b"ETRN": (250, b"2.0.0 Queuing started"),
    b"QUIT": (221, b"2.0.0 Bye"), b"NOOP": (250, b"2.0.0 Ok"),
}
"""The correct reply to each command that needs no state."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One reply (or what is left of it) as the server writes it."""

    data: bytes
    answers: str
    """The command it answers (``GREETING``, ``EHLO`` ...), or ``UNSOLICITED``."""
    well_formed: bool
    """One reply that a parser completes at its last byte, and not before."""


@dataclass
class HostileServer:
    """Correct replies, mutated with probability ``mutate_percent`` each."""

    chooser: Chooser
    mutate_percent: int
    tls_active: bool = False
    agreed_to_tls: bool = False
    """The last reply to STARTTLS was a plain ``220``: the server expects a handshake."""
    _line: bytearray = field(default_factory=bytearray)
    _bdat_left: int = 0
    _bdat_last: bool = False
    _sasl: deque[M.Reply] = field(default_factory=deque)
    _in_sasl: bool = False

    # ---- what the server says of its own accord -------------------------------------
    def greeting(self) -> list[Piece]:
        pieces = []
        if chance(self.chooser, 3):  # an unsolicited reply before the greeting
            pieces.append(self.unsolicited())
        pieces.append(self._answer("GREETING", M.reply(220, HOSTNAME + b" ESMTP hostile")))
        return pieces

    def unsolicited(self) -> Piece:
        code = pick(self.chooser, (250, 220, 235, 354, 421, 550))
        return Piece(M.render(M.reply(code, b"unsolicited")), "UNSOLICITED", True)

    def after_content(self) -> list[Piece]:
        """The reply to the end of DATA content."""
        return [self._answer("DATA_END", M.reply(250, b"2.0.0 Ok: queued as HOSTILE1"))]

    def early_reply(self) -> Piece:
        """A final reply in the middle of the content (the server gave up)."""
        code = pick(self.chooser, (552, 421, 451, 554, 250))
        return self._answer("DATA_END", M.reply(code, b"early"))

    # ---- what the client sent -------------------------------------------------------
    def receive(self, data: bytes) -> list[Piece]:
        """The replies to every complete command in ``data`` (plus what is left over)."""
        pieces: list[Piece] = []
        view = memoryview(data)
        while view:
            if self._bdat_left:
                taken = min(self._bdat_left, len(view))
                self._bdat_left -= taken
                view = view[taken:]
                if not self._bdat_left:
                    code_text = b"2.0.0 Ok: queued" if self._bdat_last else b"2.0.0 Ok"
                    pieces.append(self._answer("BDAT", M.reply(250, code_text)))
                continue
            newline = bytes(view).find(b"\n")
            if newline < 0:
                self._line += view
                view = view[len(view):]
                if len(self._line) > MAX_COMMAND_LINE:
                    self._line.clear()
                    pieces.append(self._answer("UNKNOWN", M.reply(500, b"5.5.2 line too long")))
                continue
            self._line += view[:newline + 1]
            view = view[newline + 1:]
            line = bytes(self._line).rstrip(b"\r\n")
            self._line.clear()
            pieces += self._command(line)
        return pieces

    def _command(self, line: bytes) -> list[Piece]:
        if self._in_sasl:
            return self._sasl_step(line)
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if verb in (b"EHLO", b"HELO"):
            return [self._hello(verb.decode())]
        if verb == b"STARTTLS":
            piece = self._answer("STARTTLS", M.reply(220, b"2.0.0 Ready to start TLS"))
            self.agreed_to_tls = piece.data == b"220 2.0.0 Ready to start TLS\r\n"
            pieces = [piece]
            if chance(self.chooser, 10):  # plaintext injected after the 220 (row 8)
                pieces.append(self.unsolicited())
            return pieces
        if verb == b"AUTH":
            return self._auth(argument)
        if verb == b"BDAT":
            size, _, last = argument.partition(b" ")
            self._bdat_left = int(size) if size.isdigit() else 0
            self._bdat_last = last.upper() == b"LAST"
            if not self._bdat_left:
                return [self._answer("BDAT", M.reply(250, b"2.0.0 Ok"))]
            return []
        code, text = _PLAIN_ANSWERS.get(verb, (500, b"5.5.2 Error: command not recognized"))
        pieces = [self._answer(verb.decode("latin-1") or "UNKNOWN", M.reply(code, text))]
        if verb == b"QUIT" and chance(self.chooser, 10):  # a reply after the 221
            pieces.append(self.unsolicited())
        return pieces

    def _hello(self, verb: str) -> Piece:
        if verb == "HELO":
            return self._answer(verb, M.reply(250, HOSTNAME))
        offer = not self.tls_active or chance(self.chooser, 5)
        capabilities = M.ehlo_capabilities(self.chooser, offer_starttls=offer)
        return self._answer(verb, M.reply(250, HOSTNAME, *capabilities))

    def _auth(self, argument: bytes) -> list[Piece]:
        mechanism, _, initial = argument.partition(b" ")
        mechanism = mechanism.upper()
        self._sasl.clear()
        if mechanism == b"LOGIN":
            self._sasl.extend(M.reply(334, prompt) for prompt in M.LOGIN_PROMPTS)
        elif mechanism == b"CRAM-MD5":
            self._sasl.append(M.reply(334, M.CRAM_CHALLENGE))
        elif mechanism == b"XOAUTH2" and chance(self.chooser, 20):
            self._sasl.append(M.reply(334, M.XOAUTH2_ERROR))
        elif mechanism not in (b"PLAIN", b"ANONYMOUS", b"XOAUTH2") or not initial:
            if mechanism in (b"PLAIN", b"ANONYMOUS", b"XOAUTH2"):
                self._sasl.append(M.reply(334, b""))
            else:
                return [self._answer("AUTH", M.reply(504, b"5.5.4 Unrecognized mechanism"))]
        return [self._sasl_next()]

    def _sasl_step(self, line: bytes) -> list[Piece]:
        if line == b"*":
            self._in_sasl = False
            return [self._answer("AUTH", M.reply(501, b"5.7.0 Authentication aborted"))]
        return [self._sasl_next()]

    def _sasl_next(self) -> Piece:
        if self._sasl:
            piece = self._answer("AUTH", self._sasl.popleft())
        else:
            piece = self._answer("AUTH", M.reply(235, b"2.7.0 Authentication successful"))
        self._in_sasl = piece.data.startswith(b"334")
        return piece

    # ---- one reply, maybe mutated ------------------------------------------------------
    def _answer(self, answers: str, lines: M.Reply) -> Piece:
        if chance(self.chooser, self.mutate_percent):
            lines, well_formed = M.mutate(self.chooser, lines)
            return Piece(M.render(lines), answers, well_formed)
        return Piece(M.render(lines), answers, True)
