"""The mail job and the message it becomes: RFC 5322 headers and a MIME body, as a stream.

``MailJob`` is what the application asks to send (envelope, headers, body, attachments,
DSN options); ``validate()`` refuses CR, LF and NUL in anything that becomes a header or
a command argument, and addresses that are not ``local@domain``, naming the field.
``MessageBuilder`` turns a valid job into the bytes sent after DATA (or in BDAT chunks):
``chunks()`` yields headers then body with CRLF line ends, each chunk at most
``CHUNK_LIMIT`` bytes, reading attachments lazily so a 20 MiB file never sits in memory.

Header text comes from the standard library's ``email`` package (address lists, RFC 2047
encoded words, RFC 2231 file names, folding). Everything is deterministic: the Date is
given by the caller (from the RTC), and the Message-ID and MIME boundary are derived from
the inputs, never from the host's clock, random generator or host name.

This module knows RFC 5322 and MIME, nothing else: no sockets, no clock, no SMTP commands,
no dot-stuffing (that belongs to the data stream), no release profiles (the client
decides, e.g., whether to apply ``truncate_at_first_blank_line``).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from os import PathLike, fspath
from pathlib import PurePath
from typing import Final, Literal, TypeAlias

from smtp.errors import SmtpInputError
from smtp.plainheaders import plain_address_headers
from smtp.userfiles import ATTACHMENT_FILE, stream_user_file

CHUNK_LIMIT: Final = 64 * 1024
"""Largest chunk ``MessageBuilder.chunks()`` yields."""
MAX_LINE_OCTETS: Final = 998  # RFC 5322 2.1.1, without the CRLF
BASE64_LINE_INPUT: Final = 57  # 57 bytes -> 76 base64 characters (RFC 2045 6.8)
# Whole base64 lines per output block: 840 lines * 78 bytes = 65520 <= CHUNK_LIMIT.
BASE64_BLOCK_INPUT: Final = BASE64_LINE_INPUT * 840
DSN_NOTIFY_VALUES: Final = ("NEVER", "SUCCESS", "FAILURE", "DELAY")
DSN_RET_VALUES: Final = ("FULL", "HDRS")
DSN_ENVID_MAX: Final = 100  # RFC 3461 4.4

# Content types are `type/subtype` tokens (RFC 2045 5.1), no parameters.
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+"
_CONTENT_TYPE_RE: Final = re.compile(rf"{_TOKEN}/{_TOKEN}")
# atext (RFC 5322 3.2.3) plus any non-ASCII character (which needs SMTPUTF8). Each class
# is written as the ASCII characters it leaves out: the same set as
# [A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-] (tests/smtp/test_message.py checks every
# code point), but a class spanning \U0010ffff takes re 25 ms to compile at start-up.
_ATOM = r'[^\x00-\x20"(),.:;<>@\[\\\]\x7f]+'
_LET_DIG = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"  # letter, digit or non-ASCII
_LET_DIG_HYPHEN = r"[^\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
_LABEL = rf"{_LET_DIG}(?:{_LET_DIG_HYPHEN}*{_LET_DIG})?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[!-Z^-~]+\])"
_ADDRESS_RE: Final = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>{_DOMAIN})")
_MSGID_DOMAIN_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_EOL_RE: Final = re.compile(rb"\r\n|\r|\n")

_MIME_TYPES: Final = {
    ".txt": "text/plain", ".log": "text/plain", ".csv": "text/csv", ".html": "text/html",
    ".xml": "application/xml", ".json": "application/json", ".pdf": "application/pdf",
    ".zip": "application/zip", ".gz": "application/gzip", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".bmp": "image/bmp",
}
"""A fixed table, so the guess never depends on the host's mime.types files."""


class MessageInputError(SmtpInputError):
    """A mail job or builder input is unusable; the message names the field(s)."""


