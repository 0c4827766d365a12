"""The emulated board: super-loop, RX ring and pool, busy-wait deadlock, watchdog."""

from collections.abc import Callable

import pytest

from emulator.board import Board
from emulator.kernel import Kernel
from emulator.units import MINUTE, MS, SECOND
from stack.api import BusyWait, Sleep, SocketEvent, SocketState, Task, TaskContext, Wait
from stack.link import Link
from stack.simhost import SimHost
from stack.tcp import TcpSocket

SERVER_IP = "198.51.100.25"


def _world(seed: int = 1, **board_options: object) -> tuple[Kernel, Link, Board, SimHost]:
    kernel = Kernel(seed=seed)
    link = Link(kernel, latency_us=500, bandwidth_bps=10_000_000)
    board = Board(kernel, **board_options)  # type: ignore[arg-type]
    board.attach(link)
    server = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    return kernel, link, board, server


def _serve(server: SimHost, on_accept: Callable[[TcpSocket], None], port: int = 25) -> None:
    server.stack.listen(port, on_accept)


def test_idle_board_costs_nothing_and_sleeping_task_wakes_on_time() -> None:
    kernel = Kernel()
    board = Board(kernel)
    woke: list[int] = []

    def task(ctx: TaskContext) -> Task:
        yield Wait(10 * MINUTE)
        woke.append(ctx.now_us())

    board.spawn("sleeper", task)
    kernel.run()
    assert woke == [10 * MINUTE]
    assert board.stats.loop_passes <= 3


def test_pool_runs_dry_frames_are_dropped_and_tcp_recovers_when_the_app_reads() -> None:
    payload = bytes(range(256)) * 200  # 51200 bytes
    kernel, _link, board, server = _world(pool_buffers=4, tcp_options={"rx_window": 8 * 1460})

    def on_accept(sock: TcpSocket) -> None:
        sent = [0]

        def push(_event: SocketEvent | None = None) -> None:
            while sent[0] < len(payload):
                n = sock.send(payload[sent[0]:sent[0] + 1460])
                if n == 0:
                    return
                sent[0] += n
            sock.close()

        sock.set_event_handler(push)
        push()

    _serve(server, on_accept)
    received = bytearray()

    def reader(ctx: TaskContext) -> Task:
        sock = ctx.stack.socket()
        sock.set_event_handler(lambda _e: ctx.wake())
        sock.connect(SERVER_IP, 25)
        while ctx.now_us() < 5 * SECOND:  # do not read for a while: the pool runs dry
            yield Wait(5 * SECOND - ctx.now_us())
        while True:
            chunk = sock.recv()
            if chunk:
                received.extend(chunk)
            elif sock.peer_closed or sock.state is SocketState.CLOSED:
                break
            else:
                yield Wait(10 * SECOND)

    board.spawn("reader", reader)
    kernel.run(until_us=10 * MINUTE)
    assert bytes(received) == payload
    stats = board.pool.stats
    assert stats.frames_dropped > 0
    assert stats.lowest_free == 0
    assert board.stats.frames_dropped_no_buffer == stats.frames_dropped
    assert kernel.trace.select(source="board.pool", kind="drop")
    assert server.stack.stats.retransmissions > 0  # TCP recovered by retransmitting


def test_busy_wait_for_a_tx_buffer_deadlocks_and_the_watchdog_resets_the_board() -> None:
    kernel, _link, board, server = _world(pool_buffers=6, watchdog_timeout_us=2 * SECOND)
    got = bytearray()

    def on_accept(sock: TcpSocket) -> None:
        sock.set_event_handler(lambda _e: got.extend(sock.recv()))

    _serve(server, on_accept)
    data = b"x" * 200_000

    def sender(ctx: TaskContext) -> Task:
        sock = ctx.stack.socket()
        sock.set_event_handler(lambda _e: ctx.wake())
        sock.connect(SERVER_IP, 25)
        while sock.state is not SocketState.ESTABLISHED:
            yield Wait(SECOND)
        offset = 0
        while offset < len(data):
            n = sock.send(data[offset:offset + 1460])
            offset += n
            if n == 0:
                # The old release: spin for a buffer; the ACKs that would free one sit
                # unprocessed in the RX ring.
                yield BusyWait(board.stack.tx_buffer_available, "a free TX buffer")

    board.spawn("sender", sender)
    kernel.run(until_us=3 * SECOND)
    assert board.stats.watchdog_resets == 1
    resets = kernel.trace.select(source="board", kind="watchdog_reset")
    assert len(resets) == 1
    assert resets[0].fields["waiting_for"] == "a free TX buffer"
    assert "busy-waiting for a free TX buffer" in board.stats.reset_reasons[0]
    assert kernel.trace.select(source="board", kind="boot")[-1].fields["boot"] == 2
    assert board.pool.in_use == 0 or board.stats.boots == 2


