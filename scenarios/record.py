"""What one run observed, as plain data: the record the verdicts judge.

A :class:`RunRecord` holds the scenario and what the run produced that a verdict may
read: the client's events and terminal event, what the scripted server saw of each
connection (:class:`ServerSide`) and the mails it received, the board's pool and
watchdog statistics, the trace records and their hash, virtual time, and what became of
a C firmware. It holds no kernel, no board, no socket: judging a run never needs the
world that made it, and a record outlives its world cheaply.
:class:`scenarios.runner.RunResult` is a record with its verdict (and, for the views
that look inside, its world).

This module knows the shapes of the observations; it runs nothing and judges nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from emulator.firmware import TimedEvent
from emulator.trace import TraceRecord
from scenarios.format import Scenario
from scenarios.server.engine import ServerEngine
from scenarios.server.mailbox import Observations, ReceivedMail
from stack.pool import PoolStats


@dataclass(frozen=True, slots=True)
class ConnectionSeen:
    """What the scripted server saw of one connection: its observations of the client,
    whether the connection is over, and the mails it received on it, in order."""

    observations: Observations
    closed: bool
    mailbox: tuple[ReceivedMail, ...]

    @classmethod
    def of(cls, engine: ServerEngine) -> ConnectionSeen:
        return cls(engine.observations, engine.closed, tuple(engine.mailbox))


@dataclass(frozen=True, slots=True)
class ServerSide:
    """What the scripted server saw, connection by connection (in the order accepted)."""

    connections: tuple[ConnectionSeen, ...] = ()

    @classmethod
    def of(cls, engines: Iterable[ServerEngine]) -> ServerSide:
        return cls(tuple(ConnectionSeen.of(engine) for engine in engines))

    @property
    def observations(self) -> list[Observations]:
        return [c.observations for c in self.connections]

    @property
    def mailbox(self) -> list[ReceivedMail]:
        """Every mail received in full, in order."""
        return [mail for c in self.connections for mail in c.mailbox]


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    """What became of one device of a fleet: when it started, how many times it tried,
    the last terminal event it reported (its name and words), when it was done, and
    whether that event is the one the scenario expects."""

    index: int
    ip: str
    start_us: int
    attempts: int
    event: str
    detail: str
    done_us: int | None
    passed: bool
    firmware: str = "model"
    """``model`` (the Python client on the run's release), ``lwip`` or a library's name."""


@dataclass(frozen=True, slots=True)
class FleetOutcome:
    """What a fleet run observed: every device's outcome (in device order) and the
    server's and the link's side of the burst."""

    devices: tuple[DeviceOutcome, ...]
    refused: int
    """Connections the server refused with 421 (``[server] max_connections``)."""
    peak_connections: int
    """The most connections the server served at once."""
    queue_peak: int | None
    """The most frames queued at the server's port towards it (None: no shared port)."""
    queue_dropped: int
    """Frames lost because the server's port queue was full."""

    @property
    def sent(self) -> int:
        """Devices whose last event is the expected one."""
        return sum(1 for d in self.devices if d.passed)

    @property
    def failed(self) -> int:
        return len(self.devices) - self.sent

    @property
    def retried(self) -> int:
        """Devices that needed more than one attempt."""
        return sum(1 for d in self.devices if d.attempts > 1)

    @property
    def last_done_us(self) -> int | None:
        """When the last device was done (None: one never was)."""
        done = [d.done_us for d in self.devices]
        return None if not done or None in done else max(d for d in done if d is not None)

    def summary(self) -> str:
        last = self.last_done_us
        return (f"{len(self.devices)} devices: {self.sent} as expected, {self.failed} not, "
                f"{self.retried} retried; {self.refused} connection(s) refused with 421, "
                f"at most {self.peak_connections} at once; last done "
                + ("never" if last is None else f"at {last / 1e6:.3f} s"))


@dataclass(kw_only=True)
class RunRecord:
    """What one run of ``scenario`` on release ``profile`` with ``seed`` observed."""

    scenario: Scenario
    profile: str
    seed: int
    events: list[TimedEvent]
    """Every client event, in order."""
    terminal: TimedEvent | None
    """The job's terminal event (None: the job hangs, or the firmware stopped)."""
    server_side: ServerSide
    mailbox: list[ReceivedMail]
    """The mails the scripted server received in full, in order."""
    virtual_us: int
    pool: PoolStats
    pool_in_use_at_end: int
    watchdog_resets: int
    watchdog_reset_reasons: list[str] = field(default_factory=list)
    board_name: str
    """The board's trace source (its records are ``board_name`` and below)."""
    trace: Sequence[TraceRecord] = field(default=(), repr=False)
    trace_sha256: str
    firmware: str = "model"
    """``model`` (the Python client), ``lwip``, or a C firmware library's file name."""
    firmware_problems: list[str] = field(default_factory=list)
    """A C firmware's fault (assertion, crash, hang) and malformed packets it sent."""
    firmware_stopped: bool = False
    """The C firmware stopped (assertion, crash, hang) during the run."""
    carries_tls: bool = False
    """The link carried TLS ciphertext (which the trace hashes by its length only)."""
    fleet: FleetOutcome | None = None
    """A ``[fleet]`` run's devices and burst (then the board fields are the first
    device's, and the pool's are over every device)."""
    ran: Scenario | None = None
    """The scenario exactly as it ran, when that differs from ``scenario``: one of its
    RTC variants (``device.rtc_variants``). :attr:`as_run` gives either."""

    @property
    def as_run(self) -> Scenario:
        """The scenario as this run ran it (the RTC variant, if any)."""
        return self.ran if self.ran is not None else self.scenario