# ----------------------------------------------------------------------------------------
# Attachments


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file: its name, its ``type/subtype`` and where its bytes come from.

    ``source`` is either the content itself or a callable returning a fresh iterator of
    byte chunks each time it is called, so a large attachment streams and the message can
    be produced more than once (e.g. after a retry).
    """

    filename: str
    content_type: str
    source: Callable[[], Iterator[bytes]] | bytes

    @classmethod
    def from_path(cls, path: str | PathLike[str], *,
                  content_type: str | None = None) -> Attachment:
        """An attachment read lazily from ``path`` in 64 KiB chunks when the mail is built
        (``smtp.userfiles``: a regular file of at most 64 MiB).

        The content type is guessed from the extension with a fixed table (unknown ones
        are ``application/octet-stream``) unless given.
        """
        name = fspath(path)
        pure = PurePath(name)
        guessed = _MIME_TYPES.get(pure.suffix.lower(), "application/octet-stream")
        return cls(pure.name, content_type or guessed,
                   functools.partial(stream_user_file, name, ATTACHMENT_FILE))

    def iter_content(self) -> Iterator[bytes]:
        """The content as chunks of bytes (the whole content when ``source`` is bytes)."""
        if isinstance(self.source, bytes | bytearray):
            return iter((bytes(self.source),))
        return self.source()


# ----------------------------------------------------------------------------------------
# The mail job


_LINE_BREAKS: Final = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""CR, LF and everything else ``str.splitlines`` breaks at (which ``email`` refuses)."""


def _text_problem(value: str) -> str | None:
    if not _LINE_BREAKS.isdisjoint(value):
        return "contains a line break"
    if "\x00" in value:
        return "contains a NUL byte"
    return None


def _address_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"expected an address string, got {type(value).__name__}"
    problem = _text_problem(value)
    if problem is not None:
        return problem
    match = _ADDRESS_RE.fullmatch(value)
    if match is None:
        return f"expected an address local@domain (no display name, no spaces), got {value!r}"
    if len(match["local"].encode()) > 64:
        return "local part longer than 64 octets (RFC 5321 4.5.3.1.1)"
    if len(value.encode()) > 254:
        return "address longer than 254 octets (RFC 5321 4.5.3.1.3)"
    return None


def _split_address(addr: str) -> tuple[str, str]:
    local, _, domain = addr.rpartition("@")
    return local, domain


