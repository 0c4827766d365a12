"""SMTP commands as bytes: one pure function per command, each validating its input.

Every function returns one command line ending in CRLF, or raises ``SmtpInputError``
naming the field before anything is built. No argument may hold a CR, LF or NUL (the
envelope injection of hostile-servers.md row 25, bare CR included). Addresses are checked
against RFC 5321 4.5.3.1 (local-part <= 64, domain <= 255, path <= 256 octets) and every
command line against 512 octets including CRLF; AUTH lines may be up to 12288 octets
(RFC 4954 section 4).

Syntax follows RFC 5321 4.1.1 exactly: ``MAIL FROM:<a@b>`` with no space after the
colon, ``<>`` as the null reverse-path. ESMTP parameters: SIZE (RFC 1870), BODY (RFC
6152, 3030), SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461, xtext encoded).

Addresses and VRFY arguments are sent as UTF-8 (whether that is allowed, SMTPUTF8, is the
client's decision); every other argument must be printable ASCII.

This module knows nothing about replies, sessions, sockets or time.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Sequence
from typing import Final

from smtp.errors import SmtpInputError

MAX_COMMAND_LINE: Final = 512
"""RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF."""
MAX_AUTH_LINE: Final = 12288
"""RFC 4954 section 4: servers accept AUTH lines of at least 12288 octets."""
MAX_LOCAL_PART: Final = 64
MAX_DOMAIN: Final = 255
MAX_PATH: Final = 256
"""RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets."""
MAX_ENVID: Final = 100
"""RFC 3461 4.4: an ENVID is at most 100 characters before xtext encoding."""

BODY_TYPES: Final = frozenset({"7BIT", "8BITMIME", "BINARYMIME"})
RET_VALUES: Final = frozenset({"FULL", "HDRS"})
NOTIFY_VALUES: Final = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})

_FORBIDDEN: Final = ("\r", "\n", "\x00")
_SASL_MECH_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_MAX_SASL_MECH: Final = 20


class Verb(enum.StrEnum):
    """The command verbs this client sends."""

    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    ETRN = "ETRN"


# -- validation helpers -------------------------------------------------------------------


def _check_no_line_break(field: str, value: str) -> None:
    if not isinstance(value, str):
        raise SmtpInputError(f"{field} must be a str, got {type(value).__name__}")
    if any(ch in value for ch in _FORBIDDEN):
        raise SmtpInputError(f"{field} must not contain CR, LF or NUL, got {value!r}")


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def _check_token(field: str, value: str) -> None:
    """A non-empty word of printable ASCII: no space, no control character."""
    _check_no_line_break(field, value)
    if not value:
        raise SmtpInputError(f"{field} must not be empty")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        raise SmtpInputError(f"{field} must be printable ASCII without spaces, got {value!r}")


def _check_address(field: str, address: str, *, allow_null: bool) -> None:
    """Check a mailbox for a path: forbidden bytes, shape and RFC 5321 lengths."""
    _check_no_line_break(field, address)
    if address == "":
        if allow_null:
            return
        raise SmtpInputError(f"{field} must not be empty")
    if any(_is_control(ch) for ch in address):
        raise SmtpInputError(f"{field} must not contain control characters, got {address!r}")
    if "<" in address or ">" in address:
        raise SmtpInputError(f"{field} must be a bare address without '<' or '>', got {address!r}")
    if "@" not in address:
        if address.casefold() == "postmaster":
            return
        raise SmtpInputError(f"{field} must look like local-part@domain, got {address!r}")
    local, domain = address.rsplit("@", 1)
    if not local or not domain:
        raise SmtpInputError(f"{field} must look like local-part@domain, got {address!r}")
    quoted = len(local) >= 2 and local.startswith('"') and local.endswith('"')
    if not quoted and any(ch.isspace() for ch in local):
        raise SmtpInputError(
            f"{field} local-part must not contain spaces unless quoted, got {address!r}"
        )
    if any(ch.isspace() for ch in domain):
        raise SmtpInputError(f"{field} domain must not contain spaces, got {address!r}")
    local_len = len(local.encode("utf-8"))
    if local_len > MAX_LOCAL_PART:
        raise SmtpInputError(
            f"{field} local-part is {local_len} octets; the limit is {MAX_LOCAL_PART}"
        )
    domain_len = len(domain.encode("utf-8"))
    if domain_len > MAX_DOMAIN:
        raise SmtpInputError(f"{field} domain is {domain_len} octets; the limit is {MAX_DOMAIN}")
    path_len = len(address.encode("utf-8")) + 2
    if path_len > MAX_PATH:
        raise SmtpInputError(
            f"{field} path <{address}> is {path_len} octets; the limit is {MAX_PATH}"
        )


def _line(text: str, *, limit: int = MAX_COMMAND_LINE) -> bytes:
    out = text.encode("utf-8") + b"\r\n"
    if len(out) > limit:
        verb = text.split(" ", 1)[0]
        raise SmtpInputError(
            f"{verb} command line is {len(out)} octets; the limit is {limit} including CRLF"
        )
    return out


# -- xtext --------------------------------------------------------------------------------


def xtext_encode(value: str) -> str:
    """RFC 3461 xtext: '+', '=' and octets outside 33..126 become ``+HH`` (upper hex).

    Characters beyond ASCII are encoded as their UTF-8 octets.
    """
    out: list[str] = []
    for octet in value.encode("utf-8"):
        if 33 <= octet <= 126 and octet not in (0x2B, 0x3D):
            out.append(chr(octet))
        else:
            out.append(f"+{octet:02X}")
    return "".join(out)


# -- session commands ---------------------------------------------------------------------


def ehlo(name: str) -> bytes:
    """``EHLO <name>``: the client's domain or address literal (any printable word)."""
    _check_token("EHLO name", name)
    return _line(f"EHLO {name}")


