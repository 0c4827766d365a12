"""A real OS pseudo-terminal wired to an emulated device's UART.

``PtyBridge(device)`` opens a pty (``os.openpty``) in raw mode; any program can open
:attr:`PtyBridge.slave_path` as a serial port (``serial.Serial("/dev/pts/5")``,
``picocom``, ``screen``) and talk to the board's console. :meth:`PtyBridge.serve` loops:
``select()`` on the master with a short timeout, feed what arrived into the UART, run
the kernel, write what the UART transmitted back to the master.

How virtual time runs (the one choice to know about):

- ``speed=1.0`` (the default): virtual time is paced to real time while idle, so the
  device's clock, the RTC and the SMTP timeouts behave as on a real board at a
  terminal. ``speed=60`` runs a minute of virtual time per real second.
- ``speed=None``: as fast as possible: each turn runs every pending event (in bounded
  batches), so a 10-minute SMTP timeout passes at once. Virtual time then moves only
  when something is scheduled; the RTC stands still while the board idles.

Input is fed at the device's current virtual time, so runs through a pty are not
byte-for-byte reproducible (they depend on when a person or program types): use the
``hil://`` URL for reproducible runs. This module is the one place in ``emulator/`` that
reads the wall clock and OS file descriptors, and only to pace and carry the bytes; the
simulated world still sees only virtual time.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from types import TracebackType

from emulator.serialurl import HilDevice
from emulator.units import SECOND

#: Events run per turn in as-fast-as-possible mode, so the pty stays responsive.
FAST_BATCH_EVENTS = 20_000
#: Bytes of console output kept for a pty nobody reads before the oldest are dropped.
MAX_PENDING_OUTPUT = 1 << 20


class PtyBridge:
    """Bridges bytes between a pty master and ``device.uart``, running its kernel."""

    def __init__(self, device: HilDevice, *, speed: float | None = 1.0,
                 poll_s: float = 0.01) -> None:
        if speed is not None and (not isinstance(speed, int | float) or isinstance(speed, bool)
                                  or not speed > 0):
            raise ValueError(f"speed: expected a positive number or None, got {speed!r}")
        if not isinstance(poll_s, int | float) or not 0 < poll_s <= 1:
            raise ValueError(f"poll_s: expected seconds in (0, 1], got {poll_s!r}")
        self.device = device
        self.speed = speed
        self.poll_s = float(poll_s)
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)  # no echo, no CR/LF translation, no line buffering
        os.set_blocking(self.master_fd, False)
        self.slave_path = os.ttyname(self.slave_fd)
        self.bytes_in = 0
        self.bytes_out = 0
        self.output_dropped = 0
        self._pending = bytearray()
        self._stop = threading.Event()
        self._closed = False

    def stop(self) -> None:
        """Ask :meth:`serve` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    def serve(self, duration_s: float | None = None) -> None:
        """Bridge until :meth:`stop` is called or ``duration_s`` real seconds have passed."""
        kernel = self.device.kernel
        wall_start = time.monotonic()
        virtual_start = kernel.now_us
        while not self._stop.is_set():
            elapsed = time.monotonic() - wall_start
            if duration_s is not None and elapsed >= duration_s:
                break
            wait = self.poll_s if duration_s is None else min(self.poll_s,
                                                             max(duration_s - elapsed, 0.0))
            writers = [self.master_fd] if self._pending else []
            readable, writable, _ = select.select([self.master_fd], writers, [], wait)
            if readable:
                self._read_input()
            self._advance(virtual_start, time.monotonic() - wall_start)
            self._queue_output(self.device.uart.take_tx())
            if self._pending and (writable or not writers):
                self._write_output()

    def _read_input(self) -> None:
        try:
            data = os.read(self.master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: nobody has the slave open (cannot happen while we hold it)
            return
        if data:
            self.bytes_in += len(data)
            self.device.uart.feed(data)

    def _advance(self, virtual_start: int, elapsed_s: float) -> None:
        kernel = self.device.kernel
        if self.speed is None:
            budget_end = kernel.events_run + FAST_BATCH_EVENTS
            kernel.run(stop=lambda: kernel.events_run >= budget_end)
            return
        target = virtual_start + int(elapsed_s * self.speed * SECOND)
        kernel.run(until_us=max(target, kernel.now_us))

    def _queue_output(self, data: bytes) -> None:
        self._pending += data
        excess = len(self._pending) - MAX_PENDING_OUTPUT
        if excess > 0:
            del self._pending[:excess]
            self.output_dropped += excess

    def _write_output(self) -> None:
        try:
            n = os.write(self.master_fd, self._pending)
        except (BlockingIOError, InterruptedError):
            return
        self.bytes_out += n
        del self._pending[:n]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.master_fd)
            os.close(self.slave_fd)

    def __enter__(self) -> PtyBridge:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
