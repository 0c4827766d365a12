"""One private copy of a C firmware, called through ctypes in this process.

Every call sets up nothing new: the host callbacks (``transmit``, ``event``, ``pool``,
``log``) only append to the outputs of the call in progress (or hand them to ``sink``,
which the worker uses to stream them), so nothing calls back into the firmware from
inside the firmware. After the call the next timer deadline is asked for, and after an
assertion the fault is read.

A crash or a hang inside the C code cannot be survived here: run untrusted calls in
:class:`~emulator.cfirmware.worker.FirmwareProcess`, which uses this class in its worker.

This module knows the ctypes binding; nothing about kernels, links or scenarios.
"""

from __future__ import annotations

import ctypes
import ipaddress
from collections.abc import Callable
from pathlib import Path

from emulator.cfirmware import abi
from emulator.cfirmware.calls import (
    CallOutcome,
    FirmwareConfig,
    FirmwareEvent,
    FirmwareFault,
    FirmwareJob,
    LogLine,
    Output,
    PoolChange,
    PoolFigures,
    Transmit,
)
from emulator.cfirmware.library import load_private_copy

ERROR_TEXT_SIZE = 512


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if value else ""


def _ipv4(value: str) -> ctypes.Array[ctypes.c_uint8]:
    return abi.IPv4Bytes(*ipaddress.IPv4Address(value).packed)


def _c_string(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


class FirmwareInstance:
    """A private copy of the firmware at ``path``; ``sink`` receives each output as it
    is made (default: collected into the call's :class:`CallOutcome`)."""

    def __init__(self, path: Path, sink: Callable[[Output], None] | None = None) -> None:
        self._lib = load_private_copy(path)
        abi.bind(self._lib)
        self._pending: list[Output] = []
        self._sink = sink if sink is not None else self._pending.append
        self._callback_error: BaseException | None = None
        self._host = abi.Host(None, abi.TransmitFn(self._on_transmit),
                              abi.EventFn(self._on_event), abi.PoolFn(self._on_pool),
                              abi.LogFn(self._on_log))
        self._keep: list[object] = []

    # ---- what the firmware says about itself ---------------------------------------
    @property
    def description(self) -> str:
        return _text(self._lib.hil_fw_describe())

    @property
    def capabilities(self) -> abi.Capability:
        return abi.Capability(self._lib.hil_fw_capabilities())

    # ---- host callbacks: they only record (a Python exception here would be lost) ----
    def _emit(self, output: Output) -> None:
        try:
            self._sink(output)
        except BaseException as exc:  # re-raised once the C call has returned
            self._callback_error = self._callback_error or exc

    def _on_transmit(self, _ctx: object, data: ctypes._Pointer[ctypes.c_uint8],
                     length: int) -> None:
        self._emit(Transmit(ctypes.string_at(data, length)))

    def _on_event(self, _ctx: object, event: ctypes._Pointer[abi.Event]) -> None:
        e = event.contents
        self._emit(FirmwareEvent(
            job_id=e.job_id, kind=abi.EventKind(e.kind), error_kind=e.error_kind,
            reply_code=e.reply_code, command=_text(e.command), reply_text=_text(e.reply_text),
            detail=_text(e.detail)))

    def _on_pool(self, _ctx: object, op: int, buffer_id: int, purpose: bytes | None) -> None:
        self._emit(PoolChange(abi.PoolOp(op), buffer_id, _text(purpose)))

    def _on_log(self, _ctx: object, line: bytes | None) -> None:
        self._emit(LogLine(_text(line).rstrip("\n")))

    # ---- calls ----------------------------------------------------------------------
    def _finish(self, status: int, error: str | None = None) -> CallOutcome:
        outputs, self._pending[:] = tuple(self._pending), []
        if self._callback_error is not None:
            exc, self._callback_error = self._callback_error, None
            raise exc
        fault = None
        deadline = None
        if status == abi.ASSERTION_FAILED:
            report = abi.Fault()
            if self._lib.hil_fw_get_fault(ctypes.byref(report)) == abi.OK:
                fault = FirmwareFault.assertion(_text(report.file), report.line,
                                                _text(report.message))
            else:
                fault = FirmwareFault("assertion", "firmware assertion failed (no details)")
        elif status == abi.OK:
            value = ctypes.c_uint64()
            if self._lib.hil_fw_next_deadline(ctypes.byref(value)) == abi.OK:
                deadline = value.value
        return CallOutcome(outputs, status, deadline, fault, error)

    def init(self, config: FirmwareConfig) -> CallOutcome:
        options = "".join(f"{k}={v}\n" for k, v in config.options).encode("utf-8")
        strings = [_c_string(config.domain), _c_string(config.hostname),
                   _c_string(config.username), _c_string(config.password), options]
        self._keep.extend(strings)
        c_config = abi.Config(
            abi_version=abi.ABI_VERSION, now_ms=config.now_ms, seed=config.seed & 0xFFFFFFFF,
            ip=_ipv4(config.ip), netmask=_ipv4(config.netmask), gateway=_ipv4(config.gateway),
            mtu=config.mtu, pool_buffers=config.pool_buffers, buffer_size=config.buffer_size,
            server_ip=_ipv4(config.server_ip), server_port=config.server_port,
            domain=strings[0], hostname=strings[1], username=strings[2], password=strings[3],
            options=strings[4])
        error = ctypes.create_string_buffer(ERROR_TEXT_SIZE)
        status = self._lib.hil_fw_init(ctypes.byref(self._host), ctypes.byref(c_config), error,
                                       ERROR_TEXT_SIZE)
        text = _text(error.value) or "refused" if status == abi.INVALID else None
        return self._finish(status, text)

    def input(self, now_ms: int, packet: bytes) -> CallOutcome:
        return self._finish(self._lib.hil_fw_input(now_ms, packet, len(packet)))

    def advance(self, now_ms: int) -> CallOutcome:
        return self._finish(self._lib.hil_fw_advance(now_ms))

    def submit(self, now_ms: int, job: FirmwareJob) -> CallOutcome:
        recipients = [r.encode("utf-8") for r in job.recipients]
        array = (ctypes.c_char_p * max(1, len(recipients)))(*recipients)
        body = (ctypes.c_uint8 * max(1, len(job.body))).from_buffer_copy(
            job.body or b"\0")
        c_job = abi.Job(job_id=job.job_id, sender=job.sender.encode("utf-8"),
                        recipients=array, recipient_count=len(recipients),
                        subject=job.subject.encode("utf-8"), body=body,
                        body_len=len(job.body))
        return self._finish(self._lib.hil_fw_submit(now_ms, ctypes.byref(c_job)))

    def pool_figures(self) -> PoolFigures | None:
        stats = abi.PoolStats()
        if self._lib.hil_fw_get_pool_stats(ctypes.byref(stats)) != abi.OK:
            return None
        return PoolFigures(count=stats.count, size=stats.size, in_use=stats.in_use,
                           peak_in_use=stats.peak_in_use, allocations=stats.allocations,
                           failed_allocations=stats.failed_allocations,
                           frames_dropped=stats.frames_dropped)

    def close(self) -> None:
        """Nothing to release: the copy's file is gone, its memory goes with the process."""
