"""What "the body arrived exactly" means, in one place.

``body_exact`` (the run's verdict, and through it the server-side verdict of ``serve``
and ``--dut``) and the Robot keyword ``Mail Body Should Be`` compare the body the server
received with the body the job gave the client, byte for byte, after the two changes
every correct client makes, and nothing else:

- line ends: each CRLF, bare CR and bare LF of the job's body is one CRLF on the wire
  (:func:`smtp.message.normalise_line_ends`);
- DATA's last line end: DATA ends with CRLF "." CRLF, whose first CRLF ends the last line
  (RFC 5321 4.1.1.4), so a body that is the whole content (no attachments), came via
  DATA and does not end with a line end arrives with one CRLF added. BDAT carries the
  content as it is, and in a multipart mail the CRLF before a boundary belongs to the
  boundary (RFC 2046 5.1.1), so there the text part keeps its own ending.

The received side is the server's content after dot-unstuffing, the text part decoded
from its transfer encoding (quoted-printable), and nothing more: a lost trailing blank
line, a body of blank lines cut to nothing, a bare LF or an extra line end all differ.

:func:`content_difference` is the whole comparison of a mail with its job: the body,
then each attachment byte for byte (``body_exact``, and the explorer's invariant that
``sent`` means one exact copy).

This module knows received mails, mail jobs and the email package; nothing of runs,
scenarios or Robot.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable
from email.message import Message
from typing import Final

from scenarios.server.mailbox import ReceivedMail
from scenarios.verdict.mimeskeleton import Skeleton, full_payload, payload_pieces, skeleton
from smtp.message import MailJob, normalise_line_ends

_CRLF: Final = b"\r\n"
_SHOWN: Final = 24
"""How many bytes of a difference a sentence quotes."""
_DECODE_BLOCK: Final = 64 * 1024
"""How many characters of a base64 payload :func:`decoded_digest` decodes at a time."""
_BASE64_BLOCK: Final = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def received_text_body(mail: ReceivedMail, shape: Skeleton | None = None) -> bytes:
    """The text body of ``mail`` as bytes: its plain-text part when it is multipart,
    decoded from its transfer encoding; empty when there is none. ``shape``: the
    content's :func:`~scenarios.verdict.mimeskeleton.skeleton`, when already made."""
    shape = shape or skeleton(mail.stored)
    message = shape.message
    part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
    if part is None:
        return b""
    full_payload(shape, part)
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def expected_text_body(body: str | bytes, mail: ReceivedMail,
                       shape: Skeleton | None = None) -> bytes:
    """The bytes a correct client delivers for the job body ``body`` in ``mail``'s way
    (DATA or BDAT, whole content or a multipart's text part): see the module docstring."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    wire = normalise_line_ends(raw)
    if (wire and not wire.endswith(_CRLF) and mail.via == "DATA"
            and not (shape or skeleton(mail.stored)).message.is_multipart()):
        wire += _CRLF
    return wire


def body_difference(expected: bytes, got: bytes) -> str | None:
    """Why the received body ``got`` is not ``expected``, in plain words; None when the
    two are the same bytes."""
    if got == expected:
        return None
    if expected.startswith(got):
        why = f"server received {len(got)} of {len(expected)} body bytes: the body was cut"
        at_line_start = not got or got.endswith(_CRLF)
        if at_line_start and expected[len(got):].startswith(_CRLF):
            blank_before = got.startswith(_CRLF) or _CRLF + _CRLF in got
            why += " at a blank line" if blank_before else " at the first blank line"
        return why
    if got.startswith(expected):
        extra = got[len(expected):]
        return (f"server received {len(got)} body bytes, {len(extra)} more than the job's "
                f"{len(expected)}: it ends with {extra[-_SHOWN:]!r} the job does not have")
    at = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
    return (f"the body the server received differs from the job's at byte {at} "
            f"({len(got)} bytes received, {len(expected)} expected): received "
            f"{got[at:at + _SHOWN]!r}, expected {expected[at:at + _SHOWN]!r}")


def digest_of(chunks: Iterable[bytes]) -> tuple[int, str]:
    """The length and SHA-256 of the bytes ``chunks`` make together."""
    digest, length = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        length += len(chunk)
    return length, digest.hexdigest()


def decoded_digest(part: Message, shape: Skeleton) -> tuple[int, str | None]:
    """The length and SHA-256 of ``part.get_payload(decode=True)`` (a leaf part of
    ``shape.message``, its runs put back), without holding the decoded bytes or their
    copies: a base64 payload that is strictly valid (only the alphabet, a multiple of
    four, ``=`` only at the end: what ``get_payload`` decodes with ``validate=True``,
    with no defect) is decoded block by block; anything else goes through
    ``get_payload`` itself, so the result is always that of the bytes
    ``get_payload(decode=True)`` gives (``(0, None)`` when it gives none: a multipart)."""
    cte = str(part.get("content-transfer-encoding", "")).lower()
    if cte == "base64" and isinstance(part.get_payload(), str):
        streamed = _strict_base64_digest(payload_pieces(shape, part))
        if streamed is not None:
            return streamed
    if not part.is_multipart():
        full_payload(shape, part)
    data = part.get_payload(decode=True)
    return digest_of([data]) if isinstance(data, bytes) else (0, None)


def _strict_base64_digest(pieces: Iterable[str]) -> tuple[int, str] | None:
    """Length and SHA-256 of the base64 text ``pieces`` make, decoded, or None when it
    is not strictly valid (then the email package's lenient decoding decides)."""
    digest, length, carry, padded = hashlib.sha256(), 0, b"", False
    for piece in pieces:
        for start in range(0, len(piece), _DECODE_BLOCK):
            text = piece[start:start + _DECODE_BLOCK]
            if not text.isascii():
                return None
            data = carry + text.encode("ascii").translate(None, b"\r\n")
            cut = len(data) - len(data) % 4
            block, carry = data[:cut], data[cut:]
            if not block:
                continue
            if padded or not _BASE64_BLOCK.fullmatch(block):
                return None
            padded = block.endswith(b"=")
            decoded = binascii.a2b_base64(block)
            digest.update(decoded)
            length += len(decoded)
    return None if carry else (length, digest.hexdigest())


def content_difference(job: MailJob, mail: ReceivedMail) -> str | None:
    """Why ``mail`` does not carry ``job``'s body and attachments exactly (the body after
    the two allowed changes, each attachment byte for byte), in plain words; None when
    it does. The structure without the bulk, each attachment compared by length and
    SHA-256, both sides streamed (flat memory; :mod:`scenarios.verdict.mimeskeleton`)."""
    shape = skeleton(mail.stored)
    why = body_difference(expected_text_body(job.body, mail, shape),
                          received_text_body(mail, shape))
    return why if why is not None else attachments_difference(job, mail, shape)


def attachments_difference(job: MailJob, mail: ReceivedMail,
                           shape: Skeleton | None = None) -> str | None:
    """Why ``mail``'s attachments are not ``job``'s, byte for byte (length and SHA-256);
    None when they are. ``shape``: the content's skeleton, when already made."""
    if shape is None:
        shape = skeleton(mail.stored)
    message = shape.message
    attachments = list(message.iter_attachments()) if message.is_multipart() else []
    for sent, part in zip(job.attachments, attachments, strict=False):
        want_len, want = digest_of(sent.iter_content())
        got_len, got = decoded_digest(part, shape)
        if (got_len, got) != (want_len, want):
            return (f"attachment {part.get_filename()}: server received {got_len} bytes "
                    f"differing from the {want_len} sent")
    if len(attachments) != len(job.attachments):
        return (f"expected {len(job.attachments)} attachment(s), "
                f"the server received {len(attachments)}")
    return None