def test_waiting_task_does_not_deadlock_and_delivers_everything() -> None:
    kernel, _link, board, server = _world(pool_buffers=6)
    got = bytearray()

    def on_accept(sock: TcpSocket) -> None:
        sock.set_event_handler(lambda _e: got.extend(sock.recv()))

    _serve(server, on_accept)
    data = bytes(range(251)) * 800

    def sender(ctx: TaskContext) -> Task:
        sock = ctx.stack.socket()
        sock.set_event_handler(lambda _e: ctx.wake())
        sock.connect(SERVER_IP, 25)
        while sock.state is not SocketState.ESTABLISHED:
            yield Wait(SECOND)
        offset = 0
        while offset < len(data):
            n = sock.send(data[offset:offset + 1460])
            offset += n
            if n == 0:
                yield Wait(SECOND)  # the fixed release: yield, let stack input run
        sock.close()

    board.spawn("sender", sender)
    kernel.run(until_us=MINUTE)
    assert bytes(got) == data
    assert board.stats.watchdog_resets == 0
    assert board.pool.stats.lowest_free == 0 or board.pool.stats.peak_in_use >= 5


def test_tasks_restart_after_a_reset() -> None:
    kernel = Kernel()
    board = Board(kernel, watchdog_timeout_us=100 * MS)
    starts: list[int] = []

    def spinner(ctx: TaskContext) -> Task:
        starts.append(ctx.now_us())
        if len(starts) == 1:
            yield BusyWait(lambda: False, "a condition that never holds")
        yield Wait()

    board.spawn("spinner", spinner)
    kernel.run(until_us=SECOND)
    assert starts == [0, 100 * MS]
    assert board.stats.boots == 2


@pytest.mark.parametrize(("option", "value"), [("watchdog_timeout_us", 0),
                                                ("rx_ring_size", 0), ("pool_buffers", 0)])
def test_bad_board_options_name_the_field(option: str, value: int) -> None:
    with pytest.raises(ValueError, match=option.split("_us")[0].replace("pool_buffers", "pool")):
        Board(Kernel(), **{option: value})  # type: ignore[arg-type]


def test_a_task_woken_early_again_and_again_times_out_at_its_last_deadline() -> None:
    """Waits with a timeout, each woken early, then one that times out; then a Sleep
    shorter than the waits' timeouts: each resumes exactly when it is due."""
    kernel = Kernel()
    board = Board(kernel)
    resumed: list[tuple[int, bool | None]] = []
    waker: list[Callable[[], None]] = []

    def task(ctx: TaskContext) -> Task:
        waker.append(ctx.wake)
        for request in (Wait(SECOND), Wait(SECOND), Wait(SECOND), Sleep(100 * MS), Wait()):
            value = yield request
            resumed.append((ctx.now_us(), value))

    board.spawn("waiter", task)
    kernel.run(until_us=300 * MS)
    waker[0]()  # the first wait ends early
    kernel.run(until_us=700 * MS)
    waker[0]()  # the second too; the third times out at 1.7 s
    kernel.run(until_us=10 * SECOND)
    assert resumed == [(300 * MS, True), (700 * MS, True), (1700 * MS, False),
                       (1800 * MS, None)]
    waker[0]()
    kernel.run()
    assert resumed[-1] == (10 * SECOND, True)
