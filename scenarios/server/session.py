"""Protocol state of one connection (``Session``) and of one mail transaction (``Envelope``).

The session lasts for the connection: who the client said it was, what the server last
advertised, TLS and AUTH state. The envelope lasts for one transaction: MAIL FROM, the
recipients, and the content as it arrives. RSET, EHLO, HELO and the end of the content
replace the envelope; a completed STARTTLS replaces the whole session (RFC 3207 4.2:
the client must start again with EHLO).

This module knows nothing about bytes on the wire, rules, sockets or time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.server.mailbox import Recipient, Via
from scenarios.server.spool import MailContent


@dataclass
class Envelope:
    """One mail transaction, from MAIL FROM to the end of the content."""

    sender: str | None = None
    mail_params: dict[str, str | None] = field(default_factory=dict)
    size_declared: int | None = None
    recipients: list[Recipient] = field(default_factory=list)
    content: MailContent = field(default_factory=MailContent)
    """What was kept of the content so far (out of memory once large)."""
    octets: int = 0
    """Content bytes received, kept or not (``content`` stops at the hold's cap)."""
    via: Via | None = None
    """How content is arriving: None until DATA or the first BDAT."""
    short_of_storage: bool = False
    """The server's memory budget had no room for this mail: none of its content is
    kept (it is counted) and it is refused at its end."""

    def add(self, data: bytes | bytearray, room: int | None, octets: int | None = None) -> None:
        """``data`` arrived (``octets`` of it, when more came than was kept): keep at most
        ``room`` bytes of it (None: all)."""
        self.octets += len(data) if octets is None else octets
        self.content.append(data if room is None else data[:room])

    def discard_content(self) -> None:
        """Keep none of the content (it stays counted in :attr:`octets`)."""
        self.content = MailContent()

    @property
    def started(self) -> bool:
        return self.sender is not None


@dataclass
class AuthExchange:
    """A SASL exchange waiting for the client's next response line."""

    mechanism: str
    step: int = 0
    username: str | None = None
    failed: bool = False
    """XOAUTH2: the error challenge went out; the next line gets 535."""


@dataclass
class Session:
    """One connection's protocol state."""

    helo_name: str | None = None
    extended: bool = False
    """True after EHLO, False after HELO."""
    advertised: tuple[str, ...] = ()
    """Keyword lines of the last EHLO reply actually sent (upper-case)."""
    tls_active: bool = False
    starttls_refused: bool = False
    authenticated_user: str | None = None
    auth: AuthExchange | None = None
    envelope: Envelope = field(default_factory=Envelope)

    @property
    def greeted(self) -> bool:
        return self.helo_name is not None

    def reset_transaction(self) -> None:
        """RSET, or the implicit reset of EHLO/HELO and of the end of the content."""
        self.envelope = Envelope()

    def advertises(self, keyword: str) -> bool:
        """Whether the last EHLO reply listed ``keyword`` (``"SIZE"`` matches ``SIZE 1000``)."""
        key = keyword.upper()
        return any(line.split(" ")[0].split("=")[0] == key for line in self.advertised)

    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms of the advertised ``AUTH`` (or old-style ``AUTH=``) lines."""
        mechanisms: list[str] = []
        for line in self.advertised:
            if line.startswith(("AUTH ", "AUTH=")):
                mechanisms.extend(line[5:].split())
        return tuple(mechanisms)
