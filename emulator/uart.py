"""The board's UART: a receive FIFO and a transmit FIFO between the board and a host.

The host side (a pyserial URL, a pty bridge, a test) calls :meth:`Uart.feed` to send
bytes to the board and :meth:`Uart.take_tx` to collect what the board sent. The board
side (the console task) calls :meth:`Uart.read` and :meth:`Uart.write`. When bytes land
in the receive FIFO the UART raises its receive interrupt: it calls :attr:`Uart.on_rx`
(the console sets it to its task's ``wake``); when the board transmits it calls
:attr:`Uart.on_tx` (a host-side listener, e.g. the pty bridge).

Line timing is optional. With ``baud=None`` (the default) bytes move at once. With a
baud rate each chunk occupies the line for ``10 bits * len / baud`` of virtual time
(8N1: start, 8 data, stop) and arrives when its last byte would have: chunks queue
behind each other in each direction.

The receive FIFO is bounded (``rx_fifo_size``): bytes that arrive when it is full are
dropped and counted as overruns, as a real UART does. The transmit side never drops:
what the board wrote waits until the host collects it.

Every transfer is a trace record (``<name>``/``rx`` and ``tx`` with the bytes). This
module knows the kernel and nothing about consoles, boards or SMTP.
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.kernel import Kernel
from emulator.units import SECOND

#: Bits on the wire per byte with 8N1 framing.
BITS_PER_BYTE = 10


class Uart:
    """A UART with byte FIFOs in both directions and an optional baud-rate delay."""

    def __init__(self, kernel: Kernel, *, name: str = "board.uart", rx_fifo_size: int = 4096,
                 baud: int | None = None) -> None:
        if not isinstance(rx_fifo_size, int) or isinstance(rx_fifo_size, bool) \
                or rx_fifo_size < 1:
            raise ValueError(f"rx_fifo_size: expected a positive integer, got {rx_fifo_size!r}")
        if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool)
                                 or baud <= 0):
            raise ValueError(f"baud: expected a positive integer or None, got {baud!r}")
        self.kernel = kernel
        self.name = name
        self.rx_fifo_size = rx_fifo_size
        self.baud = baud
        self.on_rx: Callable[[], None] | None = None
        self.on_tx: Callable[[], None] | None = None
        self.rx_overruns = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self._rx = bytearray()
        self._tx = bytearray()
        self._rx_line_free_us = 0
        self._tx_line_free_us = 0

    # ---- timing ---------------------------------------------------------------------
    def _arrival_us(self, length: int, line_free_us: int) -> int:
        """When a chunk of ``length`` bytes starting after ``line_free_us`` has arrived."""
        assert self.baud is not None
        start = max(self.kernel.now_us, line_free_us)
        duration = -(-length * BITS_PER_BYTE * SECOND // self.baud)  # ceiling division
        return start + duration

    # ---- host side --------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """The host sends ``data`` to the board (it arrives now, or after the line time)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"data: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data:
            return
        if self.baud is None:
            self._receive(data)
            return
        self._rx_line_free_us = self._arrival_us(len(data), self._rx_line_free_us)
        self.kernel.call_at(self._rx_line_free_us, self._receive, data)

    def take_tx(self, max_bytes: int | None = None) -> bytes:
        """Collect up to ``max_bytes`` (all when None) of what the board has sent."""
        if max_bytes is None or max_bytes >= len(self._tx):
            out = bytes(self._tx)
            self._tx.clear()
        else:
            out = bytes(self._tx[:max_bytes])
            del self._tx[:max_bytes]
        return out

    @property
    def tx_waiting(self) -> int:
        """Bytes the board has sent that the host has not collected yet."""
        return len(self._tx)

    def discard_tx(self) -> int:
        """Drop what the host has not collected (pyserial's reset_input_buffer)."""
        n = len(self._tx)
        self._tx.clear()
        return n

    # ---- board side ---------------------------------------------------------------------
    def read(self, max_bytes: int | None = None) -> bytes:
        """Drain up to ``max_bytes`` (all when None) from the receive FIFO."""
        if max_bytes is None or max_bytes >= len(self._rx):
            out = bytes(self._rx)
            self._rx.clear()
        else:
            out = bytes(self._rx[:max_bytes])
            del self._rx[:max_bytes]
        return out

    @property
    def rx_waiting(self) -> int:
        """Bytes in the receive FIFO the board has not read yet."""
        return len(self._rx)

    def write(self, data: bytes) -> None:
        """The board transmits ``data`` to the host."""
        if not data:
            return
        data = bytes(data)
        if self.baud is None:
            self._transmit(data)
            return
        self._tx_line_free_us = self._arrival_us(len(data), self._tx_line_free_us)
        self.kernel.call_at(self._tx_line_free_us, self._transmit, data)

    # ---- the wire -------------------------------------------------------------------------
    def _receive(self, data: bytes) -> None:
        room = self.rx_fifo_size - len(self._rx)
        kept, lost = data[:max(room, 0)], data[max(room, 0):]
        self._rx += kept
        self.rx_bytes += len(kept)
        self.kernel.emit(self.name, "rx", data=kept)
        if lost:
            self.rx_overruns += len(lost)
            self.kernel.emit(self.name, "rx_overrun", dropped=len(lost),
                             total=self.rx_overruns)
        if kept and self.on_rx is not None:
            self.on_rx()

    def _transmit(self, data: bytes) -> None:
        self._tx += data
        self.tx_bytes += len(data)
        self.kernel.emit(self.name, "tx", data=data)
        if self.on_tx is not None:
            self.on_tx()