def helo(name: str) -> bytes:
    """``HELO <name>``."""
    _check_token("HELO name", name)
    return _line(f"HELO {name}")


def starttls() -> bytes:
    return b"STARTTLS\r\n"


def rset() -> bytes:
    return b"RSET\r\n"


def noop() -> bytes:
    return b"NOOP\r\n"


def quit() -> bytes:
    """``QUIT`` (shadows the builtin inside this module only; use it qualified)."""
    return b"QUIT\r\n"


def vrfy(argument: str) -> bytes:
    """``VRFY <argument>``: a user name or mailbox (spaces allowed, UTF-8)."""
    _check_no_line_break("VRFY argument", argument)
    if not argument.strip():
        raise SmtpInputError("VRFY argument must not be empty")
    if any(_is_control(ch) for ch in argument):
        raise SmtpInputError(f"VRFY argument must not contain control characters, got {argument!r}")
    return _line(f"VRFY {argument}")


def etrn(node: str) -> bytes:
    """``ETRN <node>`` (RFC 1985): a domain, optionally prefixed with '@' or '#'."""
    _check_token("ETRN node", node)
    return _line(f"ETRN {node}")


# -- AUTH ---------------------------------------------------------------------------------


def auth(mechanism: str, initial_response: bytes | None = None) -> bytes:
    """``AUTH <mech> [initial-response]`` (RFC 4954); an empty response is sent as ``=``."""
    _check_no_line_break("AUTH mechanism", mechanism)
    name = mechanism.upper()
    if not name or len(name) > _MAX_SASL_MECH or any(ch not in _SASL_MECH_CHARS for ch in name):
        raise SmtpInputError(
            f"AUTH mechanism must be 1 to 20 of A-Z 0-9 '-' '_', got {mechanism!r}"
        )
    if initial_response is None:
        return _line(f"AUTH {name}")
    if not isinstance(initial_response, bytes):
        raise SmtpInputError(
            f"AUTH initial_response must be bytes or None, got {type(initial_response).__name__}"
        )
    encoded = base64.b64encode(initial_response).decode("ascii") if initial_response else "="
    return _line(f"AUTH {name} {encoded}", limit=MAX_AUTH_LINE)


def auth_continue(response: bytes) -> bytes:
    """One SASL response line: base64 of ``response`` (an empty line for b"")."""
    if not isinstance(response, bytes):
        raise SmtpInputError(f"AUTH response must be bytes, got {type(response).__name__}")
    out = base64.b64encode(response) + b"\r\n"
    if len(out) > MAX_AUTH_LINE:
        raise SmtpInputError(
            f"AUTH response line is {len(out)} octets; the limit is {MAX_AUTH_LINE}"
        )
    return out


