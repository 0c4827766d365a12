"""The firmware of the emulated board: the SMTP client application on the super-loop.

It spawns the event-driven SMTP client task with the device's settings and release
profile, keeps the job queue the application posts to, and records every client event
with its virtual time. A watchdog reset wipes RAM: the job queue and the client state
are lost, and the task starts afresh (the event record is the harness's, so it stays).

This module knows the board and the SMTP client's task API; the scripted servers and
scenarios are not its business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.board import Board
from emulator.porting import BoardPorting
from smtp.events import ClientError, ClientEvent, ErrorKind, describe, is_terminal
from smtp.jobs import Job
from smtp.profiles import Profile
from smtp.settings import ClientSettings
from smtp.task import ClientState, ClientStatus, JobQueue, smtp_client_task
from stack.api import Task, TaskContext


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """A client event and the virtual time it was reported."""

    t_us: int
    event: ClientEvent


class SmtpFirmware:
    """The SMTP client application running on ``board``."""

    def __init__(self, board: Board, *, settings: ClientSettings, profile: Profile,
                 porting: BoardPorting, config_refused: str | None = None) -> None:
        self.board = board
        self.config_refused = config_refused
        """Why the client refused its configuration header (then every job fails)."""
        self.settings = settings
        self.profile = profile
        self.porting = porting
        self.jobs = JobQueue()
        self.status = ClientStatus()
        self.events: list[TimedEvent] = []
        self.on_event: Callable[[TimedEvent], None] | None = None
        """Called with each event as it is recorded (a fleet's device reacts to its own)."""
        self.jobs_submitted = 0
        board.boot_hooks.append(self._on_reboot)
        board.spawn("smtp", self._task)

    def _task(self, ctx: TaskContext) -> Task:
        return smtp_client_task(
            ctx, settings=self.settings, profile=self.profile, porting=self.porting,
            jobs=self.jobs, status=self.status, on_event=self._record,
            tx_buffer_free=lambda: self.board.stack.tx_buffer_available())

    def _record(self, event: ClientEvent) -> None:
        timed = TimedEvent(self.board.kernel.now_us, event)
        self.events.append(timed)
        if self.on_event is not None:
            self.on_event(timed)

    def _on_reboot(self, board: Board) -> None:
        # RAM is gone: queued jobs and the client's state with it.
        self.jobs = JobQueue()
        self.status = ClientStatus()

    def submit(self, job: Job) -> None:
        """Post a job, as the application does with the client's API.

        A client that refused its configuration header answers every job at once with
        an ``invalid_input`` error naming the reason, and sends nothing.
        """
        self.jobs_submitted += 1
        self.board.kernel.emit(f"{self.board.name}.app", "submit", job=type(job).__name__)
        if self.config_refused is not None:
            self._record(ClientError(ErrorKind.INVALID_INPUT, self.config_refused))
            return
        self.jobs.submit(job)

    @property
    def terminal_events(self) -> list[TimedEvent]:
        return [e for e in self.events if is_terminal(e.event)]

    @property
    def idle(self) -> bool:
        return self.status.state is ClientState.IDLE and not len(self.jobs)

    def event_lines(self) -> list[str]:
        return [describe(e.event) for e in self.events]
