"""The application API of a C firmware, the same as the Python model's firmware has.

:class:`CFirmware` takes jobs (``submit``), keeps every client event with its virtual
time (``events``, ``terminal_events``, ``idle``), and translates the firmware's events
(``hil_fw_event``) into the harness's client events, so the same ``[expect]`` judges a C
firmware and the model:

=========================  ============================================================
firmware event             client event
=========================  ============================================================
SENT, reply code R         ``sent`` with reply R (text as the firmware gives it)
COMMAND_ABORT, reply R     ``command_abort`` on the command the firmware names, or
                           ``(unknown)`` when it does not say, with reply R
ERROR, kind K              ``error`` of kind K, detail = the firmware's own words; an
                           ERROR whose kind the header does not define is dropped and
                           fails the run (:meth:`CFirmwareBoard.contract_problem`)
TIMEOUT                    ``timeout`` on the named command (or ``(unknown)``), after the
                           virtual time since the job was submitted
CONNECTED / AUTHENTICATED  ``connected`` (server address) / ``authenticated`` (mechanism)
RECIPIENT_REJECTED         ``recipient_rejected`` (address, reply)
=========================  ============================================================

Every event is also a trace record (source ``<board>.app``, kind ``event``) with the
firmware's detail (for lwIP: its ``smtp_result``, ``srv_err`` and ``err``). Only mail
jobs exist in the C contract; which scenarios a firmware can run at all is decided from
its capabilities before it runs (``scenarios.applicability``).

This module knows the board, the firmware's events and the SMTP client's event types.
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.cfirmware.abi import ERROR_KIND_NAMES, EventKind
from emulator.cfirmware.board import CFirmwareBoard
from emulator.cfirmware.calls import FirmwareEvent, FirmwareFault, FirmwareJob
from emulator.firmware import TimedEvent
from smtp.events import (
    Authenticated,
    ClientError,
    ClientEvent,
    CommandAbort,
    Connected,
    ErrorKind,
    RecipientRejected,
    Sent,
    Timeout,
    describe,
    is_terminal,
)
from smtp.jobs import Job
from smtp.message import MailJob, normalise_line_ends
from smtp.replies import Reply

UNKNOWN_COMMAND = "(unknown)"

ERROR_KINDS: dict[int, ErrorKind] = {
    number: ErrorKind(name) for number, name in enumerate(ERROR_KIND_NAMES) if name is not None}
"""``enum hil_fw_error_kind`` value -> the error kind it names (a name of the header that
is not an ``ErrorKind`` fails at import: the two stay in step)."""


def firmware_job(job_id: int, job: MailJob) -> FirmwareJob:
    """A mail job as the C contract carries it: the To addresses, the subject, and the
    body with CRLF line ends (what an application hands an embedded client)."""
    body = job.body.encode("utf-8") if isinstance(job.body, str) else bytes(job.body)
    return FirmwareJob(job_id=job_id, sender=job.sender, recipients=tuple(job.to),
                       subject=job.subject, body=normalise_line_ends(body))


class CFirmware:
    """The application on a :class:`CFirmwareBoard`."""

    config_refused: str | None = None
    """Always None: a C firmware refuses a configuration at init (bad input), not later."""

    def __init__(self, board: CFirmwareBoard, *, server_host: str, server_port: int) -> None:
        self.board = board
        self.server_host = server_host
        self.server_port = server_port
        self.events: list[TimedEvent] = []
        self.on_event: Callable[[TimedEvent], None] | None = None
        """Called with every client event as it is recorded (a fleet's device watches)."""
        self.jobs_submitted = 0
        self._jobs: dict[int, tuple[MailJob, int]] = {}
        board.on_event = self._on_event

    @property
    def fault(self) -> FirmwareFault | None:
        return self.board.fault

    def submit(self, job: Job) -> None:
        """Hand the firmware a mail job (the C contract has no other kind)."""
        if not isinstance(job, MailJob):
            raise TypeError(f"a C firmware takes mail jobs only, not {type(job).__name__}")
        self.jobs_submitted += 1
        job_id = self.jobs_submitted
        kernel = self.board.kernel
        kernel.emit(f"{self.board.name}.app", "submit", job=type(job).__name__, job_id=job_id)
        self._jobs[job_id] = (job, kernel.now_us)
        self.board.submit(firmware_job(job_id, job))

    def _on_event(self, event: FirmwareEvent) -> None:
        kernel = self.board.kernel
        client_event = self._translate(event)
        if client_event is None:
            return
        if is_terminal(client_event):
            self._jobs.pop(event.job_id, None)
        timed = TimedEvent(kernel.now_us, client_event)
        self.events.append(timed)
        kernel.emit(f"{self.board.name}.app", "event", job_id=event.job_id,
                    line=describe(client_event), detail=event.detail)
        if self.on_event is not None:
            self.on_event(timed)

    def _reply(self, event: FirmwareEvent) -> Reply:
        return Reply(event.reply_code, (event.reply_text.replace("\r", " ").replace("\n", " "),))

    def _translate(self, event: FirmwareEvent) -> ClientEvent | None:
        job, submitted = self._jobs.get(event.job_id, (None, self.board.kernel.now_us))
        command = event.command or UNKNOWN_COMMAND
        match event.kind:
            case EventKind.SENT:
                accepted = tuple(job.to) if job is not None else ()
                return Sent(self._reply(event), accepted)
            case EventKind.COMMAND_ABORT:
                return CommandAbort(command, self._reply(event))
            case EventKind.ERROR:
                kind = ERROR_KINDS.get(event.error_kind)
                if kind is None:
                    self.board.contract_problem(
                        f"the firmware reported an error for job {event.job_id} with error "
                        f"kind {event.error_kind}, which hil_firmware.h does not define "
                        f"(event dropped; detail: {event.detail!r})")
                    return None
                reply = self._reply(event) if event.reply_code else None
                return ClientError(kind, event.detail, reply)
            case EventKind.TIMEOUT:
                return Timeout(command, self.board.kernel.now_us - submitted)
            case EventKind.CONNECTED:
                return Connected(self.server_host, self.server_port)
            case EventKind.AUTHENTICATED:
                return Authenticated(event.command)
            case EventKind.RECIPIENT_REJECTED:
                return RecipientRejected(event.command, self._reply(event))
        raise TypeError(f"unknown firmware event kind {event.kind!r}")

    @property
    def terminal_events(self) -> list[TimedEvent]:
        return [e for e in self.events if is_terminal(e.event)]

    @property
    def idle(self) -> bool:
        """No job waits for its outcome (or the firmware has stopped)."""
        return not self._jobs or self.board.stopped

    def event_lines(self) -> list[str]:
        return [describe(e.event) for e in self.events]