@dataclass(frozen=True, slots=True)
class MailJob:
    """One mail to send. Addresses are bare ``local@domain``; ``sender_name`` is the
    optional display name of From. Bcc recipients get the mail but never appear in it.

    DSN options (RFC 3461) are passed on to MAIL/RCPT by the client: ``dsn_notify`` e.g.
    ``("SUCCESS", "FAILURE")`` or ``("NEVER",)``, ``dsn_ret`` ``"FULL"`` or ``"HDRS"``,
    ``dsn_envid`` an envelope id, ``dsn_orcpt`` whether to send ORCPT per recipient.
    """

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    body: str | bytes = ""
    attachments: tuple[Attachment, ...] = ()
    dsn_notify: tuple[str, ...] | None = None
    dsn_ret: str | None = None
    dsn_envid: str | None = None
    dsn_orcpt: bool = False
    sender_name: str = ""

    def envelope_recipients(self) -> tuple[str, ...]:
        """To, Cc and Bcc in order, each mailbox once (the domain compared without case)."""
        seen: set[tuple[str, str]] = set()
        out: list[str] = []
        for addr in (*self.to, *self.cc, *self.bcc):
            local, domain = _split_address(addr)
            key = (local, domain.lower())
            if key not in seen:
                seen.add(key)
                out.append(addr)
        return tuple(out)

    @property
    def needs_smtputf8(self) -> bool:
        """Whether an address is non-ASCII, so the mail needs SMTPUTF8 (RFC 6531)."""
        return not all(a.isascii() for a in self._all_addresses())

    def _all_addresses(self) -> tuple[str, ...]:
        return (self.sender, *self.to, *self.cc, *self.bcc, *self.reply_to)

    def problems(self) -> list[str]:
        """Every problem with this job, one ``field: what is wrong`` string each."""
        out: list[str] = []
        out += [f"sender: {p}" for p in [_address_problem(self.sender)] if p]
        for name in ("to", "cc", "bcc", "reply_to"):
            values = getattr(self, name)
            if not isinstance(values, tuple):
                out.append(f"{name}: expected a tuple of addresses, got {type(values).__name__}")
                continue
            out += [f"{name}[{i}]: {p}" for i, v in enumerate(values)
                    if (p := _address_problem(v))]
        if isinstance(self.to, tuple) and isinstance(self.cc, tuple) \
                and isinstance(self.bcc, tuple) and not (self.to or self.cc or self.bcc):
            out.append("to: expected at least one recipient in to, cc or bcc")
        out += self._header_text_problems()
        if not isinstance(self.body, str | bytes):
            out.append(f"body: expected str or bytes, got {type(self.body).__name__}")
        out += self._attachment_problems()
        out += self._dsn_problems()
        return out

    def _header_text_problems(self) -> list[str]:
        out: list[str] = []
        for name in ("subject", "sender_name"):
            value = getattr(self, name)
            if not isinstance(value, str):
                out.append(f"{name}: expected a string, got {type(value).__name__}")
            elif problem := _text_problem(value):
                out.append(f"{name}: {problem}")
        return out

    def _attachment_problems(self) -> list[str]:
        if not isinstance(self.attachments, tuple):
            return [f"attachments: expected a tuple, got {type(self.attachments).__name__}"]
        out: list[str] = []
        for i, att in enumerate(self.attachments):
            field = f"attachments[{i}]"
            if not isinstance(att, Attachment):
                out.append(f"{field}: expected an Attachment, got {type(att).__name__}")
                continue
            if not isinstance(att.filename, str) or not att.filename:
                out.append(f"{field}.filename: expected a non-empty string")
            elif problem := _text_problem(att.filename):
                out.append(f"{field}.filename: {problem}")
            if not isinstance(att.content_type, str):
                out.append(f"{field}.content_type: expected a string")
            elif problem := _text_problem(att.content_type):
                out.append(f"{field}.content_type: {problem}")
            elif not _CONTENT_TYPE_RE.fullmatch(att.content_type):
                out.append(f"{field}.content_type: expected type/subtype, "
                           f"got {att.content_type!r}")
            if not (callable(att.source) or isinstance(att.source, bytes | bytearray)):
                out.append(f"{field}.source: expected bytes or a callable returning chunks")
        return out

    def _dsn_problems(self) -> list[str]:
        out: list[str] = []
        if self.dsn_notify is not None:
            notify = self.dsn_notify
            if not isinstance(notify, tuple) or not notify:
                out.append("dsn_notify: expected a non-empty tuple or None")
            else:
                out += [f"dsn_notify[{i}]: expected one of {', '.join(DSN_NOTIFY_VALUES)}, "
                        f"got {v!r}" for i, v in enumerate(notify) if v not in DSN_NOTIFY_VALUES]
                if "NEVER" in notify and len(notify) > 1:
                    out.append("dsn_notify: NEVER cannot be combined with other values")
        if self.dsn_ret is not None and self.dsn_ret not in DSN_RET_VALUES:
            out.append(f"dsn_ret: expected FULL or HDRS, got {self.dsn_ret!r}")
        if self.dsn_envid is not None:
            envid = self.dsn_envid
            if not isinstance(envid, str) or not envid:
                out.append("dsn_envid: expected a non-empty string")
            elif problem := _text_problem(envid):
                out.append(f"dsn_envid: {problem}")
            elif not (envid.isascii() and envid.isprintable()) or len(envid) > DSN_ENVID_MAX:
                out.append(f"dsn_envid: expected up to {DSN_ENVID_MAX} printable ASCII "
                           f"characters, got {envid!r}")
        if not isinstance(self.dsn_orcpt, bool):
            out.append(f"dsn_orcpt: expected true or false, got {self.dsn_orcpt!r}")
        return out

    def validate(self) -> None:
        """Raise ``MessageInputError`` listing every problem (one line each), if any."""
        problems = self.problems()
        if problems:
            raise MessageInputError("\n".join(problems))


