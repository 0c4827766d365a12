"""Mailbox keywords: what the scripted server received, mail by mail.

The mailbox is the simulated server's (the booted board's world, or the last `Run
Scenario`) or, when one runs, the server on a real socket. Mails are numbered from 1 in
the order their content arrived in full. Bodies are compared byte for byte as
:mod:`scenarios.verdict.bodies` says (CRLF and LF are the same line end; trailing empty lines
count).

``Wait Until Mailbox Has`` is the only keyword here that lets time pass: virtual time for
the simulated server, real time (polling) for a socket server.

This module knows the server's received mails and the email package; nothing else.
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from typing import Literal

from emulator.units import SECOND
from scenarios.robotlib.context import (
    Duration,
    LibraryComponent,
    duration_us,
    keyword,
    seconds_text,
)
from scenarios.server.mailbox import ReceivedMail
from scenarios.verdict.bodies import body_difference, expected_text_body, received_text_body

#: How often the mailbox of a server on a real socket is looked at while waiting.
SOCKET_POLL_S = 0.05


def _body_text(mail: ReceivedMail) -> str:
    """The mail's text body, decoded (the plain-text part of a multipart mail)."""
    message = mail.message
    part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
    if not isinstance(part, EmailMessage):
        return ""
    try:
        content = part.get_content()
    except (KeyError, LookupError):  # unknown charset or transfer encoding
        content = part.get_payload(decode=True)
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


