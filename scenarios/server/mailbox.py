"""What the scripted server received and what it noticed about the client.

``ReceivedMail`` is one message whose content arrived in full: the envelope, the ESMTP
parameters, and the content bytes exactly as they were after dot-unstuffing (DATA) or
as the chunks carried them (BDAT), without the terminating ``.`` line. The content is
stored as a :class:`~scenarios.server.spool.MailContent` (``stored``: out of memory once
it is large; verdicts read it in blocks); :attr:`ReceivedMail.content` gives it whole, as
bytes, to whoever asks. Headers are parsed lazily with ``email.parser.BytesParser``
(policy ``default``, as :data:`~scenarios.server.readpolicy.READ_POLICY`), from the
header section only.

``Observations`` is the record of how the client behaved: EHLO names, pipelining, line
endings, STARTTLS discipline, AUTH in plaintext, dot-stuffing, Date headers, sizes. A
verdict reads these fields; the engine only writes them.

This module knows nothing about sockets, rules or time (``now`` comes from the caller).
"""

from __future__ import annotations

import email.feedparser
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import cached_property
from typing import Final, Literal, TypeAlias

from scenarios.server.readpolicy import READ_POLICY
from scenarios.server.spool import MailContent

PARSE_BLOCK: Final = 64 * 1024
"""How much content :attr:`ReceivedMail.message` feeds the email parser at a time."""
HEADER_SECTION_LIMIT: Final = 1 << 20
"""How far :attr:`ReceivedMail.headers` looks for the blank line ending the header
section; a content without one within this many bytes is parsed whole for its headers
(as before the content was spooled)."""
Via: TypeAlias = Literal["DATA", "BDAT"]
PlaintextMail: TypeAlias = Literal["starttls_not_offered", "starttls_refused",
                                   "starttls_offered"]
"""Why the first MAIL FROM came outside TLS: STARTTLS was not in the last EHLO reply,
was refused (or its handshake failed), or was offered and not used."""


