"""What the client core asks its driver to do: outputs as frozen dataclasses.

:class:`~smtp.client.ClientCore` returns a list of these from every input; the driver
(:mod:`smtp.task`) carries them out in order: write bytes, stream the message content,
start TLS, arm or cancel the one per-command timer, tell the application an event,
close, or record something worth a trace line (``Log``, ``MessageComposed``). This
module is pure data: no sockets, no clocks, no protocol logic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from smtp.events import ClientEvent
from smtp.rtcdate import RtcFields
from smtp.timers import TimerName


@dataclass(frozen=True, slots=True)
class SendBytes:
    """Write ``data`` (one or more command lines, or a BDAT chunk) to the connection.

    ``content``: ``data`` carries message content (a BDAT chunk, RFC 3030), so the
    driver sends it as it sends the content streamed after DATA.
    """

    data: bytes
    label: str
    content: bool = False


@dataclass(frozen=True, slots=True)
class SendContent:
    """Stream the message content: write every chunk, then call ``content_sent()``.

    ``block_timeout_us`` bounds each write (RFC 5321 "data block"), None for no timer.
    """

    chunks: Iterator[bytes]
    block_timeout_us: int | None


@dataclass(frozen=True, slots=True)
class StartTls:
    """Start the TLS handshake now (nothing buffered before it may be used)."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """(Re)arm the one per-command timer, ``command`` (a timer name); expiry calls
    ``timer_expired()``."""

    command: TimerName
    timeout_us: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """No timer runs now."""


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the application ``event``."""

    event: ClientEvent


@dataclass(frozen=True, slots=True)
class Close:
    """End the connection: orderly (FIN) or ``abort`` (RST)."""

    abort: bool = False


LogKind: TypeAlias = Literal["discarded_plaintext", "job_lost", "matched"]
"""``discarded_plaintext``: bytes after the 220 to STARTTLS, dropped unread (RFC 3207);
``job_lost``: a release before 2.1 dropped a job without an event; ``matched``: a reply
was taken as the answer to a command (detail ``"MAIL 250"``: the command, the reply's
code), in the order the client read them. The task records it under this kind, one of
:data:`emulator.trace.TraceKind`."""


@dataclass(frozen=True, slots=True)
class Log:
    """Something worth a trace record that is not an application event."""

    kind: LogKind
    detail: str


@dataclass(frozen=True, slots=True)
class MessageComposed:
    """The message of the job now starting was built: its Message-ID, its Date header,
    and the RTC reading (``psp_rtc_get``) taken to write it, so that the Date can be
    judged against the clock at that instant however long the delivery takes."""

    message_id: str
    date_header: str
    rtc: RtcFields


Output: TypeAlias = (
    SendBytes | SendContent | StartTls | ArmTimer | CancelTimer | Notify | Close | Log
    | MessageComposed
)
