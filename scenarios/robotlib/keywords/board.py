"""Board keywords: boot the emulated board, post jobs, wait for events, watch its pool.

The board is an :class:`~scenarios.session.DeviceSession`: the world of the scenario whose
server was started (or the session's default scenario), with the SMTP firmware of a
release profile and a console on its UART. Time moves only inside the keywords that say
so (``Wait For Device Event``, ``Let Virtual Time Pass``, ``Pool Should Return To
Full``, ``No Outcome Should Be Reported Within``), and it is virtual time: waiting out a
10-minute timeout costs milliseconds. Nothing here sleeps.

This module knows the session, the firmware's job API, the client's events, the RTC and
the buffer pool; it knows nothing about consoles, mailboxes or files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from emulator import serialurl
from emulator.checks import check_int
from emulator.firmware import TimedEvent
from emulator.units import SECOND, format_us
from scenarios.catalog import DEFAULT_SCENARIO
from scenarios.format import Scenario
from scenarios.robotlib.context import (
    Duration,
    LibraryComponent,
    NotReady,
    duration_us,
    keyword,
    seconds_text,
)
from scenarios.runner import resolve_scenario
from scenarios.session import open_session
from smtp.bounds import MAX_POOL_BUFFERS
from smtp.events import EVENT_NAMES, describe, is_terminal
from smtp.jobs import EtrnJob, Job, VrfyJob
from smtp.message import Attachment, MailJob
from smtp.profiles import get_profile
from smtp.userfiles import ATTACHMENT_FILE, UserFileError, check_user_file

EVENT_KINDS = EVENT_NAMES


def _addresses(value: str | list[str] | tuple[str, ...] | None, field: str) -> tuple[str, ...]:
    """``"a@x, b@y"`` or ``["a@x", "b@y"]`` -> ``("a@x", "b@y")``."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{field}: expected an address, a comma-separated string or a list of "
                     f"addresses, got {value!r}")