# ----------------------------------------------------------------------------------------
# Body helpers


def normalise_line_ends(data: bytes) -> bytes:
    """Every CRLF, bare CR and bare LF becomes CRLF."""
    return _EOL_RE.sub(b"\r\n", data)


def truncate_at_first_blank_line(body: bytes) -> bytes:
    """The body as releases before 2.5 sent it: cut at its first empty line.

    Fixed in 2.5: "Truncated messages that contained blank line." Line ends are normalised
    to CRLF first (so ``\\n\\n``, ``\\r\\n\\r\\n`` and ``\\r\\n\\n`` all count); the result
    keeps the lines before the first empty one, each with its CRLF. A body with no empty
    line comes back whole (normalised); one that starts with an empty line comes back
    empty. The client applies this under its profile flag; this module never does.
    """
    data = normalise_line_ends(body)
    if data.startswith(b"\r\n"):
        return b""
    cut = data.find(b"\r\n\r\n")
    return data if cut < 0 else data[: cut + 2]


TextEncoding: TypeAlias = Literal["7bit", "8bit", "quoted-printable"]
"""The Content-Transfer-Encoding of the text part."""


def _has_long_line(body: bytes) -> bool:
    """Whether a line (a run of octets with no CR or LF) is longer than
    :data:`MAX_LINE_OCTETS`. ``bytes.splitlines`` splits at CR, LF and CRLF only, at C
    speed: the regular expression ``[^\\r\\n]{999}`` it replaces tried every offset and
    took 10-16 ms on a 100 kB body."""
    return max(map(len, body.splitlines()), default=0) > MAX_LINE_OCTETS


def _choose_text_encoding(body: bytes, eight_bit_ok: bool) -> TextEncoding:
    if b"\x00" in body or _has_long_line(body):
        return "quoted-printable"
    if body.isascii():
        return "7bit"
    return "8bit" if eight_bit_ok else "quoted-printable"


def _quoted_printable(body: bytes) -> bytes:
    # binascii picks its soft-break line end from the first line end it meets: make sure
    # there is a CRLF, so no bare LF can appear.
    if body.endswith(b"\r\n"):
        return binascii.b2a_qp(body, quotetabs=False, istext=True)
    return binascii.b2a_qp(body + b"\r\n", quotetabs=False, istext=True)[:-2]


def _base64_block(block: bytes | bytearray | memoryview) -> bytes:
    return b"\r\n".join(binascii.b2a_base64(block[i:i + BASE64_LINE_INPUT], newline=False)
                        for i in range(0, len(block), BASE64_LINE_INPUT))


def _base64_stream(pieces: Iterable[bytes], field: str) -> Iterator[bytes]:
    """Base64 in 76-character lines joined by CRLF (no CRLF after the last line)."""
    pending = bytearray()
    prefix = b""
    for piece in pieces:
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise MessageInputError(f"{field}.source: expected chunks of bytes, "
                                    f"got {type(piece).__name__}")
        view = memoryview(piece)
        if pending:
            take = BASE64_BLOCK_INPUT - len(pending)
            pending += view[:take]
            view = view[take:]
            if len(pending) < BASE64_BLOCK_INPUT:
                continue
            yield prefix + _base64_block(pending)
            prefix = b"\r\n"
            pending.clear()
        while len(view) >= BASE64_BLOCK_INPUT:
            yield prefix + _base64_block(view[:BASE64_BLOCK_INPUT])
            prefix = b"\r\n"
            view = view[BASE64_BLOCK_INPUT:]
        pending += view
    if pending:
        yield prefix + _base64_block(pending)


def _slices(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK_LIMIT):
        yield data[i:i + CHUNK_LIMIT]


