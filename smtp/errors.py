"""Errors of the SMTP wire layer, named by who is to blame.

``SmtpInputError``: the application or its configuration gave bad input (a CR, LF or NUL
in an address, a header value or a command argument; an address that is too long; a
SASL field the mechanism cannot carry). It is a ``ValueError`` and its message names the
field and what was expected. Nothing has been sent when it is raised.

``RemoteProtocolError``: the server broke the protocol (a malformed reply, a reply line
that is too long, an AUTH challenge that is not base64). ``reason`` is a plain sentence
for the trace and the verdict.

``LocalProtocolError``: the client core itself broke its rules (a phase transition its
table does not allow, :mod:`smtp.phases`). It is a bug of this code, never the server's
or the application's doing, and no input may provoke it.

This module knows nothing else: no I/O, no clock, no protocol state.
"""

from __future__ import annotations


class SmtpInputError(ValueError):
    """Bad input from the application or config; the message names the field."""


class RemoteProtocolError(Exception):
    """The server broke the protocol; ``reason`` says how, in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LocalProtocolError(Exception):
    """The client core broke its own rules (a bug here); ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