def _rtc_setting(value: datetime | str | None) -> datetime | Literal["keep"] | None:
    if value is None:
        return "keep"
    if value == "unset":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return _rtc_setting(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ValueError(f"rtc: expected a date and time such as 2024-02-29 12:00:00 (UTC) or "
                     f"'unset', got {value!r}")


def customised(scenario: Scenario, *, pool_buffers: int | None,
               rtc: datetime | str | None, config_version: int | None) -> Scenario:
    """``scenario`` with the board's pool, RTC and configuration header version replaced.

    The server's clock follows a new RTC when it followed the scenario's (the default)."""
    updates: dict[str, Any] = {"rtc_variants": []}
    if pool_buffers is not None:
        updates["pool_buffers"] = check_int("pool_buffers", pool_buffers, 2, MAX_POOL_BUFFERS)
    when = _rtc_setting(rtc)
    if when != "keep":
        updates["rtc"] = when
    if config_version is not None:
        if not isinstance(config_version, int) or isinstance(config_version, bool):
            raise ValueError(f"config_version: expected an integer, got {config_version!r}")
        updates["config"] = {**scenario.device.config, "config_version": config_version}
    device = scenario.device.model_copy(update=updates)
    server = scenario.server
    if isinstance(when, datetime) and server.clock == scenario.device.rtc:
        server = server.model_copy(update={"clock": when})
    return scenario.model_copy(update={"device": device, "server": server})  # keeps .source


class BoardKeywords(LibraryComponent):
    """The emulated board: boot, jobs, events, RTC, time, buffer pool and watchdog."""

    AREA = "board"

    # ---- booting --------------------------------------------------------------------------
    @keyword()
    def boot_emulated_board(self, profile: str = "current", pool_buffers: int | None = None,
                            rtc: datetime | Literal["unset"] | None = None, seed: int = 0,
                            config_version: int | None = None,
                            console: str | None = None) -> str | None:
        """Boots the emulated board running SMTP client release ``profile``.

        The board lives in the simulated world of the scenario started with `Start
        Scenario Server` (its link, faults and scripted server); without one it uses the
        ``starttls`` catalog scenario (a correct server with STARTTLS and AUTH). The
        scenario's own job is not sent: use `Send Mail` or `Send Scenario Job`.

        - ``profile``: ``1.0``, ``2.0`` ... ``2.5`` or ``current`` (every bug fixed).
        - ``pool_buffers``: IP buffers in the board's pool (default: the scenario's).
        - ``rtc``: the RTC at boot, UTC (``2024-02-29 12:00:00``), or ``unset`` for a flat
          backup battery (reads 1970 and reports itself invalid). Default: the scenario's.
          The scripted server's clock follows it.
        - ``seed``: the seed of the run's random generator (lossy links).
        - ``config_version``: the version written in the device configuration header
          (default: the one this client expects).
        - ``console``: publish the board's console as ``hil://NAME`` (give ``NAME`` or the
          whole URL) for `Open Console`.

        Returns the console URL, or None when ``console`` is not given. Booting again
        replaces the board (and forgets the last `Run Scenario`).

        | `Boot Emulated Board` | profile=2.4 | | |
        | `Boot Emulated Board` | profile=2.0 | pool_buffers=6 | rtc=2024-02-29 12:00:00 |
        | ${url} = | `Boot Emulated Board` | console=hil://bench | |
        """
        get_profile(profile)
        if self.ctx.socket_server is not None:
            raise NotReady("A scenario server runs on a socket, which the emulated board "
                           "cannot reach: stop it with `Stop Scenario Server`, then start "
                           "the scenario's simulated server and boot.")
        name = None
        if console is not None:
            name = console.removeprefix(f"{serialurl.SCHEME}://").rstrip("/")
        base = self.ctx.scenario or resolve_scenario(DEFAULT_SCENARIO)
        scenario = customised(base, pool_buffers=pool_buffers, rtc=rtc,
                              config_version=config_version)
        self.ctx.forget_world()
        session = open_session(scenario, profile, seed)
        if name is not None:
            session.publish(name)
        self.ctx.session = session
        return serialurl.url_for(name) if name is not None else None

    @keyword()
    def shut_down_emulated_board(self) -> None:
        """Forgets the board (and its ``hil://`` console URL); nothing happens without one.

        | `Shut Down Emulated Board` |
        """
        self.ctx.forget_world()

    @keyword()
    def reset_board(self) -> None:
        """Reboots the board now, as its reset button does: connections, queued jobs and
        the client's state are lost; the tasks start afresh.

        | `Reset Board` |
        """
        world = self.ctx.world
        world.board.reset("reset by the test")
        world.kernel.run(until_us=world.kernel.now_us)

    # ---- jobs -----------------------------------------------------------------------------
    def _submit(self, job: Job) -> None:
        self.ctx.world.firmware.submit(job)

    @keyword()
    def send_mail(self, sender: str, to: str | list[str], subject: str = "", body: str = "",
                  cc: str | list[str] | None = None, bcc: str | list[str] | None = None,
                  reply_to: str | list[str] | None = None,
                  attachments: list[str] | None = None) -> None:
        """Posts a mail job to the board's SMTP client, as the application does.

        Recipients are one address, comma-separated addresses or a list. ``attachments``
        is a list of file paths: regular files of at most 64 MiB, checked now, read when
        the mail is built. The job is only queued:
        time moves with `Wait For Device Event`. The client checks the job itself (a CR
        or LF in a header is reported as ``error invalid_input``).

        | `Send Mail` | pump7@example.com | ops@example.net | subject=Alarm | body=Pressure high |
        | `Send Mail` | pump7@example.com | ops@example.net | cc=qa@example.net | bcc=l@x.net |
        | `Send Mail` | pump7@example.com | ${RECIPIENTS} | attachments=${FILES} | |
        """
        files = [] if attachments is None else attachments
        if isinstance(files, str):
            files = [files]
        for file in files:  # now, not when the client builds the mail
            try:
                check_user_file(file, ATTACHMENT_FILE)
            except UserFileError as exc:
                raise ValueError(f"attachments: {exc}") from None
        job = MailJob(sender=sender, to=_addresses(to, "to"), cc=_addresses(cc, "cc"),
                      bcc=_addresses(bcc, "bcc"), reply_to=_addresses(reply_to, "reply_to"),
                      subject=subject, body=body,
                      attachments=tuple(Attachment.from_path(f) for f in files))
        self._submit(job)

    @keyword("Send VRFY")
    def send_vrfy(self, address: str) -> None:
        """Posts a VRFY job: the client asks the server whether it knows ``address``.
        The answer comes as a ``vrfy_result`` event.

        | `Send VRFY` | ops@example.net |
        | ${answer} = | `Wait For Device Event` | vrfy_result |
        """
        self._submit(VrfyJob(address))

    @keyword("Send ETRN")
    def send_etrn(self, node: str) -> None:
        """Posts an ETRN job: the client asks the server to start delivering the queue
        for ``node``. The answer comes as an ``etrn_result`` event.

        | `Send ETRN` | example.com |
        """
        self._submit(EtrnJob(node))

    @keyword()
    def send_scenario_job(self) -> None:
        """Posts the job of the scenario started with `Start Scenario Server` (its mail,
        VRFY or ETRN, as written in its ``[job]`` table).

        | `Start Scenario Server` | buffer-exhaustion-during-content |
        | `Boot Emulated Board` | profile=2.0 |
        | `Send Scenario Job` | |
        """
        scenario = self.ctx.scenario
        if scenario is None:
            raise NotReady("No scenario: start one with `Start Scenario Server` first.")
        self._submit(scenario.to_job())

    # ---- events and time ----------------------------------------------------------------------
    def _run_until(self, stop: Callable[[], bool], within_us: int) -> None:
        kernel = self.ctx.world.kernel
        kernel.run(until_us=kernel.now_us + within_us, stop=stop)

    def _events_since(self, start: int) -> list[TimedEvent]:
        return self.ctx.world.firmware.events[start:]

    @keyword()
    def wait_for_device_event(self, kind: str,
                              timeout: Duration = "10 min") -> str:
        """Runs the board in virtual time until the SMTP client reports an event of
        ``kind`` (one not waited for before), and returns it as the console prints it
        (``sent 250 2.0.0 OK queued as HIL000001``).

        Kinds: ``connected``, ``tls_established``, ``tls_downgraded`` (opportunistic
        STARTTLS found none: the session goes on in plaintext), ``authenticated``,
        ``recipient_rejected``, ``sent``, ``command_abort``, ``error``, ``timeout``,
        ``vrfy_result``, ``etrn_result``. Fails, listing what the client did report, when
        none comes within ``timeout`` of virtual time (a Robot time: ``10 min``).

        | `Wait For Device Event` | sent | timeout=10 min |
        | ${event} = | `Wait For Device Event` | command_abort |
        | `Should Start With` | ${event} | command_abort MAIL 550 |
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(EVENT_KINDS)}, got {kind!r}")
        within = duration_us(timeout, "timeout")
        world = self.ctx.world
        events = world.firmware.events
        start, started_us = self.ctx.event_cursor, world.kernel.now_us
        scanned = start

        def found() -> bool:
            nonlocal scanned
            while scanned < len(events):
                if events[scanned].event.name == kind:
                    return True
                scanned += 1
            return False

        self._run_until(found, within)
        if scanned < len(events):
            self.ctx.event_cursor = scanned + 1
            return describe(events[scanned].event)
        seen = [f"{describe(e.event)} (at {format_us(e.t_us)} s)" for e in events[start:]]
        raise AssertionError(
            f"The device reported no '{kind}' event within {seconds_text(within)} of virtual "
            f"time (from {format_us(started_us)} s to {format_us(world.kernel.now_us)} s); "
            f"it reported: {'; '.join(seen) or 'nothing'}.")

    @keyword()
    def no_outcome_should_be_reported_within(self, duration: Duration) -> None:
        """Runs the board for ``duration`` of virtual time and fails if the client reports
        the outcome of a job (``sent``, ``command_abort``, ``error``, ``timeout``,
        ``vrfy_result`` or ``etrn_result``) in that time: the job hangs.

        | `No Outcome Should Be Reported Within` | 1 hour |
        """
        within = duration_us(duration, "duration")
        start = len(self.ctx.world.firmware.events)
        self._run_until(lambda: any(is_terminal(e.event) for e in self._events_since(start)),
                        within)
        outcomes = [e for e in self._events_since(start) if is_terminal(e.event)]
        if outcomes:
            first = outcomes[0]
            raise AssertionError(f"The job was expected to hang, but the device reported "
                                 f"'{describe(first.event)}' at {format_us(first.t_us)} s.")

    @keyword()
    def get_device_events(self) -> list[str]:
        """Every event the client has reported since boot, as the console prints them.

        | @{events} = | `Get Device Events` |
        | `Should Contain` | ${events} | connected 198.51.100.25:25 |
        """
        return [describe(e.event) for e in self.ctx.world.firmware.events]

    @keyword()
    def let_virtual_time_pass(self, duration: Duration) -> None:
        """Runs the board and the network for ``duration`` of virtual time (retries,
        timers, the server's delays happen; no wall time is spent waiting).

        | `Let Virtual Time Pass` | 10 min |
        """
        within = duration_us(duration, "duration")
        self._run_until(lambda: False, within)

    @keyword()
    def get_virtual_time(self) -> float:
        """Seconds of virtual time since the board booted.

        | ${now} = | `Get Virtual Time` |
        """
        return self.ctx.world.kernel.now_us / SECOND

    # ---- RTC and release ------------------------------------------------------------------
    @keyword("Set Board RTC")
    def set_board_rtc(self, when: datetime) -> None:
        """Sets the board's RTC to ``when`` (UTC), as ``psp_rtc_set`` does.

        | `Set Board RTC` | 2024-12-31 23:59:59 |
        """
        value = _rtc_setting(when)
        if not isinstance(value, datetime):
            raise ValueError(f"when: expected a date and time, got {when!r}")
        self.ctx.world.board.rtc.set(value)

    @keyword("Unset Board RTC")
    def unset_board_rtc(self) -> None:
        """Loses the RTC's time, as a flat backup battery does: it reads 1970-01-01 and
        reports itself invalid.

        | `Unset Board RTC` |
        """
        self.ctx.world.board.rtc.unset()

    @keyword("Get Board RTC")
    def get_board_rtc(self) -> str:
        """The RTC's time, ``2024-06-03T10:00:00Z`` (whole seconds, UTC).

        | ${now} = | `Get Board RTC` |
        """
        return self.ctx.world.board.rtc.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    @keyword("Board Should Run IP Stack")
    def board_should_run_ip_stack(self, version: str) -> None:
        """Fails unless the board's release runs IP stack ``version`` (``6.02``, ``4.11``).

        | `Board Should Run IP Stack` | 6.02 |
        """
        profile = self.ctx.world.profile
        if profile.ip_stack != version:
            raise AssertionError(f"Release {profile.name} runs IP stack {profile.ip_stack}, "
                                 f"not {version}.")

    # ---- buffer pool and watchdog -------------------------------------------------------------
    @keyword()
    def get_pool_statistics(self) -> dict[str, int | None]:
        """The board's IP buffer pool: ``count``, ``in_use``, ``free``, ``peak_in_use``,
        ``lowest_free``, ``allocations``, ``failed_allocations``, ``frames_dropped``.

        | ${pool} = | `Get Pool Statistics` |
        | `Should Be Equal As Integers` | ${pool}[failed_allocations] | 0 |
        """
        stats = self.ctx.world.board.pool.stats
        return {"count": stats.count, "in_use": stats.in_use, "free": stats.free,
                "peak_in_use": stats.peak_in_use, "lowest_free": stats.lowest_free,
                "allocations": stats.allocations,
                "failed_allocations": stats.failed_allocations,
                "frames_dropped": stats.frames_dropped}

    @keyword()
    def pool_should_never_have_run_dry(self) -> None:
        """Fails if an IP buffer was ever asked for while none was free (a failed
        allocation, or a received frame dropped for want of a buffer).

        | `Pool Should Never Have Run Dry` |
        """
        stats = self.ctx.world.board.pool.stats
        if stats.failed_allocations or stats.frames_dropped:
            raise AssertionError(
                f"The IP buffer pool ran dry: {stats.failed_allocations} failed "
                f"allocation(s) and {stats.frames_dropped} frame(s) dropped for want of a "
                f"buffer (peak use {stats.peak_in_use} of {stats.count}).")

    @keyword()
    def pool_peak_use_should_be_at_most(self, buffers: int) -> None:
        """Fails if more than ``buffers`` IP buffers were ever in use at once.

        | `Pool Peak Use Should Be At Most` | 12 |
        """
        stats = self.ctx.world.board.pool.stats
        if stats.peak_in_use > buffers:
            raise AssertionError(f"The IP buffer pool's peak use was {stats.peak_in_use} "
                                 f"buffer(s) of {stats.count}, more than the {buffers} "
                                 f"allowed.")

    @keyword()
    def pool_should_return_to_full(self, within: Duration = "15 min") -> None:
        """Runs the board until every IP buffer is free again, and fails if some are still
        in use after ``within`` of virtual time (a leak, or a session that never ends).

        | `Pool Should Return To Full` | within=15 min |
        """
        pool = self.ctx.world.board.pool
        self._run_until(lambda: pool.in_use == 0, duration_us(within, "within"))
        if pool.in_use:
            held = sorted({b.purpose for b in pool.live_buffers()})
            raise AssertionError(f"{pool.in_use} of {pool.count} IP buffers are still in use "
                                 f"after {seconds_text(duration_us(within, 'within'))} "
                                 f"(held for: {', '.join(held)}).")

    @keyword()
    def watchdog_should_not_have_reset_the_board(self) -> None:
        """Fails if the watchdog reset the board since it booted, saying why.

        | `Watchdog Should Not Have Reset The Board` |
        """
        board = self.ctx.world.board
        resets = board.kernel.trace.select(source=board.name, kind="watchdog_reset")
        if resets:
            first = resets[0].fields
            held = first.get("held_us")
            held_text = seconds_text(held) if isinstance(held, int) else "too long"
            raise AssertionError(
                f"The watchdog reset the board {len(resets)} time(s): the first time, task "
                f"{first.get('task')} had held the CPU for {held_text} busy-waiting for "
                f"{first.get('waiting_for')}.")