def fold_headers(headers: list[tuple[str, object]], *, utf8_names: frozenset[str]) -> bytes:
    """Header lines through the ``email`` package (encoded words, RFC 2231, folding).

    Plain address and Subject lines take :func:`smtp.plainheaders.plain_address_headers`
    instead (the same bytes, a fraction of the work)."""
    msg = EmailMessage(policy=email_policy.SMTP)
    for name, value in headers:
        if name == "Content-Disposition" and isinstance(value, tuple):
            disposition, filename = value
            msg.add_header(name, disposition, filename=filename)
        else:
            msg[name] = value
    out = []
    for name, value in msg.items():
        pol = email_policy.SMTPUTF8 if name in utf8_names else email_policy.SMTP
        out.append(pol.fold_binary(name, value))
    return b"".join(out)


@functools.lru_cache(maxsize=256)
def _attachment_header_block(content_type: str, filename: str) -> bytes:
    """An attachment part's header lines and the blank line after them. A pure function
    of its two strings, kept for the next message with the same ones: folding through
    the ``email`` package costs about 1 ms, and an exploration builds thousands of
    messages whose attachments share a name."""
    return fold_headers([("Content-Type", content_type),
                         ("Content-Disposition", ("attachment", filename)),
                         ("Content-Transfer-Encoding", "base64")],
                        utf8_names=frozenset()) + b"\r\n"


