"""What the recorded client did, read off a dialogue: EHLO, TLS, AUTH, mail transactions.

:func:`client_facts` walks the exchanges of a :class:`~scenarios.capture.dialogue.Dialogue`
and collects what the scenario's device configuration, job and expectations are made of:
the EHLO name, whether STARTTLS was offered and used, the AUTH mechanism and user name
(never the password), each mail transaction (sender, parameters, recipients and their
replies, the content as the server received it, and the final reply), VRFY and ETRN, and
which extensions the client used or left unused although offered.

This module knows SMTP commands and replies; it knows nothing about files or TOML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from scenarios.capture.dialogue import Dialogue, Exchange, decode_base64

_PATH: Final = re.compile(r"^(?:FROM|TO):\s*<([^>]*)>\s*(.*)$", re.IGNORECASE)


@dataclass
class Recipient:
    address: str
    params: dict[str, str]
    code: int | None


@dataclass
class Transaction:
    """One mail: MAIL FROM, RCPT TO, its content and the reply that ended it."""

    sender: str
    params: dict[str, str]
    mail_code: int | None
    recipients: list[Recipient] = field(default_factory=list)
    via: str | None = None
    content: bytes = b""
    chunks: list[bytes] = field(default_factory=list)
    """BDAT chunks as they came (joined into ``content`` at the end)."""
    content_complete: bool = False
    data_code: int | None = None
    """The reply to DATA (354 to go on), or to a BDAT chunk that was refused."""
    final_code: int | None = None
    """The reply after the content (DATA_END or the last BDAT)."""
    chunk_sizes: list[int] = field(default_factory=list)


@dataclass
class ClientFacts:
    """Everything :func:`client_facts` found (see the module docstring)."""

    greeting: list[str] = field(default_factory=list)
    ehlo_name: str | None = None
    helo: bool = False
    capabilities: list[str] | None = None
    capabilities_tls: list[str] | None = None
    starttls_offered: bool = False
    starttls_code: int | None = None
    auth_mechanism: str | None = None
    auth_user: str | None = None
    auth_challenge: str | None = None
    auth_code: int | None = None
    transactions: list[Transaction] = field(default_factory=list)
    vrfy: tuple[str, int | None] | None = None
    etrn: tuple[str, int | None] | None = None
    quit: bool = False
    pipelined: bool = False
    commands_after_ehlo: list[str] = field(default_factory=list)

    def advertised(self, keyword: str) -> bool:
        lines = self.capabilities or []
        return any(line.upper().split(" ")[0] == keyword for line in lines)


def _params(text: str) -> dict[str, str]:
    out = {}
    for word in text.split():
        key, _, value = word.partition("=")
        out[key.upper()] = value
    return out


def _path(argument: str) -> tuple[str, dict[str, str]] | None:
    match = _PATH.match(argument.strip())
    if match is None:
        return None
    return match[1], _params(match[2])


def _capability_lines(exchange: Exchange) -> list[str]:
    answer = exchange.answer
    if answer is None or not answer.replies:
        return []
    lines = answer.replies[0].text_lines()[1:]
    return [line[4:].strip() for line in lines if len(line) > 4]


def _sasl_user(mechanism: str, lines: list[str]) -> str | None:
    """The user name an AUTH exchange carries (never its secret)."""
    decoded = [decode_base64(line) for line in lines]
    if mechanism == "PLAIN" and decoded and decoded[0] is not None:
        parts = decoded[0].split(b"\0")
        return parts[1].decode("utf-8", "replace") if len(parts) == 3 else None
    if mechanism == "LOGIN" and decoded and decoded[0] is not None:
        return decoded[0].decode("utf-8", "replace")
    if mechanism == "CRAM-MD5" and decoded and decoded[0] is not None:
        return decoded[0].decode("utf-8", "replace").rsplit(" ", 1)[0]
    if mechanism == "XOAUTH2" and decoded and decoded[0] is not None:
        match = re.search(rb"user=([^\x01]*)", decoded[0])
        return match[1].decode("utf-8", "replace") if match else None
    return None


class _Walker:
    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self.facts = ClientFacts()
        self.current: Transaction | None = None
        self.sasl: list[str] = []

    def run(self) -> ClientFacts:
        facts = self.facts
        greeting = self.dialogue.exchanges[0].answer if self.dialogue.exchanges else None
        if greeting is not None and greeting.replies:
            facts.greeting = greeting.replies[0].text_lines()
        for index, exchange in enumerate(self.dialogue.exchanges):
            if exchange.unit is None or exchange.discarded:
                continue
            self._exchange(index, exchange)
        facts.pipelined = any(u.pipelined for u in self.dialogue.units())
        for transaction in facts.transactions:
            if transaction.chunks:
                transaction.content = b"".join(transaction.chunks)
        return facts

    def _code(self, exchange: Exchange) -> int | None:
        return exchange.answer.code if exchange.answer is not None else None

    def _exchange(self, index: int, exchange: Exchange) -> None:
        facts, unit = self.facts, exchange.unit
        assert unit is not None
        code = self._code(exchange)
        verb = unit.verb
        if facts.ehlo_name is not None and verb not in ("EHLO", "HELO"):
            facts.commands_after_ehlo.append(verb)
        if verb in ("EHLO", "HELO"):
            if facts.ehlo_name is None:
                facts.ehlo_name = unit.argument.strip() or None
                facts.helo = verb == "HELO"
            lines = _capability_lines(exchange)
            if verb == "EHLO" and code == 250:
                if unit.tls or (self.dialogue.session.tls is not None
                                and self.dialogue.session.tls.implicit):
                    facts.capabilities_tls = facts.capabilities_tls or lines
                else:
                    facts.capabilities = facts.capabilities or lines
                    facts.starttls_offered = facts.starttls_offered or facts.advertised(
                        "STARTTLS")
        elif verb == "STARTTLS":
            facts.starttls_code = code
        elif verb == "AUTH":
            parts = unit.argument.split()
            facts.auth_mechanism = parts[0].upper() if parts else None
            self.sasl = parts[1:]
            self._auth_reply(exchange)
        elif verb == "AUTH_RESPONSE":
            self.sasl.append(unit.line)
            self._auth_reply(exchange)
        elif verb == "MAIL":
            found = _path(unit.argument)
            self.current = Transaction(found[0] if found else unit.argument,
                                       found[1] if found else {}, code)
            facts.transactions.append(self.current)
        elif verb == "RCPT" and self.current is not None:
            found = _path(unit.argument)
            if found is not None:
                self.current.recipients.append(Recipient(found[0], found[1], code))
        elif verb == "DATA" and self.current is not None:
            self.current.via, self.current.data_code = "DATA", code
        elif verb == "DATA_END" and self.current is not None:
            self.current.content = _unstuff(unit.data)
            self.current.content_complete = unit.data.endswith(b"\r\n.\r\n") or \
                unit.data == b".\r\n"
            self.current.final_code = code
        elif verb == "BDAT" and self.current is not None:
            self._bdat(exchange)
        elif verb == "VRFY":
            facts.vrfy = (unit.argument.strip(), code)
        elif verb == "ETRN":
            facts.etrn = (unit.argument.strip(), code)
        elif verb == "QUIT":
            facts.quit = True
        elif verb == "RSET":
            self.current = None

    def _auth_reply(self, exchange: Exchange) -> None:
        facts = self.facts
        code = self._code(exchange)
        answer = exchange.answer
        if code == 334 and answer is not None and facts.auth_mechanism == "CRAM-MD5":
            text = answer.replies[0].text_lines()[0][4:]
            challenge = decode_base64(text)
            if challenge is not None:
                facts.auth_challenge = challenge.decode("latin-1")
        if code != 334:
            facts.auth_code = code
            if facts.auth_mechanism is not None:
                facts.auth_user = _sasl_user(facts.auth_mechanism, self.sasl)

    def _bdat(self, exchange: Exchange) -> None:
        transaction, unit = self.current, exchange.unit
        assert transaction is not None and unit is not None
        transaction.via = "BDAT"
        transaction.chunks.append(unit.data)
        transaction.chunk_sizes.append(len(unit.data))
        if unit.line.upper().rstrip().endswith("LAST"):
            transaction.final_code = self._code(exchange)
            transaction.content_complete = True
        elif self._code(exchange) not in (None, 250):
            transaction.data_code = self._code(exchange)


def _unstuff(data: bytes) -> bytes:
    """DATA content as the server stores it: the final dot gone, leading dots unstuffed."""
    if data.endswith(b"\r\n.\r\n"):
        data = data[:-3]
    elif data == b".\r\n":
        return b""
    lines = data.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def client_facts(dialogue: Dialogue) -> ClientFacts:
    """What the client did in ``dialogue`` (see the module docstring)."""
    return _Walker(dialogue).run()
