"""pyserial's ``hil://<name>`` port: the UART of an emulated device published by name.

``write()`` puts bytes into the device's UART receive FIFO. ``read()``, ``read_until()``
and ``readline()`` advance the device's **virtual** time (``kernel.run``) until the
bytes asked for are there or the port's timeout has passed in virtual time; the wall
clock is never consulted, so a read with ``timeout=300`` returns at once when the
device has nothing to say, with its clock 300 s later. With ``timeout=None`` a read runs
the device until the bytes come or nothing is left scheduled (then it returns what it
has rather than block forever: nothing else could ever make bytes arrive). ``in_waiting``
runs what is due at the current instant, then counts the bytes ready.

Line settings (baud rate, parity, modem lines) are accepted and ignored: the UART's own
timing, if any, is the device's business. pyserial finds this module through
:func:`emulator.serialurl.register`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from serial.serialutil import (  # type: ignore[import-untyped]
    PortNotOpenError,
    SerialBase,
    SerialException,
    to_bytes,
)

from emulator.serialurl import SCHEME, HilDevice, lookup
from emulator.units import SECOND


def device_name(url: str) -> str:
    """``"hil://demo"`` -> ``"demo"``; SerialException for anything else."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise SerialException(f"expected a URL like 'hil://<name>', got {url!r}")
    return parts.netloc


class Serial(SerialBase):  # type: ignore[misc]
    """A pyserial port on an emulated device's UART, in virtual time."""

    BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    is_open: bool
    virtual_clock = True
    """Reads wait in virtual time and cost no wall time (a reader of any pyserial port
    can look for this attribute: :class:`emulator.backends.serialboard.SerialConsole`
    reads such a port in one piece, where a wall-clock port is read in short slices)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._device: HilDevice | None = None
        super().__init__(*args, **kwargs)

    # ---- opening -------------------------------------------------------------------------
    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            self._device = lookup(device_name(self._port))
        except ValueError as exc:
            raise SerialException(str(exc)) from None
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self._device = None

    def _reconfigure_port(self) -> None:
        """Nothing to configure on an emulated UART."""

    def _dev(self) -> HilDevice:
        if not self.is_open or self._device is None:
            raise PortNotOpenError()
        return self._device

    # ---- virtual time ----------------------------------------------------------------------
    def _deadline(self, device: HilDevice) -> int | None:
        timeout: float | None = self._timeout
        if timeout is None:
            return None
        return device.kernel.now_us + round(timeout * SECOND)

    @staticmethod
    def _pump(device: HilDevice, deadline: int | None) -> None:
        """Run the device until it has sent something or virtual time reaches deadline."""
        kernel, uart = device.kernel, device.uart
        until = None if deadline is None else max(deadline, kernel.now_us)
        kernel.run(until_us=until, stop=lambda: uart.tx_waiting > 0)

    # ---- reading ---------------------------------------------------------------------------
    @property
    def in_waiting(self) -> int:
        device = self._dev()
        self._pump(device, device.kernel.now_us)
        return device.uart.tx_waiting

    def read(self, size: int = 1) -> bytes:
        device = self._dev()
        deadline = self._deadline(device)
        data = bytearray()
        while len(data) < size:
            self._pump(device, deadline)
            chunk = device.uart.take_tx(size - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        device = self._dev()
        deadline = self._deadline(device)
        line = bytearray()
        while size is None or len(line) < size:
            self._pump(device, deadline)
            byte = device.uart.take_tx(1)
            if not byte:
                break
            line += byte
            if line.endswith(expected):
                break
        return bytes(line)

    def readline(self, size: int | None = -1) -> bytes:
        return self.read_until(b"\n", None if size is None or size < 0 else size)

    # ---- writing ---------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        device = self._dev()
        payload: bytes = bytes(to_bytes(data))
        device.uart.feed(payload)
        return len(payload)

    def flush(self) -> None:
        self._dev()

    @property
    def out_waiting(self) -> int:
        self._dev()
        return 0

    def reset_input_buffer(self) -> None:
        self._dev().uart.discard_tx()

    def reset_output_buffer(self) -> None:
        self._dev()

    def cancel_read(self) -> None:
        """Reads never block on another thread here: nothing to cancel."""

    def cancel_write(self) -> None:
        """Writes complete at once: nothing to cancel."""

    # ---- modem lines: a three-wire UART ---------------------------------------------------
    def _update_break_state(self) -> None:
        self._dev()

    def _update_rts_state(self) -> None:
        """RTS is not wired."""

    def _update_dtr_state(self) -> None:
        """DTR is not wired."""

    @property
    def cts(self) -> bool:
        self._dev()
        return True

    @property
    def dsr(self) -> bool:
        self._dev()
        return True

    @property
    def ri(self) -> bool:
        self._dev()
        return False

    @property
    def cd(self) -> bool:
        self._dev()
        return True
