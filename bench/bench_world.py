"""Benchmarks of the simulated world: what virtual time and simulated bytes cost in wall time.

Run as ``.venv/bin/python bench/bench_world.py`` (or ``make bench``). It prints figures
and asserts nothing about time; it only checks that every transfer arrived byte-exact
and raises RuntimeError otherwise.

(a) "Time is free": a board task waiting out a 10-minute timer, and a TCP connection
    idling 10 minutes with no traffic, each in wall time vs. virtual time.
(b) 1 MiB from a board task to a server host over plaintext TCP and over TLS (both ends
    :class:`~stack.tls.session.TlsSocket`, default test PKI, the certificate checked against the
    board RTC set to 2025): wall seconds, virtual seconds and simulated MiB per wall
    second, best and median of 3 runs each.
(c) The trace size (records) of each run.

Wall time (``time.perf_counter``) is read here, outside the simulated world, around
whole runs only. This script knows the board, link, server hosts, TLS and the test PKI.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.board import Board
from emulator.kernel import Kernel
from emulator.rtc import Rtc
from emulator.units import MINUTE, SECOND, format_us
from stack.api import SocketEvent, SocketState, StreamSocket, Task, TaskContext, Wait
from stack.link import Link
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.certs import default_test_pki
from stack.tls.config import TlsConfig, client_verifier, make_context
from stack.tls.session import TlsSocket

BOARD_IP = "192.0.2.10"
SERVER_IP = "198.51.100.25"
PORT = 2525
SERVER_NAME = "smtp.example.test"
RTC_START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IDLE_US = 10 * MINUTE
TRANSFER_BYTES = 1024 * 1024
CHUNK = 4096
REPEATS = 3
RUN_LIMIT_US = 30 * MINUTE
MIB = 1024 * 1024


@dataclass(frozen=True)
class RunFigures:
    """One run: wall seconds, virtual microseconds, trace size and hash, kernel events."""

    wall_s: float
    virtual_us: int
    records: int
    events: int
    sha256: str


def _world(seed: int = 1) -> tuple[Kernel, Link, Board, SimHost]:
    kernel = Kernel(seed=seed)
    link = Link(kernel)  # defaults: 100 Mbit/s, 500 us latency
    board = Board(kernel, ip=BOARD_IP, rtc=Rtc(kernel, start=RTC_START, name="board.rtc"))
    board.attach(link)
    server = SimHost(kernel, name="server", ip=SERVER_IP, link=link)
    return kernel, link, board, server


def _figures(kernel: Kernel, wall_s: float, virtual_us: int) -> RunFigures:
    return RunFigures(wall_s, virtual_us, len(kernel.trace), kernel.events_run,
                      kernel.trace.sha256())


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"bench run went wrong: {what}")


def _pattern(length: int) -> bytes:
    block = bytes((i * 31 + i // 251) & 0xFF for i in range(64 * 1024))
    return (block * (length // len(block) + 1))[:length]


# ---- (a) time is free ----------------------------------------------------------------


def idle_timer() -> RunFigures:
    """A board task waits out a 10-minute timer."""
    start = time.perf_counter()
    kernel = Kernel(seed=1)
    board = Board(kernel)
    woke: list[int] = []

    def sleeper(ctx: TaskContext) -> Task:
        yield Wait(IDLE_US)
        woke.append(ctx.now_us())

    board.spawn("sleeper", sleeper)
    kernel.run()
    wall = time.perf_counter() - start
    _check(woke == [IDLE_US], f"the task woke at {woke}, expected [{IDLE_US}]")
    return _figures(kernel, wall, kernel.now_us)


def idle_tcp() -> RunFigures:
    """A board connects, sends nothing for 10 minutes, then one line the server reads."""
    start = time.perf_counter()
    kernel, _link, board, server = _world()
    got = bytearray()

    def on_accept(sock: TcpSocket) -> None:
        def on_event(_event: SocketEvent) -> None:
            got.extend(sock.recv())
            if sock.peer_closed:
                sock.close()

        sock.set_event_handler(on_event)

    server.stack.listen(PORT, on_accept)

    def idler(ctx: TaskContext) -> Task:
        sock = ctx.stack.socket()
        sock.set_event_handler(lambda _event: ctx.wake())
        sock.connect(SERVER_IP, PORT)
        while sock.state is SocketState.CONNECTING:
            yield Wait(SECOND)
        deadline = ctx.now_us() + IDLE_US
        while ctx.now_us() < deadline:  # events (none expected) wake us early
            yield Wait(deadline - ctx.now_us())
        sock.send(b"still here\r\n")
        sock.close()
        while sock.state is not SocketState.CLOSED:
            yield Wait(SECOND)

    board.spawn("idler", idler)
    kernel.run(until_us=RUN_LIMIT_US)
    wall = time.perf_counter() - start
    _check(bytes(got) == b"still here\r\n", f"the server got {bytes(got)!r}")
    return _figures(kernel, wall, kernel.trace.records[-1].t_us)


# ---- (b) 1 MiB board -> server host --------------------------------------------------


def _tls(kernel: Kernel, raw: StreamSocket, config: TlsConfig, *, server_side: bool,
         clock: Callable[[], datetime] | None = None) -> TlsSocket:
    source = "tls.server" if server_side else "tls.board"
    return TlsSocket(
        raw, make_context(config, server_side=server_side), server_side=server_side,
        server_hostname=config.server_name,
        verify=None if clock is None else client_verifier(config, clock),
        on_trace=lambda kind, fields: kernel.emit(source, kind, **fields),
    )


def transfer(use_tls: bool, data: bytes) -> RunFigures:
    """Send ``data`` from a board task to a server host; virtual time until all is in."""
    pki = default_test_pki()
    client_cfg = TlsConfig(ca_pem=pki.ca.cert_pem, server_name=SERVER_NAME)
    server_cfg = TlsConfig(cert_chain=(pki.leaf.cert_pem, pki.leaf.key_pem))
    start = time.perf_counter()
    kernel, _link, board, server = _world()
    got = bytearray()
    done_us: list[int] = []

    def on_accept(sock: TcpSocket) -> None:
        stream: StreamSocket = sock
        if use_tls:
            stream = _tls(kernel, sock, server_cfg, server_side=True)

        def on_event(_event: SocketEvent) -> None:
            while chunk := stream.recv(65536):
                got.extend(chunk)
            if len(got) >= len(data) and not done_us:
                done_us.append(kernel.now_us)
            if stream.peer_closed and not use_tls:
                stream.close()  # TLS answers close_notify and closes TCP by itself

        stream.set_event_handler(on_event)
        if isinstance(stream, TlsSocket):
            stream.start(buffered_is_tls=True)

    server.stack.listen(PORT, on_accept)

    def sender(ctx: TaskContext) -> Task:
        raw = ctx.stack.socket()
        raw.set_event_handler(lambda _event: ctx.wake())
        raw.connect(SERVER_IP, PORT)
        while raw.state is SocketState.CONNECTING:
            yield Wait(SECOND)
        stream: StreamSocket = raw
        if use_tls:
            tls = _tls(kernel, raw, client_cfg, server_side=False, clock=board.rtc.now)
            tls.set_event_handler(lambda _event: ctx.wake())
            tls.start()
            while tls.state is SocketState.CONNECTING:
                yield Wait(SECOND)
            stream = tls
        offset = 0
        while offset < len(data) and stream.state is SocketState.ESTABLISHED:
            accepted = stream.send(data[offset:offset + CHUNK])
            offset += accepted
            if accepted == 0:
                yield Wait(SECOND)  # WRITABLE wakes us
        stream.close()
        while stream.state is not SocketState.CLOSED:
            yield Wait(SECOND)

    board.spawn("sender", sender)
    kernel.run(until_us=RUN_LIMIT_US)
    wall = time.perf_counter() - start
    _check(bytes(got) == data, f"the server got {len(got)} of {len(data)} bytes, or wrong ones")
    return _figures(kernel, wall, done_us[0])


# ---- report --------------------------------------------------------------------------


def _print_idle(label: str, run: RunFigures) -> None:
    speedup = run.virtual_us / SECOND / run.wall_s if run.wall_s > 0 else float("inf")
    print(f"  {label:<28} wall {run.wall_s * 1000:8.2f} ms   virtual "
          f"{format_us(run.virtual_us):>14} s   x{speedup:,.0f}   "
          f"{run.events} kernel events, {run.records} trace records")


def _print_transfer(label: str, runs: list[RunFigures]) -> None:
    walls = sorted(r.wall_s for r in runs)
    best, median = walls[0], statistics.median(walls)
    mib = TRANSFER_BYTES / MIB
    same = len({(r.sha256, r.virtual_us, r.records) for r in runs}) == 1
    print(f"  {label}")
    print(f"    wall s            best {best:8.3f}   median {median:8.3f}   "
          f"({', '.join(f'{w:.3f}' for w in (r.wall_s for r in runs))})")
    print(f"    virtual s         {format_us(runs[0].virtual_us)} (to the last byte in)")
    print(f"    simulated MiB/s   best {mib / best:8.2f}   median {mib / median:8.2f}"
          "   (simulated bytes per wall second)")
    print(f"    trace             {runs[0].records} records, {runs[0].events} kernel events "
          f"per run; identical across runs: {'yes' if same else 'NO'}")


def main() -> None:
    total = time.perf_counter()
    print("(a) time is free")
    _print_idle("10-minute timer on a board", idle_timer())
    _print_idle("TCP connection idle 10 min", idle_tcp())

    warm = time.perf_counter()
    default_test_pki()  # RSA key generation: once per process, not part of the figures
    print(f"\n(b) 1 MiB board task -> server host, {REPEATS} runs each "
          f"(test PKI generated once in {time.perf_counter() - warm:.2f} s, not counted)")
    data = _pattern(TRANSFER_BYTES)
    _print_transfer("plaintext TCP", [transfer(False, data) for _ in range(REPEATS)])
    _print_transfer("TLS (board verifies against its RTC, 2025)",
                    [transfer(True, data) for _ in range(REPEATS)])
    print(f"\ntotal wall time {time.perf_counter() - total:.2f} s")


if __name__ == "__main__":
    main()
