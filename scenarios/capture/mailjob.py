"""The scenario's ``[job]`` rebuilt from a recorded mail transaction and its message.

The envelope gives the sender, the recipients and the DSN parameters; the message as the
server received it (parsed with the standard library's ``email``) gives the subject, the
sender's display name, which recipients were To, Cc or Reply-To (the rest of the envelope
is Bcc), the body (its text part) and the attachments: text attachments word for word,
others by size (the scenario format generates their bytes, so their content differs and
a comment says so).

This module knows mail messages and the scenario's job keys; it writes no files.
"""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from scenarios.capture.facts import Transaction


def _addresses(message: EmailMessage, name: str) -> list[str]:
    values = message.get_all(name) or []
    return [address for _, address in getaddresses([str(v) for v in values]) if address]


def _display_name(message: EmailMessage) -> str:
    header = message["From"]
    if header is None:
        return ""
    addresses = getattr(header, "addresses", ())
    if addresses and isinstance(addresses[0], Address):
        return str(addresses[0].display_name or "")
    return ""


def _text(part: EmailMessage) -> str | None:
    try:
        content = part.get_content()
    except (LookupError, ValueError, UnicodeError):
        return None
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def _body_and_attachments(message: EmailMessage) -> tuple[str, list[dict[str, Any]], list[str]]:
    notes: list[str] = []
    if not message.is_multipart():
        return _text(message) or "", [], notes
    body_part = message.get_body(preferencelist=("plain",))
    body = _text(body_part) if isinstance(body_part, EmailMessage) else None
    attachments: list[dict[str, Any]] = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        filename = part.get_filename() or f"attachment-{len(attachments) + 1}"
        content_type = part.get_content_type()
        text = _text(part) if part.get_content_maintype() == "text" else None
        if text is not None:
            attachments.append({"filename": filename, "content_type": content_type,
                                "text": text})
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append({"filename": filename, "content_type": content_type,
                            "size": size})
        notes.append(f"attachment {filename}: {size} bytes of generated content stand in for "
                     f"the recorded ones")
    return body or "", attachments, notes


def job_from_transaction(transaction: Transaction) -> tuple[dict[str, Any], list[str]]:
    """The ``[job]`` keys for ``transaction`` and notes for comments."""
    message = email.message_from_bytes(transaction.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the default policy makes EmailMessage
    envelope = [r.address for r in transaction.recipients]
    to = [a for a in _addresses(message, "To") if a in envelope]
    cc = [a for a in _addresses(message, "Cc") if a in envelope]
    shown = {a.casefold() for a in to + cc}
    bcc = [a for a in envelope if a.casefold() not in shown]
    job: dict[str, Any] = {"from": transaction.sender}
    name = _display_name(message)
    if name:
        job["from_name"] = name
    for key, values in (("to", to), ("cc", cc), ("bcc", bcc)):
        if values:
            job[key] = values
    reply_to = _addresses(message, "Reply-To")
    if reply_to:
        job["reply_to"] = reply_to
    subject = message["Subject"]
    if subject is not None:
        job["subject"] = str(subject)
    body, attachments, notes = _body_and_attachments(message)
    job["body"] = body
    if attachments:
        job["attachments"] = attachments
    params = transaction.params
    if "RET" in params:
        job["dsn_ret"] = params["RET"].upper()
    if "ENVID" in params:
        job["dsn_envid"] = params["ENVID"]
    notify = next((r.params["NOTIFY"] for r in transaction.recipients if "NOTIFY" in r.params),
                  None)
    if notify:
        job["dsn_notify"] = notify.upper().split(",")
    if any("ORCPT" in r.params for r in transaction.recipients):
        job["dsn_orcpt"] = True
    if not transaction.content_complete:
        notes.append("the content never arrived in full: the body is what arrived")
        notes += _grown_to_size(transaction, attachments)
    return job, notes


def _grown_to_size(transaction: Transaction, attachments: list[dict[str, Any]]) -> list[str]:
    """A mail cut short whose MAIL announced its SIZE: its last generated attachment grows
    by what never arrived (as base64: 3 octets per 4 characters, a CRLF per 76), so the
    client has about as much left to send as the recorded one had."""
    declared = transaction.params.get("SIZE", "")
    missing = int(declared) - len(transaction.content) if declared.isdigit() else 0
    last = attachments[-1] if attachments else None
    if missing <= 0 or last is None or "size" not in last:
        return []
    grown = missing * 76 // 78 * 3 // 4
    last["size"] += grown
    return [f"MAIL said SIZE={declared}: {last['filename']} grows by {grown} bytes so that "
            f"the mail is about that size"]