class MailboxKeywords(LibraryComponent):
    """The scripted server's mailbox."""

    AREA = "mailbox"

    def _mail(self, mail: int) -> ReceivedMail:
        box = self.ctx.mailbox()
        if not isinstance(mail, int) or isinstance(mail, bool) or mail < 1:
            raise ValueError(f"mail: expected a mail number from 1, got {mail!r}")
        if mail > len(box):
            raise AssertionError(f"The server's mailbox holds {len(box)} mail(s): there is no "
                                 f"mail {mail}.")
        return box[mail - 1]

    @keyword()
    def wait_until_mailbox_has(self, count: int = 1,
                               timeout: Duration = "10 min") -> None:
        """Lets time pass until the server's mailbox holds ``count`` mails; fails after
        ``timeout`` (virtual time for a simulated server, real time for a socket one).

        | `Wait Until Mailbox Has` | 1 | timeout=10 min |
        """
        within = duration_us(timeout, "timeout")
        if self.ctx.socket_server is not None:
            deadline = time.monotonic() + within / SECOND
            while len(self.ctx.mailbox()) < count and time.monotonic() < deadline:
                time.sleep(SOCKET_POLL_S)
        else:
            world = self.ctx.world
            world.kernel.run(until_us=world.kernel.now_us + within,
                             stop=lambda: len(self.ctx.mailbox()) >= count)
        got = len(self.ctx.mailbox())
        if got < count:
            raise AssertionError(f"The server's mailbox holds {got} mail(s) after "
                                 f"{seconds_text(within)}, expected {count}.")

    @keyword()
    def mail_count_should_be(self, count: int) -> None:
        """Fails unless the server received exactly ``count`` mails in full.

        | `Mail Count Should Be` | 1 |
        """
        got = len(self.ctx.mailbox())
        if got != count:
            raise AssertionError(f"The server's mailbox holds {got} mail(s), expected {count}.")

    @keyword()
    def mailbox_should_be_empty(self) -> None:
        """Fails if the server received any mail in full.

        | `Mailbox Should Be Empty` |
        """
        box = self.ctx.mailbox()
        if box:
            raise AssertionError(f"The server's mailbox holds {len(box)} mail(s), the first "
                                 f"from {box[0].sender}, expected none.")

    @keyword()
    def get_mail_body(self, mail: int = 1) -> str:
        """The text body of mail ``mail`` (the plain-text part of a multipart mail), with
        CRLF line ends as LF.

        | ${body} = | `Get Mail Body` |
        """
        return _body_text(self._mail(mail)).replace("\r\n", "\n")

    @keyword()
    def mail_body_should_be(self, expected: str, mail: int = 1) -> None:
        """Fails unless the text body of mail ``mail`` is ``expected`` byte for byte,
        saying how it differs (e.g. cut at the first blank line). ``\n`` in ``expected``
        is a line end (CRLF on the wire); a last line without one gets the CRLF that DATA
        adds. Trailing empty lines count.

        | `Mail Body Should Be` | Pump 7 report.\\n\\nPressure: nominal. |
        """
        received = self._mail(mail)
        why = body_difference(expected_text_body(expected, received),
                              received_text_body(received))
        if why is not None:
            raise AssertionError(f"The body of mail {mail} is not the one sent: {why}.")

    @keyword()
    def get_mail_header(self, name: str, mail: int = 1) -> str | None:
        """The first header ``name`` of mail ``mail`` (any case), or None.

        | ${date} = | `Get Mail Header` | Date |
        """
        return self._mail(mail).header(name)

    @keyword()
    def mail_should_have_header(self, name: str, mail: int = 1) -> None:
        """Fails unless mail ``mail`` has a header ``name``.

        | `Mail Should Have Header` | Message-ID |
        """
        if self._mail(mail).header(name) is None:
            raise AssertionError(f"Mail {mail} has no {name} header.")

    @keyword()
    def mail_should_not_have_header(self, name: str, mail: int = 1) -> None:
        """Fails if mail ``mail`` has a header ``name``.

        | `Mail Should Not Have Header` | Bcc |
        """
        value = self._mail(mail).header(name)
        if value is not None:
            raise AssertionError(f"Mail {mail} has a {name} header ({value!r}), expected none.")

    @keyword()
    def mail_header_should_be(self, name: str, expected: str, mail: int = 1) -> None:
        """Fails unless header ``name`` of mail ``mail`` is exactly ``expected``.

        | `Mail Header Should Be` | Date | Thu, 29 Feb 2024 12:00:00 +0000 |
        """
        value = self._mail(mail).header(name)
        if value != expected:
            shown = "missing" if value is None else repr(value)
            raise AssertionError(f"The {name} header of mail {mail} is {shown}, expected "
                                 f"{expected!r}.")

    @keyword()
    def mail_header_should_match(self, name: str, pattern: str, mail: int = 1) -> None:
        """Fails unless header ``name`` of mail ``mail`` contains a match of the regular
        expression ``pattern``.

        | `Mail Header Should Match` | Message-ID | @device\\\\.example\\\\.com>$ |
        """
        value = self._mail(mail).header(name)
        if value is None or re.search(pattern, value) is None:
            shown = "missing" if value is None else repr(value)
            raise AssertionError(f"The {name} header of mail {mail} is {shown}, which does not "
                                 f"match {pattern!r}.")

    @keyword()
    def mail_sender_should_be(self, address: str, mail: int = 1) -> None:
        """Fails unless the envelope sender (MAIL FROM) of mail ``mail`` is ``address``.

        | `Mail Sender Should Be` | pump7@example.com |
        """
        sender = self._mail(mail).sender
        if sender != address:
            raise AssertionError(f"Mail {mail} came from <{sender}>, expected <{address}>.")

    @keyword()
    def mail_recipients_should_be(self, *addresses: str, mail: int = 1) -> None:
        """Fails unless the envelope recipients (RCPT TO) of mail ``mail`` are exactly
        ``addresses``, in any order (Bcc recipients are here, not in the headers).

        | `Mail Recipients Should Be` | ops@example.net | log@example.net |
        """
        got = self._mail(mail).recipient_addresses
        if sorted(got) != sorted(addresses):
            raise AssertionError(f"Mail {mail} went to {', '.join(got) or 'nobody'}, expected "
                                 f"{', '.join(addresses) or 'nobody'}.")

    @keyword()
    def mail_should_have_arrived_via(self, command: Literal["DATA", "BDAT"],
                                     mail: int = 1) -> None:
        """Fails unless the content of mail ``mail`` came with ``DATA`` or in ``BDAT``
        chunks (CHUNKING).

        | `Mail Should Have Arrived Via` | BDAT |
        """
        via = self._mail(mail).via
        if via != command:
            raise AssertionError(f"Mail {mail} arrived via {via}, expected {command}.")

    @keyword()
    def mail_attachments_should_be(self, *filenames: str, mail: int = 1) -> None:
        """Fails unless mail ``mail`` carries attachments with exactly these file names,
        in this order.

        | `Mail Attachments Should Be` | report.csv | firmware.bin |
        """
        message = self._mail(mail).message
        parts = list(message.iter_attachments()) if message.is_multipart() else []
        got = [p.get_filename() or "(no name)" for p in parts]
        if got != list(filenames):
            raise AssertionError(f"Mail {mail} carries the attachments "
                                 f"{', '.join(got) or '(none)'}, expected "
                                 f"{', '.join(filenames) or '(none)'}.")
