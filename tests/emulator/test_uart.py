"""The board's UART: FIFOs both ways, the receive interrupt, overruns, baud timing."""

from __future__ import annotations

import pytest

from emulator.kernel import Kernel
from emulator.uart import Uart
from emulator.units import SECOND


def test_bytes_move_at_once_and_raise_the_receive_interrupt() -> None:
    kernel = Kernel()
    uart = Uart(kernel)
    interrupts: list[int] = []
    uart.on_rx = lambda: interrupts.append(uart.rx_waiting)
    uart.feed(b"help\r")
    assert interrupts == [5]
    assert uart.read(2) == b"he" and uart.read() == b"lp\r" and uart.read() == b""
    uart.write(b"OK\r\n")
    assert uart.tx_waiting == 4
    assert uart.take_tx(1) == b"O" and uart.take_tx() == b"K\r\n"
    assert [r.kind for r in kernel.trace] == ["rx", "tx"]


def test_a_full_receive_fifo_drops_and_counts_overruns() -> None:
    kernel = Kernel()
    uart = Uart(kernel, rx_fifo_size=4)
    uart.feed(b"abcdef")
    assert uart.read() == b"abcd"
    assert uart.rx_overruns == 2
    assert kernel.trace.select(kind="rx_overrun")[0].get("dropped") == 2


def test_with_a_baud_rate_chunks_take_line_time_and_queue_behind_each_other() -> None:
    kernel = Kernel()
    uart = Uart(kernel, baud=9600)
    uart.feed(b"x" * 96)  # 960 bits: 100 ms
    uart.feed(b"y" * 96)
    assert uart.rx_waiting == 0
    kernel.run(until_us=SECOND // 10)
    assert uart.read() == b"x" * 96
    kernel.run()
    assert uart.read() == b"y" * 96 and kernel.now_us == SECOND // 5
    uart.write(b"z")
    assert uart.tx_waiting == 0
    kernel.run()
    assert uart.take_tx() == b"z" and kernel.now_us == SECOND // 5 + 1042


@pytest.mark.parametrize(("option", "value"), [("rx_fifo_size", 0), ("baud", -1),
                                               ("baud", 1.5)])
def test_bad_settings_name_the_field(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        Uart(Kernel(), **{option: value})  # type: ignore[arg-type]