def _raw_header(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("ascii")


# ----------------------------------------------------------------------------------------
# The builder


class MessageBuilder:
    """The message of one job as a stream of bytes (headers, blank line, body; CRLF ends).

    ``date_header`` is the Date value, written verbatim (it may be a historical release's
    wrong date). The Message-ID is ``<seq.hex@message_id_domain>`` with ``hex`` a digest
    of the inputs; the multipart boundary is derived from ``boundary_seed``. The text body
    is sent 7bit when it is ASCII with lines of at most 998 octets, else 8bit when
    ``eight_bit_ok`` (the server offers 8BITMIME), else quoted-printable.
    """

    def __init__(self, job: MailJob, *, date_header: str, message_id_domain: str,
                 message_id_seq: int, boundary_seed: int, eight_bit_ok: bool = False) -> None:
        problems = job.problems()
        problems += _builder_problems(date_header, message_id_domain, message_id_seq,
                                      boundary_seed, eight_bit_ok)
        if problems:
            raise MessageInputError("\n".join(problems))
        self.job = job
        body = job.body.encode("utf-8") if isinstance(job.body, str) else bytes(job.body)
        body = normalise_line_ends(body)
        self.text_transfer_encoding = _choose_text_encoding(body, eight_bit_ok)
        self._text = _quoted_printable(body) \
            if self.text_transfer_encoding == "quoted-printable" else body
        digest = hashlib.sha256("\x00".join(
            (str(message_id_seq), date_header, message_id_domain, job.sender)).encode()
        ).hexdigest()[:16]
        self.message_id = f"<{message_id_seq}.{digest}@{message_id_domain}>"
        self.date_header = date_header
        self._part_headers = [self._attachment_headers(a) for a in job.attachments]
        self.boundary: str | None = self._choose_boundary(boundary_seed) \
            if job.attachments else None
        self._headers = self._top_headers()

    @property
    def needs_8bitmime(self) -> bool:
        """Whether the message carries 8-bit text, so MAIL needs BODY=8BITMIME."""
        return self.text_transfer_encoding == "8bit"

    @property
    def needs_smtputf8(self) -> bool:
        """Whether addresses are non-ASCII (raw UTF-8 in headers and envelope)."""
        return self.job.needs_smtputf8

    def _text_part_headers(self) -> bytes:
        return (_raw_header("Content-Type", "text/plain; charset=utf-8")
                + _raw_header("Content-Transfer-Encoding", self.text_transfer_encoding))

    def _top_headers(self) -> bytes:
        job = self.job
        addressed = [(name, addrs) for name, addrs in (
            ("From", (job.sender,)), ("To", job.to), ("Cc", job.cc), ("Reply-To", job.reply_to))
            if addrs]
        head = None if job.sender_name else plain_address_headers(addressed, job.subject)
        if head is None:
            head = self._folded_address_headers(addressed)
        head += _raw_header("Date", self.date_header)
        head += _raw_header("Message-ID", self.message_id)
        head += _raw_header("MIME-Version", "1.0")
        if self.boundary is None:
            return head + self._text_part_headers() + b"\r\n"
        return head + _raw_header("Content-Type",
                                  f'multipart/mixed; boundary="{self.boundary}"') + b"\r\n"

    def _folded_address_headers(self, addressed: list[tuple[str, tuple[str, ...]]]) -> bytes:
        """From, To, Cc, Reply-To and Subject through the ``email`` package."""
        job = self.job
        utf8 = frozenset({"From", "To", "Cc", "Reply-To"}) if job.needs_smtputf8 else frozenset()
        listed: list[tuple[str, object]] = []
        for name, addrs in addressed:
            pairs = [_split_address(addr) for addr in addrs]
            if name == "From":
                local, domain = pairs[0]
                listed.append((name, Address(display_name=job.sender_name, username=local,
                                             domain=domain)))
            else:
                listed.append((name, [Address(username=local, domain=domain)
                                      for local, domain in pairs]))
        listed.append(("Subject", job.subject))
        return fold_headers(listed, utf8_names=utf8)

    @staticmethod
    def _attachment_headers(att: Attachment) -> bytes:
        return _attachment_header_block(att.content_type, att.filename)

    def _choose_boundary(self, seed: int) -> str:
        """``=_`` plus a digest of the seed: base64 never contains ``=_`` and
        quoted-printable never a bare ``=``; 7bit/8bit text and part headers are
        checked, and the next candidate taken if the boundary occurs in them."""
        texts = [self._text, *self._part_headers]
        attempt = 0
        while True:
            digest = hashlib.sha256(f"{seed}:{attempt}".encode()).hexdigest()[:24]
            boundary = f"=_smtp-hil_{digest}"
            token = boundary.encode("ascii")
            if not any(token in text for text in texts):
                return boundary
            attempt += 1

    def chunks(self) -> Iterator[bytes]:
        """The whole message, in chunks of at most ``CHUNK_LIMIT`` bytes."""
        for piece in self._pieces():
            if len(piece) <= CHUNK_LIMIT:
                yield piece
            else:
                yield from _slices(piece)

    def _pieces(self) -> Iterator[bytes]:
        yield self._headers
        if self.boundary is None:
            yield self._text
            return
        delimiter = b"--" + self.boundary.encode("ascii")
        yield delimiter + b"\r\n" + self._text_part_headers() + b"\r\n"
        yield self._text
        for i, (att, head) in enumerate(zip(self.job.attachments, self._part_headers,
                                            strict=True)):
            yield b"\r\n" + delimiter + b"\r\n" + head
            yield from _base64_stream(att.iter_content(), f"attachments[{i}]")
        yield b"\r\n" + delimiter + b"--\r\n"

    def to_bytes(self) -> bytes:
        """The whole message at once (for tests and small mails)."""
        return b"".join(self.chunks())


def _builder_problems(date_header: object, domain: object, seq: object, seed: object,
                      eight_bit_ok: object) -> list[str]:
    out: list[str] = []
    if not isinstance(date_header, str) or not date_header:
        out.append("date_header: expected a non-empty string")
    elif problem := _text_problem(date_header):
        out.append(f"date_header: {problem}")
    elif not date_header.isascii():
        out.append(f"date_header: expected ASCII, got {date_header!r}")
    if not isinstance(domain, str) or not _MSGID_DOMAIN_RE.fullmatch(domain) \
            or not domain.isascii():
        out.append(f"message_id_domain: expected an ASCII domain name such as "
                   f"device.example.com, got {domain!r}")
    for name, value in (("message_id_seq", seq), ("boundary_seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            out.append(f"{name}: expected an integer >= 0, got {value!r}")
    if not isinstance(eight_bit_ok, bool):
        out.append(f"eight_bit_ok: expected true or false, got {eight_bit_ok!r}")
    return out
