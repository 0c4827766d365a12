"""What one call into a C firmware gives back, and the interface both ways of calling share.

A call (init, input, advance, submit) produces outputs in the order the firmware made
them (packets to transmit, client events, buffer-pool changes, log lines), a status, the
firmware's next timer deadline, and, when it stopped, a :class:`FirmwareFault`.
:class:`~emulator.cfirmware.instance.FirmwareInstance` (in this process) and
:class:`~emulator.cfirmware.worker.FirmwareProcess` (in a worker process) both implement
:class:`FirmwareCalls`.

This module is plain data; it loads and calls nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from emulator.cfirmware.abi import Capability, EventKind, PoolOp


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    """``hil_fw_config`` in Python terms (addresses dotted, options as a mapping)."""

    now_ms: int
    seed: int
    ip: str
    netmask: str
    gateway: str
    mtu: int
    pool_buffers: int
    buffer_size: int
    server_ip: str
    server_port: int
    domain: str
    hostname: str
    username: str | None
    password: str | None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FirmwareJob:
    """``hil_fw_job``: one mail."""

    job_id: int
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Transmit:
    """An IPv4 packet the firmware sent."""

    packet: bytes


@dataclass(frozen=True, slots=True)
class FirmwareEvent:
    """``hil_fw_event``; ``error_kind`` is the number the firmware gave
    (``enum hil_fw_error_kind``, named in :data:`~emulator.cfirmware.abi.ERROR_KIND_NAMES`)."""

    job_id: int
    kind: EventKind
    error_kind: int
    reply_code: int
    command: str
    reply_text: str
    detail: str


@dataclass(frozen=True, slots=True)
class PoolChange:
    """One ``host->pool()`` call."""

    op: PoolOp
    buffer_id: int
    purpose: str


@dataclass(frozen=True, slots=True)
class LogLine:
    text: str


Output: TypeAlias = Transmit | FirmwareEvent | PoolChange | LogLine
FaultKind: TypeAlias = Literal["assertion", "crash", "hang"]


@dataclass(frozen=True, slots=True)
class FirmwareFault:
    """Why the firmware stopped: its assertion, a crash of its process, or a call that
    never returned. ``text`` is the verdict's sentence."""

    kind: FaultKind
    text: str
    file: str | None = None
    line: int | None = None
    message: str | None = None

    @classmethod
    def assertion(cls, file: str, line: int, message: str) -> FirmwareFault:
        return cls("assertion", f"firmware assertion failed at {file}:{line}: {message}",
                   file, line, message)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one call gave back (see the module docstring)."""

    outputs: tuple[Output, ...]
    status: int
    deadline_ms: int | None
    fault: FirmwareFault | None = None
    error: str | None = None
    """Why ``init`` refused the configuration (status INVALID)."""


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """``hil_fw_pool_stats``: the firmware's own count."""

    count: int
    size: int
    in_use: int
    peak_in_use: int
    allocations: int
    failed_allocations: int
    frames_dropped: int


class FirmwareCalls(Protocol):
    """One firmware instance, however it is run."""

    @property
    def description(self) -> str: ...

    @property
    def capabilities(self) -> Capability: ...

    def init(self, config: FirmwareConfig) -> CallOutcome: ...

    def input(self, now_ms: int, packet: bytes) -> CallOutcome: ...

    def advance(self, now_ms: int) -> CallOutcome: ...

    def submit(self, now_ms: int, job: FirmwareJob) -> CallOutcome: ...

    def pool_figures(self) -> PoolFigures | None: ...

    def close(self) -> None: ...
