"""The scripted server's replies: named constants, a few builders, and the wire encoding.

Every constant is the reply text without its line terminator, as tests compare it
(``S250_OK == "250 2.0.0 OK"``). A multi-line reply is its lines joined with ``"\\r\\n"``.
``encode`` turns text into wire bytes (CRLF after every line). The texts follow Postfix
where it has one, with RFC 3463 enhanced status codes.

This module knows nothing about sessions, rules, sockets or time.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Final

# --- 2xx -------------------------------------------------------------------------------
S220_TLS_READY: Final = "220 2.0.0 Ready to start TLS"
S221_BYE: Final = "221 2.0.0 Bye"
S235_AUTH_OK: Final = "235 2.7.0 Authentication successful"
S250_OK: Final = "250 2.0.0 OK"
S250_SENDER_OK: Final = "250 2.1.0 Sender OK"
S250_RECIPIENT_OK: Final = "250 2.1.5 Recipient OK"
S250_VRFY_OK: Final = "250 2.1.5 User OK"
S250_ETRN_STARTED: Final = "250 2.0.0 Queuing started"
S252_CANNOT_VRFY: Final = "252 2.0.0 Cannot VRFY user, but will accept message"

# --- 3xx -------------------------------------------------------------------------------
S334_EMPTY: Final = "334 "
S334_USERNAME: Final = "334 VXNlcm5hbWU6"  # base64("Username:")
S334_PASSWORD: Final = "334 UGFzc3dvcmQ6"  # base64("Password:")
XOAUTH2_ERROR_JSON: Final = (
    b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
)
S334_XOAUTH2_ERROR: Final = "334 " + base64.b64encode(XOAUTH2_ERROR_JSON).decode("ascii")
S354_START_DATA: Final = "354 End data with <CR><LF>.<CR><LF>"

# --- 4xx -------------------------------------------------------------------------------
S452_INSUFFICIENT_STORAGE: Final = "452 4.3.1 Insufficient system storage"
S454_TLS_UNAVAILABLE: Final = "454 4.7.0 TLS not available due to temporary reason"
S458_ETRN_UNABLE: Final = "458 4.0.0 Unable to queue messages"

# --- 5xx -------------------------------------------------------------------------------
S500_UNKNOWN: Final = "500 5.5.2 Error: command not recognized"
S500_LINE_TOO_LONG: Final = "500 5.5.2 Error: line too long"
S501_SYNTAX: Final = "501 5.5.4 Syntax error in parameters or arguments"
S501_NO_ARGUMENTS: Final = "501 5.5.4 Syntax: no arguments allowed"
S501_EHLO_SYNTAX: Final = "501 5.5.4 Syntax: EHLO hostname"
S501_HELO_SYNTAX: Final = "501 5.5.4 Syntax: HELO hostname"
S501_EHLO_BARE_IP: Final = "501 5.5.4 Invalid EHLO argument: need a domain name or address literal"
S501_MAIL_SYNTAX: Final = "501 5.5.4 Syntax: MAIL FROM:<address>"
S501_RCPT_SYNTAX: Final = "501 5.5.4 Syntax: RCPT TO:<address>"
S501_BAD_PARAMETER: Final = "501 5.5.4 Bad parameter value"
S501_BDAT_SYNTAX: Final = "501 5.5.4 Syntax: BDAT chunk-size [LAST]"
S501_VRFY_SYNTAX: Final = "501 5.5.4 Syntax: VRFY address"
S501_ETRN_SYNTAX: Final = "501 5.5.4 Syntax: ETRN domain"
S501_AUTH_SYNTAX: Final = "501 5.5.4 Syntax: AUTH mechanism [initial-response]"
S501_AUTH_CANCELLED: Final = "501 5.7.0 Authentication cancelled"
S501_AUTH_BAD_BASE64: Final = "501 5.5.2 Cannot decode response"
S502_NOT_IMPLEMENTED: Final = "502 5.5.1 Error: command not implemented"
S503_BAD_SEQUENCE: Final = "503 5.5.1 Error: bad sequence of commands"
S503_HELO_FIRST: Final = "503 5.5.1 Error: send HELO/EHLO first"
S503_EHLO_FIRST: Final = "503 5.5.1 Error: send EHLO first"
S503_NESTED_MAIL: Final = "503 5.5.1 Error: nested MAIL command"
S503_NEED_MAIL: Final = "503 5.5.1 Error: need MAIL command"
S503_NEED_RCPT: Final = "503 5.5.1 Error: need RCPT command"
S503_DATA_AFTER_BDAT: Final = "503 5.5.1 Error: DATA cannot follow BDAT"
S503_TLS_ACTIVE: Final = "503 5.5.1 Error: TLS already active"
S503_AUTH_NOT_ENABLED: Final = "503 5.5.1 Error: authentication not enabled"
S503_ALREADY_AUTHENTICATED: Final = "503 5.5.1 Error: already authenticated"
S503_AUTH_IN_TRANSACTION: Final = "503 5.5.1 Error: MAIL transaction in progress"
S504_AUTH_MECHANISM: Final = "504 5.5.4 Unrecognized authentication type"
S530_AUTH_REQUIRED: Final = "530 5.7.0 Authentication required"
S535_AUTH_FAILED: Final = "535 5.7.8 Authentication credentials invalid"
S550_NO_SUCH_USER: Final = "550 5.1.1 No such user"
S552_SIZE_EXCEEDED: Final = "552 5.3.4 Message size exceeds fixed limit"
S554_DATE_MISSING: Final = "554 5.6.0 Message refused: no valid Date header"
S554_DATE_OUT_OF_RANGE: Final = "554 5.6.0 Message refused: Date header too far from server time"
S555_UNSUPPORTED_PARAMETER: Final = "555 5.5.4 Unsupported option"


def greeting(hostname: str) -> str:
    """The banner: ``220 <hostname> ESMTP smtp-hil``."""
    return f"220 {hostname} ESMTP smtp-hil"


def helo_ok(hostname: str) -> str:
    """The reply to HELO."""
    return f"250 {hostname}"


def ehlo_ok(hostname: str, capabilities: Sequence[str]) -> str:
    """The multi-line reply to EHLO: the host name, then one capability per line."""
    return multiline(250, [hostname, *capabilities])


def queued_as(queue_id: str) -> str:
    """The reply after the final dot (or the last BDAT chunk) of an accepted mail."""
    return f"250 2.0.0 OK queued as {queue_id}"


def idle_timeout(hostname: str) -> str:
    """Said before the server closes a connection whose client has gone quiet."""
    return f"421 4.4.2 {hostname} Error: timeout exceeded"


def too_many_connections(hostname: str) -> str:
    """Said to a client that connects while the server has all the connections it takes."""
    return f"421 4.7.0 {hostname} Error: too many connections"


def bdat_received(octets: int) -> str:
    """The reply to a BDAT chunk that is not the last."""
    return f"250 2.0.0 {octets} octets received"


def multiline(code: int, lines: Sequence[str]) -> str:
    """``code`` on every line, ``-`` on all but the last: ``250-a\\r\\n250 b``."""
    if not lines:
        raise ValueError("multiline: lines must not be empty")
    last = len(lines) - 1
    return "\r\n".join(f"{code}{'-' if i < last else ' '}{text}" for i, text in enumerate(lines))


def encode(text: str) -> bytes:
    """Wire bytes of a reply text: each line (split at LF, a CR before it dropped) + CRLF.

    Characters above U+00FF are written as UTF-8; everything else byte for byte (latin-1),
    so a reply can carry any octet.
    """
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    wire = "".join(line.removesuffix("\r") + "\r\n" for line in lines)
    return text_bytes(wire)


def text_bytes(text: str) -> bytes:
    """``text`` as bytes: latin-1 when every character fits, else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def decode(data: bytes) -> str:
    """The text of one encoded reply, without its final CRLF (the inverse of ``encode``)."""
    return data.removesuffix(b"\r\n").decode("latin-1")
