"""What the SMTP client tells the application: typed events, as data.

Every job ends with exactly one *terminal* event (:data:`TERMINAL_EVENTS`): ``Sent``,
``CommandAbort``, ``ClientError``, ``Timeout``, or the result of a VRFY/ETRN job.
The others (:data:`PROGRESS_EVENTS`) report progress; ``TlsDowngraded`` among them says
that a session configured for opportunistic STARTTLS goes on in plaintext. Event names
follow the device API (``command_abort`` is the event named in the changelog);
:data:`EVENT_NAMES` lists them all (:data:`PROGRESS_EVENT_NAMES`, then
:data:`TERMINAL_EVENT_NAMES`). This module knows nothing about sockets or time
sources.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from smtp.replies import Reply


class ErrorKind(enum.Enum):
    """Why a job failed, when it was not a rejected command or a timeout.

    Every kind is one some client produces (``out_of_memory``: only a C firmware's).
    Every RCPT rejected is no kind of its own: it is ``command_abort`` on RCPT, with the
    last refusal (the changelog's event for a failed command).
    """

    TLS_FAILED = "tls_failed"  # handshake, certificate, or STARTTLS refused
    TLS_REQUIRED = "tls_required"  # the device requires TLS and the server offers none
    AUTH_FAILED = "auth_failed"
    PROTOCOL = "protocol"  # the server broke the protocol (malformed reply, injection)
    SIZE_EXCEEDED = "size_exceeded"  # refused locally: larger than the server's SIZE
    CONNECTION_LOST = "connection_lost"
    CONNECTION_REFUSED = "connection_refused"
    SERVICE_UNAVAILABLE = "service_unavailable"  # 421 / 554 greeting
    UNSUPPORTED = "unsupported"  # the server (or this release) lacks a needed extension
    INVALID_INPUT = "invalid_input"  # CR/LF in an address or header, refused before sending
    OUT_OF_MEMORY = "out_of_memory"  # a C firmware's client ran out of its own memory


@dataclass(frozen=True, slots=True)
class Connected:
    name = "connected"
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class TlsEstablished:
    name = "tls_established"
    cipher: str
    version: str


class DowngradeReason(enum.Enum):
    """Why a session that wanted STARTTLS (``security = "starttls"``) stays plaintext."""

    NOT_OFFERED = "not_offered"  # the EHLO reply lists no STARTTLS (stripped?)
    EHLO_REFUSED = "ehlo_refused"  # EHLO refused: HELO has no extensions, so no STARTTLS


@dataclass(frozen=True, slots=True)
class TlsDowngraded:
    """Not terminal: opportunistic STARTTLS found none; the session goes on in plaintext.

    ``reply`` is the server's refusal of EHLO with ``EHLO_REFUSED``, else None. A refused
    STARTTLS is not a downgrade: the job fails with ``tls_failed``.
    """

    name = "tls_downgraded"
    reason: DowngradeReason
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class Authenticated:
    name = "authenticated"
    mechanism: str


@dataclass(frozen=True, slots=True)
class RecipientRejected:
    name = "recipient_rejected"
    address: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class Sent:
    """Terminal: the server accepted the mail (its final reply after the content)."""

    name = "sent"
    reply: Reply
    accepted: tuple[str, ...]
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandAbort:
    """Terminal: the transaction failed; carries the failing command and its reply."""

    name = "command_abort"
    command: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class ClientError:
    """Terminal: the job failed for a reason of kind ``kind``."""

    name = "error"
    kind: ErrorKind
    detail: str
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class Timeout:
    """Terminal: no reply to ``command`` within ``after_us``."""

    name = "timeout"
    command: str
    after_us: int


@dataclass(frozen=True, slots=True)
class VrfyResult:
    """Terminal: the server's answer to VRFY (250/251/252)."""

    name = "vrfy_result"
    reply: Reply


@dataclass(frozen=True, slots=True)
class EtrnResult:
    """Terminal: the server's answer to ETRN (250/251/252/253)."""

    name = "etrn_result"
    reply: Reply


ClientEvent: TypeAlias = (
    Connected | TlsEstablished | TlsDowngraded | Authenticated | RecipientRejected | Sent
    | CommandAbort | ClientError | Timeout | VrfyResult | EtrnResult
)
PROGRESS_EVENTS = (Connected, TlsEstablished, TlsDowngraded, Authenticated, RecipientRejected)
TERMINAL_EVENTS = (Sent, CommandAbort, ClientError, Timeout, VrfyResult, EtrnResult)
PROGRESS_EVENT_NAMES: tuple[str, ...] = tuple(kind.name for kind in PROGRESS_EVENTS)
TERMINAL_EVENT_NAMES: tuple[str, ...] = tuple(kind.name for kind in TERMINAL_EVENTS)
EVENT_NAMES: tuple[str, ...] = PROGRESS_EVENT_NAMES + TERMINAL_EVENT_NAMES
"""Every event name, progress first, in the order above (the Robot keywords' kinds). The
one list of event names: every other list of them derives from these three."""


def is_terminal(event: ClientEvent) -> bool:
    return isinstance(event, TERMINAL_EVENTS)


def describe(event: ClientEvent) -> str:
    """One stable, parseable line, as the console prints it (``sent 250 2.0.0 OK``)."""
    match event:
        case Connected(host=host, port=port):
            return f"connected {host}:{port}"
        case TlsEstablished(cipher=cipher, version=version):
            return f"tls_established {version} {cipher}"
        case TlsDowngraded(reason=reason, reply=reply):
            return f"tls_downgraded {reason.value}" + (f" {reply}" if reply else "")
        case Authenticated(mechanism=mech):
            return f"authenticated {mech}"
        case RecipientRejected(address=addr, reply=reply):
            return f"recipient_rejected <{addr}> {reply}"
        case Sent(reply=reply):
            return f"sent {reply}"
        case CommandAbort(command=cmd, reply=reply):
            return f"command_abort {cmd} {reply}"
        case ClientError(kind=kind, detail=detail):
            return f"error {kind.value} {detail}"
        case Timeout(command=cmd, after_us=after):
            return f"timeout {cmd} after {after // 1_000_000} s"
        case VrfyResult(reply=reply):
            return f"vrfy_result {reply}"
        case EtrnResult(reply=reply):
            return f"etrn_result {reply}"
    raise TypeError(f"not a client event: {event!r}")