@dataclass(frozen=True)
class Recipient:
    """One accepted ``RCPT TO``: the address and its ESMTP parameters (keys upper-case)."""

    address: str
    params: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def notify(self) -> tuple[str, ...] | None:
        """DSN ``NOTIFY=`` values (``("SUCCESS", "FAILURE")``), or None when absent."""
        value = self.params.get("NOTIFY")
        return None if value is None else tuple(value.upper().split(","))

    @property
    def orcpt(self) -> str | None:
        """DSN ``ORCPT=`` value as sent (``rfc822;user@example.com``), or None."""
        return self.params.get("ORCPT")


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it."""

    sender: str
    recipients: tuple[Recipient, ...]
    mail_params: Mapping[str, str | None]
    stored: MailContent
    """The content, kept out of memory once large (read it in blocks)."""
    via: Via
    queue_id: str | None = None
    helo_name: str | None = None
    tls: bool = False
    authenticated_user: str | None = None

    def queued(self, queue_id: str) -> ReceivedMail:
        """This mail with its queue id; what was parsed of its content already (the
        header section for the Date, the message) stays parsed: the content is the same,
        and parsing the header section again cost as much as the first time."""
        copy = replace(self, queue_id=queue_id)
        for parsed in ("_header_section", "message"):
            if parsed in self.__dict__:
                copy.__dict__[parsed] = self.__dict__[parsed]
        return copy

    @property
    def content(self) -> bytes:
        """The whole content as bytes (read from :attr:`stored` on every call: the
        verdicts read blocks instead, so a large mail is in memory only for a caller
        that asks for it whole)."""
        return self.stored.to_bytes()

    @property
    def size(self) -> int:
        """The content's length in bytes."""
        return len(self.stored)

    @cached_property
    def message(self) -> EmailMessage:
        """The content parsed as an RFC 5322 message (parsed once, on first use), fed to
        the parser in blocks: the same message as ``BytesParser.parsebytes``, whose one
        decode and split of the whole content peaks at 7 to 8 times its size."""
        parser = email.feedparser.BytesFeedParser(_factory=EmailMessage,
                                                  policy=email.policy.default)
        for block in self.stored.blocks(size=PARSE_BLOCK):
            parser.feed(block)
        message = parser.close()
        assert isinstance(message, EmailMessage)  # the factory's class
        return message

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case) as the client wrote it (unfolded,
        not re-rendered: a wrong weekday stays wrong), or None."""
        values = self.headers(name)
        return values[0] if values else None

    @cached_property
    def _header_section(self) -> EmailMessage:
        """Only the header section parsed (a 10 MiB body is not copied to read a Date)."""
        stored = self.stored
        ends = [i + len(s) for s in (b"\r\n\r\n", b"\n\n")
                if (i := stored.find(s, limit=HEADER_SECTION_LIMIT)) >= 0]
        parser = email.parser.BytesParser(_class=EmailMessage, policy=READ_POLICY)
        return parser.parsebytes(stored.read(0, min(ends)) if ends else stored.to_bytes())

    def headers(self, name: str) -> list[str]:
        """Every header called ``name``, in order, as written (unfolded)."""
        wanted = name.lower()
        return [re.sub(r"\r?\n[ \t]", " ", str(value)).strip()
                for key, value in self._header_section.raw_items() if key.lower() == wanted]

    @property
    def body(self) -> bytes:
        """The bytes after the first empty line (CRLF CRLF, or LF LF for sloppy content)."""
        content = self.content
        if content.startswith((b"\r\n", b"\n")):
            return content[2:] if content.startswith(b"\r\n") else content[1:]
        separators = (b"\r\n\r\n", b"\n\n")
        ends = [(i, len(s)) for s in separators if (i := content.find(s)) >= 0]
        if not ends:
            return b""
        start, length = min(ends)
        return content[start + length :]

    @property
    def recipient_addresses(self) -> list[str]:
        return [r.address for r in self.recipients]

    @property
    def date_header(self) -> str | None:
        return self.header("Date")

    @property
    def date(self) -> datetime | None:
        """The Date header as an aware datetime (UTC when it says ``-0000``), or None."""
        raw = self.date_header
        if raw is None:
            return None
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass
class LineEndings:
    """How lines ended: CRLF, a bare LF, or a bare CR somewhere inside a line."""

    crlf: int = 0
    bare_lf: int = 0
    bare_cr: int = 0


@dataclass
class SizeRecord:
    """``SIZE=`` declared in MAIL FROM against the content size actually received."""

    declared: int | None
    actual: int


@dataclass(frozen=True)
class GeneratedSent:
    """A generated reply (``SendGenerated``): how long it is, and how much went out."""

    total: int
    sent: int

    @property
    def abandoned(self) -> bool:
        """The client closed or reset the connection before it was all out."""
        return self.sent < self.total


@dataclass
class Observations:
    """Everything the server noticed about the client, in arrival order."""

    commands: list[str] = field(default_factory=list)
    """Verbs of every command line, upper-case, in order (SASL responses excluded)."""
    ehlo_names: list[str] = field(default_factory=list)
    """The argument of every EHLO and HELO."""
    helo_used: bool = False
    unknown_commands: list[str] = field(default_factory=list)
    space_after_colon: bool = False
    """``MAIL FROM: <a>`` or ``RCPT TO: <a>`` seen (RFC 5321 4.1.2 has no space)."""
    command_line_endings: LineEndings = field(default_factory=LineEndings)
    data_line_endings: LineEndings = field(default_factory=LineEndings)
    lines_too_long: int = 0
    """Command lines over the server's limit (answered 500)."""
    data_lines_too_long: int = 0
    """DATA lines over 1000 octets including CRLF (RFC 5321 4.5.3.1.6); accepted."""
    # --- pipelining ------------------------------------------------------------------
    pipelined: bool = False
    """The client sent more bytes before the reply to a complete command went out."""
    pipelined_without_advertisement: bool = False
    pipelining_violations: list[str] = field(default_factory=list)
    """RFC 2920 group rules broken, e.g. ``"DATA not last in group"``."""
    used_without_advertisement: list[str] = field(default_factory=list)
    """Extensions used although the last EHLO reply did not list them (no repeats)."""
    # --- TLS ---------------------------------------------------------------------------
    starttls_requested: bool = False
    tls_established: bool = False
    tls_cipher: str | None = None
    tls_version: str | None = None
    tls_failure: str | None = None
    plaintext_after_starttls: bytes = b""
    first_command_after_tls: str | None = None
    """The verb the client sent first inside TLS (RFC 3207 4.2: it should be EHLO)."""
    """Bytes that arrived after STARTTLS and before TLS: discarded (CVE-2011-0411 rule)."""
    commands_after_failed_starttls: list[str] = field(default_factory=list)
    """Verbs the client sent after STARTTLS was refused (a fail-closed client sends none
    but QUIT)."""
    plaintext_mail: PlaintextMail | None = None
    """Set by the first MAIL FROM outside TLS: where STARTTLS stood then."""
    # --- AUTH --------------------------------------------------------------------------
    auth_mechanisms: list[str] = field(default_factory=list)
    auth_in_plaintext: bool = False
    """AUTH arrived outside TLS, whether or not the server offered STARTTLS."""
    auth_outside_tls: list[str] = field(default_factory=list)
    """The mechanism of every AUTH sent outside TLS, in order."""
    authenticated_user: str | None = None
    auth_failures: int = 0
    # --- content -----------------------------------------------------------------------
    mail_count: int = 0
    """Messages whose content arrived in full (accepted or not)."""
    data_bytes: int = 0
    """Content bytes stored over all complete messages (after unstuffing)."""
    bare_lf_in_data: bool = False
    bare_cr_in_data: bool = False
    dot_stuffing_violations: list[bytes] = field(default_factory=list)
    """DATA lines as received that start with one ``.`` then more text: not stuffed."""
    eod_lookalikes: list[bytes] = field(default_factory=list)
    """DATA lines holding a dot next to a bare CR or LF (SMTP smuggling shapes)."""
    date_headers: list[str | None] = field(default_factory=list)
    """The Date header of every complete message (None when it had none)."""
    sizes: list[SizeRecord] = field(default_factory=list)
    refused_mail: list[ReceivedMail] = field(default_factory=list)
    """Complete messages the server did not accept (rule, size, Date)."""
    unfinished_content: bytes | None = None
    """Content of a transaction the connection ended in the middle of."""
    send_during_data_count: int = 0
    close_reason: str | None = None
    generated_replies: list[GeneratedSent] = field(default_factory=list)
    """Every generated reply the server began, in order, with how much went out."""

    def note_unadvertised(self, keyword: str) -> None:
        if keyword not in self.used_without_advertisement:
            self.used_without_advertisement.append(keyword)
