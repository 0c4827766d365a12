"""The emulated board running a C firmware: its NIC on the link, its timers, its pool.

The board turns the link's segments into IPv4 packets for the firmware and the packets
the firmware sends back into segments (:mod:`stack.wire`), calls the firmware only from
kernel events (a packet arriving, the firmware's own timer deadline, a job submitted),
and applies each call's outputs in the order the firmware made them, at the virtual time
of the call:

* a packet goes onto the link (which delivers it later: nothing re-enters the firmware
  from inside a call);
* a client event goes to ``on_event`` (the firmware adapter);
* a pool change is mirrored into the board's :class:`~stack.pool.BufferPool` (the same
  ``pool`` trace records, statistics and checks as the Python model's pool, allocation
  by allocation; a mirror that disagrees with the firmware is a bug and raises);
* a log line becomes a ``log`` trace record (source ``<board>.fw``).

After every call the board asks for the firmware's next deadline and schedules exactly
one kernel event then, so timers fire at the virtual time the firmware means and idle
time is free. A fault (the firmware's assertion, a crash, a hang) stops the firmware for
good: it is recorded (``fault`` trace record, :attr:`CFirmwareBoard.fault`) and the
board goes quiet. A packet the firmware sends that is not well-formed IPv4/TCP, or not
from the board's address, is dropped and listed in :attr:`CFirmwareBoard.wire_problems`;
so is an event the adapter finds outside the contract (:meth:`CFirmwareBoard.contract_problem`).

This module knows the kernel, the link, the wire codec, the pool and the firmware calls.
It knows nothing about SMTP (the adapter in :mod:`emulator.cfirmware.firmware` does).
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.board import BoardStats
from emulator.cfirmware.abi import OK, PoolOp
from emulator.cfirmware.calls import (
    CallOutcome,
    FirmwareCalls,
    FirmwareConfig,
    FirmwareEvent,
    FirmwareFault,
    FirmwareJob,
    LogLine,
    PoolChange,
    Transmit,
)
from emulator.kernel import Handle, Kernel
from emulator.rtc import Rtc
from stack.link import Link, LinkPort
from stack.pool import Buffer, BufferPool
from stack.segment import Segment
from stack.wire import WireError, decode, encode

US_PER_MS = 1000


class FirmwareRefused(ValueError):
    """The firmware refused its configuration at init; the message is its reason."""


class CFirmwareBoard:
    """A board whose stack and client are a C firmware behind ``calls``."""

    def __init__(self, kernel: Kernel, calls: FirmwareCalls, *, name: str = "board",
                 ip: str = "192.0.2.10", pool_buffers: int = 16, buffer_size: int = 1536,
                 rtc: Rtc | None = None) -> None:
        self.kernel = kernel
        self.calls = calls
        self.name = name
        self.ip = ip
        self.pool = BufferPool(kernel, count=pool_buffers, size=buffer_size, name=f"{name}.pool")
        self.rtc = rtc if rtc is not None else Rtc(kernel, name=f"{name}.rtc")
        self.stats = BoardStats()
        self.fault: FirmwareFault | None = None
        self.wire_problems: list[str] = []
        self.on_event: Callable[[FirmwareEvent], None] | None = None
        self.calls_made = 0
        self._port: LinkPort | None = None
        self._buffers: dict[int, Buffer] = {}
        self._timer: Handle | None = None
        self._timer_ms: int | None = None
        kernel.emit(name, "boot", boot=1, ip=ip, pool_buffers=pool_buffers,
                    firmware=calls.description)

    # ---- wiring -------------------------------------------------------------------
    def attach(self, link: Link) -> None:
        """Plug the board's NIC into a link."""
        self._port = link.attach(self.ip, self._nic_receive)

    def start(self, config: FirmwareConfig) -> None:
        """Initialise the firmware; :class:`FirmwareRefused` when it refuses ``config``."""
        outcome = self._call(lambda: self.calls.init(config))
        if outcome.error is not None:
            raise FirmwareRefused(outcome.error)

    def submit(self, job: FirmwareJob) -> None:
        self._call(lambda: self.calls.submit(self.now_ms, job))

    @property
    def now_ms(self) -> int:
        return self.kernel.now_us // US_PER_MS

    @property
    def stopped(self) -> bool:
        return self.fault is not None

    # ---- kernel events --------------------------------------------------------------
    def _nic_receive(self, segment: Segment) -> None:
        self.stats.frames_received += 1
        if self.stopped:
            return
        packet = encode(segment)
        self._call(lambda: self.calls.input(self.now_ms, packet))

    def _deadline(self) -> None:
        self._timer = None
        self._timer_ms = None
        if not self.stopped:
            self._call(lambda: self.calls.advance(self.now_ms), advanced=True)

    # ---- one call and its outputs -----------------------------------------------------
    def _call(self, call: Callable[[], CallOutcome], *, advanced: bool = False) -> CallOutcome:
        self.calls_made += 1
        outcome = call()
        for output in outcome.outputs:
            if isinstance(output, Transmit):
                self._transmit(output.packet)
            elif isinstance(output, PoolChange):
                self._mirror(output)
            elif isinstance(output, FirmwareEvent):
                if self.on_event is not None:
                    self.on_event(output)
            elif isinstance(output, LogLine):
                self.kernel.emit(f"{self.name}.fw", "log", line=output.text)
        if outcome.fault is not None:
            self._stop(outcome.fault)
        elif outcome.status == OK:
            self._schedule(outcome.deadline_ms, advanced)
        return outcome

    def _transmit(self, packet: bytes) -> None:
        try:
            segment = decode(packet)
        except WireError as exc:
            self._wire_problem(f"the firmware sent a malformed packet: {exc}", packet)
            return
        if segment.src_ip != self.ip:
            self._wire_problem(f"the firmware sent a packet from {segment.src_ip}, "
                               f"not from its own address {self.ip}", packet)
            return
        assert self._port is not None, "attach() the board before starting the firmware"
        self._port.transmit(segment)

    def _wire_problem(self, text: str, packet: bytes) -> None:
        self.wire_problems.append(text)
        self.kernel.emit(f"{self.name}.fw", "wire_problem", problem=text, packet=packet)

    def contract_problem(self, text: str) -> None:
        """The firmware gave something ``hil_firmware.h`` does not define (the adapter
        dropped it): listed with the malformed packets, so the run fails saying so."""
        self.wire_problems.append(text)
        self.kernel.emit(f"{self.name}.fw", "contract_problem", problem=text)

    def _mirror(self, change: PoolChange) -> None:
        pool = self.pool
        if change.op is PoolOp.ALLOC:
            buffer = pool.alloc(change.purpose or "firmware")
            if buffer is None or change.buffer_id in self._buffers:
                raise RuntimeError(f"pool mirror out of step: the firmware took buffer "
                                   f"{change.buffer_id}, the mirror could not")
            self._buffers[change.buffer_id] = buffer
        elif change.op is PoolOp.FREE:
            taken = self._buffers.pop(change.buffer_id, None)
            if taken is None:
                raise RuntimeError(f"pool mirror out of step: the firmware freed buffer "
                                   f"{change.buffer_id}, which the mirror never gave")
            taken.free()
        elif change.op is PoolOp.EXHAUSTED:
            if pool.alloc(change.purpose or "firmware") is not None:
                raise RuntimeError("pool mirror out of step: the firmware's pool was empty, "
                                   "the mirror's was not")
        else:
            self.stats.frames_dropped_no_buffer += 1
            pool.count_drop(change.purpose or "rx frame")

    def _schedule(self, deadline_ms: int | None, advanced: bool) -> None:
        if deadline_ms is not None and advanced and deadline_ms <= self.now_ms:
            deadline_ms = self.now_ms + 1  # a timer due now already ran in this call
        if deadline_ms == self._timer_ms:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_ms = deadline_ms
        if deadline_ms is not None:
            when = max(deadline_ms * US_PER_MS, self.kernel.now_us)
            self._timer = self.kernel.call_at(when, self._deadline)

    def _stop(self, fault: FirmwareFault) -> None:
        self.fault = fault
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.kernel.emit(f"{self.name}.fw", "fault", fault=fault.kind, text=fault.text,
                         file=fault.file, line=fault.line)
        self.calls.close()

    def close(self) -> None:
        """Stop calling the firmware and release it (its worker process, if any)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.calls.close()
