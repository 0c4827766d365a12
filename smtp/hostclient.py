"""The modelled SMTP client on the host: the unchanged client task over OS sockets.

:func:`send_jobs` runs :func:`smtp.task.smtp_client_task` -- the same generator the
emulated board runs -- on :class:`stack.host.stack.HostStack` with
:class:`stack.host.runtime.HostRuntime`, against a real server (aiosmtpd, Postfix), in real
time. :class:`HostPorting` is the device's porting layer on the host: the RTC reads the
host's clock (UTC), the names come from the client settings.

This module is outside the simulated world: it reads the WALL CLOCK (``datetime.now`` for
the RTC; the runtime reads the monotonic clock) and, through the host stack, uses OS
sockets. Nothing deterministic may import it. It knows the client task, the job queue
and the host runtime; it knows nothing about boards, kernels or scripted servers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from smtp.events import ClientEvent, is_terminal
from smtp.jobs import Job
from smtp.profiles import PROFILES, Profile
from smtp.rtcdate import RtcTime
from smtp.settings import ClientSettings
from smtp.task import ClientState, ClientStatus, JobQueue, smtp_client_task
from stack.api import Task, TaskContext
from stack.host.runtime import HostRuntime
from stack.host.stack import HostStack

TASK_NAME = "smtp_client"
LOOPBACK = "127.0.0.1"


class HostPorting:
    """The porting layer (:class:`smtp.settings.Porting`) of a client running on the host.

    ``rtc_get`` is the host's wall clock in UTC (always valid); ``host_domain`` is the
    configured ``device_domain`` (None if unset, so EHLO uses an address literal);
    ``template_hostname`` the configured ``hostname``; ``host_address`` the address given
    here (the loopback address by default).
    """

    def __init__(self, settings: ClientSettings, *, address: str = LOOPBACK) -> None:
        if not isinstance(address, str) or not address:
            raise ValueError(f"address: expected an IPv4 address string, got {address!r}")
        self._settings = settings
        self._address = address

    def rtc_get(self) -> RtcTime:
        return RtcTime.from_datetime(datetime.now(UTC))

    def host_domain(self) -> str | None:
        return self._settings.device_domain

    def host_address(self) -> str:
        return self._address

    def template_hostname(self) -> str:
        return self._settings.hostname


def send_jobs(settings: ClientSettings, jobs: Sequence[Job], *,
              profile: Profile = PROFILES["current"], timeout_s: float = 60.0,
              on_event: Callable[[ClientEvent], None] | None = None,
              porting: HostPorting | None = None) -> list[ClientEvent]:
    """Run the client task on the host until every job has ended; return all its events.

    The jobs go into one :class:`~smtp.task.JobQueue` before the task starts, so they run
    in one session. The run ends when each job has its terminal event
    (:func:`smtp.events.is_terminal`) and the client is idle again (the session closed).
    ``on_event`` sees each event as it happens. Raises TimeoutError when that takes longer
    than ``timeout_s`` of real time (e.g. a historical release that loses a job), with
    the events seen so far in a note.
    """
    if not isinstance(settings, ClientSettings):
        raise ValueError(f"settings: expected ClientSettings, got {type(settings).__name__}")
    if not isinstance(profile, Profile):
        raise ValueError(f"profile: expected a Profile, got {type(profile).__name__}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s: expected > 0 seconds, got {timeout_s!r}")
    job_list = list(jobs)
    queue = JobQueue()
    for job in job_list:
        queue.submit(job)
    status = ClientStatus()
    host_porting = porting if porting is not None else HostPorting(settings)
    ended = 0  # terminal events so far, counted as they come (finished() runs every turn)

    def note(event: ClientEvent) -> None:
        nonlocal ended
        if is_terminal(event):
            ended += 1
        if on_event is not None:
            on_event(event)

    def finished() -> bool:
        return ended >= len(job_list) and status.state is ClientState.IDLE and status.sessions > 0

    with HostStack() as stack:
        runtime = HostRuntime(stack)

        def client(ctx: TaskContext) -> Task:
            return smtp_client_task(ctx, settings=settings, profile=profile,
                                    porting=host_porting, jobs=queue, status=status,
                                    on_event=note)

        runtime.spawn(TASK_NAME, client)
        if job_list:
            try:
                runtime.run(finished, timeout_s)
            except TimeoutError as exc:
                names = ", ".join(event.name for event in status.events) or "none"
                exc.add_note(f"send_jobs: {len(job_list)} job(s); events so far: {names}")
                raise
    return list(status.events)