def auth_cancel() -> bytes:
    """``*``: cancel the SASL exchange (RFC 4954 section 4)."""
    return b"*\r\n"


# -- mail transaction ---------------------------------------------------------------------


def mail_from(
    address: str,
    *,
    size: int | None = None,
    body: str | None = None,
    smtputf8: bool = False,
    ret: str | None = None,
    envid: str | None = None,
) -> bytes:
    """``MAIL FROM:<address> [SIZE=n] [BODY=..] [SMTPUTF8] [RET=..] [ENVID=..]``.

    ``address`` may be "" for the null reverse-path ``<>`` (bounces).
    """
    _check_address("MAIL FROM address", address, allow_null=True)
    params: list[str] = []
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise SmtpInputError(f"MAIL FROM size must be a non-negative int, got {size!r}")
        params.append(f"SIZE={size}")
    if body is not None:
        _check_no_line_break("MAIL FROM body", body)
        if body.upper() not in BODY_TYPES:
            raise SmtpInputError(
                f"MAIL FROM body must be one of {sorted(BODY_TYPES)}, got {body!r}"
            )
        params.append(f"BODY={body.upper()}")
    if smtputf8:
        params.append("SMTPUTF8")
    if ret is not None:
        _check_no_line_break("MAIL FROM ret", ret)
        if ret.upper() not in RET_VALUES:
            raise SmtpInputError(f"MAIL FROM ret must be FULL or HDRS, got {ret!r}")
        params.append(f"RET={ret.upper()}")
    if envid is not None:
        _check_no_line_break("MAIL FROM envid", envid)
        if not envid or len(envid) > MAX_ENVID or any(not 0x20 <= ord(c) <= 0x7E for c in envid):
            raise SmtpInputError(
                f"MAIL FROM envid must be 1 to {MAX_ENVID} printable ASCII characters, "
                f"got {envid!r}"
            )
        params.append(f"ENVID={xtext_encode(envid)}")
    return _line(" ".join([f"MAIL FROM:<{address}>", *params]))


def rcpt_to(
    address: str,
    *,
    notify: Sequence[str] | None = None,
    orcpt: str | None = None,
) -> bytes:
    """``RCPT TO:<address> [NOTIFY=..] [ORCPT=rfc822;xtext]`` (DSN, RFC 3461)."""
    _check_address("RCPT TO address", address, allow_null=False)
    params: list[str] = []
    if notify is not None:
        if isinstance(notify, str):
            raise SmtpInputError(
                f"RCPT TO notify must be a sequence of keywords, not a str: {notify!r}"
            )
        values: list[str] = []
        for item in notify:
            _check_no_line_break("RCPT TO notify", item)
            value = item.upper()
            if value not in NOTIFY_VALUES:
                raise SmtpInputError(
                    f"RCPT TO notify values must be among {sorted(NOTIFY_VALUES)}, got {item!r}"
                )
            if value in values:
                raise SmtpInputError(f"RCPT TO notify repeats {value}")
            values.append(value)
        if not values:
            raise SmtpInputError("RCPT TO notify must not be empty (use ['NEVER'])")
        if "NEVER" in values and len(values) > 1:
            raise SmtpInputError("RCPT TO notify NEVER must stand alone")
        params.append(f"NOTIFY={','.join(values)}")
    if orcpt is not None:
        _check_address("RCPT TO orcpt", orcpt, allow_null=False)
        params.append(f"ORCPT=rfc822;{xtext_encode(orcpt)}")
    return _line(" ".join([f"RCPT TO:<{address}>", *params]))


def data() -> bytes:
    return b"DATA\r\n"


def bdat(size: int, last: bool) -> bytes:
    """``BDAT <size> [LAST]`` (RFC 3030); exactly ``size`` octets must follow."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise SmtpInputError(f"BDAT size must be a non-negative int, got {size!r}")
    if not isinstance(last, bool):
        raise SmtpInputError(f"BDAT last must be a bool, got {last!r}")
    return _line(f"BDAT {size} LAST" if last else f"BDAT {size}")
