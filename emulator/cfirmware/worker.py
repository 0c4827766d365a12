"""A C firmware instance in a worker process of its own, called in lock-step.

The simulation stays in this process; the firmware runs in a forked child that loads its
private copy and serves one call at a time over a pipe, streaming each output as the
firmware makes it. So whatever the C code does, the harness keeps the run up to that
moment and gets a result:

* an assertion the firmware reports (``HIL_FW_ASSERTION_FAILED``) comes back as the
  call's :class:`~emulator.cfirmware.calls.FirmwareFault`, with file and line;
* a crash (SIGSEGV, ``abort()``) ends the child: the pipe closes, and the fault says
  which signal killed it during which call;
* a call that does not return within ``call_limit_s`` seconds of WALL time (a hang in
  the C code; this limit lives outside the simulation, virtual time has stopped while
  the firmware runs) gets the child killed, and the fault says so.

After a fault every call returns at once with status STOPPED. The child is ended by
:meth:`FirmwareProcess.close`, when the object is collected, or with this process.

This module knows processes, pipes and the call protocol; nothing about kernels or links.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import signal
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from emulator.cfirmware import abi
from emulator.cfirmware.calls import (
    CallOutcome,
    FirmwareConfig,
    FirmwareFault,
    FirmwareJob,
    Output,
    PoolFigures,
)
from emulator.cfirmware.instance import FirmwareInstance

CallName: TypeAlias = Literal["init", "input", "advance", "submit"]
"""The calls the worker serves (``hil_fw_<name>``), besides ``pool_figures`` and ``exit``."""

DEFAULT_CALL_LIMIT_S: Final = 20.0
"""Wall-clock seconds one call may take before the firmware counts as hung."""
START_LIMIT_S: Final = 30.0


class FirmwareLoadError(RuntimeError):
    """The worker could not load the firmware library."""


def _serve(conn: Connection, path: str) -> None:
    """The child: load the firmware, then answer calls until told to exit."""
    faulthandler.disable()  # a crash of the firmware is reported by the parent, once
    try:
        instance = FirmwareInstance(Path(path), sink=lambda out: conn.send(("out", out)))
        conn.send(("ready", instance.description, int(instance.capabilities)))
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    calls: dict[CallName, Callable[..., CallOutcome]] = {
        "init": instance.init, "input": instance.input, "advance": instance.advance,
        "submit": instance.submit,
    }
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        name, args = request[0], request[1:]
        if name == "exit":
            return
        if name == "pool_figures":
            conn.send(("pool_figures", instance.pool_figures()))
            continue
        outcome = calls[name](*args)  # a name not in the table is a bug here: the worker ends
        conn.send(("done", outcome))


def _stop(process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(("exit",))
    process.join(0.5)
    if process.is_alive():
        process.kill()
        process.join()
    conn.close()


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "an unknown cause"
    if exitcode < 0:
        try:
            return f"{signal.Signals(-exitcode).name} (signal {-exitcode})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


class FirmwareProcess:
    """:class:`~emulator.cfirmware.calls.FirmwareCalls` over a worker process."""

    def __init__(self, path: Path, *, call_limit_s: float = DEFAULT_CALL_LIMIT_S) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, str(path)), daemon=True,
                                        name=f"firmware {path.name}")
        self._process.start()
        child.close()
        self._finalizer = weakref.finalize(self, _stop, self._process, self._conn)
        self.call_limit_s = call_limit_s
        self.fault: FirmwareFault | None = None
        if not self._conn.poll(START_LIMIT_S):
            self.close()
            raise FirmwareLoadError(f"the firmware worker did not start within "
                                    f"{START_LIMIT_S:.0f} s")
        try:
            reply = self._conn.recv()
        except EOFError:
            self.close()
            raise FirmwareLoadError(
                f"the firmware worker died while loading {path}: "
                f"{_signal_name(self._exitcode())}") from None
        if reply[0] != "ready":
            self.close()
            raise FirmwareLoadError(f"cannot load {path}: {reply[1]}")
        self._description: str = reply[1]
        self._capabilities = abi.Capability(reply[2])

    @property
    def description(self) -> str:
        return self._description

    @property
    def capabilities(self) -> abi.Capability:
        return self._capabilities

    def _exitcode(self) -> int | None:
        self._process.join(5)
        return self._process.exitcode

    def _call(self, name: CallName, *args: Any) -> CallOutcome:
        if self.fault is not None:
            return CallOutcome((), abi.STOPPED, None, None)
        outputs: list[Output] = []
        function = f"hil_fw_{name}"
        try:
            self._conn.send((name, *args))
            while True:
                if not self._conn.poll(self.call_limit_s):
                    self._process.kill()
                    return self._stopped(outputs, FirmwareFault(
                        "hang", f"firmware hung: {function} did not return within "
                                f"{self.call_limit_s:g} s of wall time (worker killed)"))
                kind, value = self._conn.recv()
                if kind == "out":
                    outputs.append(value)
                    continue
                outcome: CallOutcome = value
                if outcome.fault is not None:
                    self.fault = outcome.fault
                return CallOutcome((*outputs, *outcome.outputs), outcome.status,
                                   outcome.deadline_ms, outcome.fault, outcome.error)
        except (EOFError, OSError):
            return self._stopped(outputs, FirmwareFault(
                "crash", f"firmware crashed: {_signal_name(self._exitcode())} during "
                         f"{function}"))

    def _stopped(self, outputs: list[Output], fault: FirmwareFault) -> CallOutcome:
        self.fault = fault
        self.close()
        return CallOutcome(tuple(outputs), abi.STOPPED, None, fault)

    def init(self, config: FirmwareConfig) -> CallOutcome:
        return self._call("init", config)

    def input(self, now_ms: int, packet: bytes) -> CallOutcome:
        return self._call("input", now_ms, packet)

    def advance(self, now_ms: int) -> CallOutcome:
        return self._call("advance", now_ms)

    def submit(self, now_ms: int, job: FirmwareJob) -> CallOutcome:
        return self._call("submit", now_ms, job)

    def pool_figures(self) -> PoolFigures | None:
        if self.fault is not None or not self._process.is_alive():
            return None
        self._conn.send(("pool_figures",))
        if not self._conn.poll(self.call_limit_s):
            return None
        figures: PoolFigures | None = self._conn.recv()[1]
        return figures

    def close(self) -> None:
        """End the worker (idempotent)."""
        self._finalizer()
