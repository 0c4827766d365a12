"""Benchmarks of the simulated world: what virtual time and simulated bytes cost.

Run as ``.venv/bin/python bench/bench_world.py`` (or ``make bench``; ``--quick`` skips the
20 MiB transfers). It prints figures and asserts nothing about time; it only checks that
every transfer arrived byte-exact and raises RuntimeError otherwise.

(a) "Time is free": a board task waiting out a 10-minute timer; a board TCP connection
    to a server host (connect, one line, close) without and with 10 minutes of idling
    before the line, over plaintext and over TLS. The idle itself and the TLS session
    set-up (contexts, handshake, certificate check against the RTC, the handshake's
    segments) are printed as two figures: time is free, the set-up is not.
(b) The simulated data path: 1 MiB (three runs) and 20 MiB (one run) from a board task
    to a server host in 4 KiB ``send()``s, over plaintext TCP and over TLS (both ends
    :class:`~stack.tls.session.TlsSocket`, default test PKI, the certificate checked
    against the board RTC set to 2025). Default link (100 Mbit/s, 500 us) and board
    (16 pool buffers, 4 x 1460-byte window). Beside them, in the same process, the same
    bytes over asyncio streams on loopback (4 KiB ``write()`` + ``drain()``; TLS with the
    same leaf certificate). MB/s is 10^6 bytes of content per second of CPU time of this
    process (and per wall second).
(c) The trace size (records, kernel events) and hash (first 16 hex digits) of each run,
    and whether repeated runs gave the same trace hash (they must: same seed). A change
    that only makes the data path faster leaves the hashes as they were.

Wall time (``time.perf_counter``) and CPU time (``time.process_time``) are read here,
outside the simulated world, around whole runs only; the load average is printed with
them. Test PKI generation is done once first and not counted. This script knows the
board, link, server hosts, TLS and the test PKI.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from measure import Timing, load_average, spread, timed

from emulator.board import Board
from emulator.kernel import Kernel
from emulator.rtc import Rtc
from emulator.units import MINUTE, SECOND, format_us
from stack.api import SocketEvent, SocketState, StreamSocket, Task, TaskContext, Wait
from stack.link import Link
from stack.simhost import SimHost
from stack.tcp import TcpSocket
from stack.tls.certs import default_test_pki
from stack.tls.config import TlsConfig, client_verifier, shared_context
from stack.tls.session import TlsSocket

BOARD_IP = "192.0.2.10"
SERVER_IP = "198.51.100.25"
PORT = 2525
SERVER_NAME = "smtp.example.test"
RTC_START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IDLE_US = 10 * MINUTE
CHUNK = 4096
REPEATS = 3
IDLE_REPEATS = 21
RUN_LIMIT_US = 30 * MINUTE
MIB = 1024 * 1024
MB = 1_000_000


@dataclass(frozen=True)
class RunFigures:
    """One run: what it cost, virtual microseconds, trace size and hash, kernel events."""

    cost: Timing
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


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"bench run went wrong: {what}")


def _pattern(length: int) -> bytes:
    block = bytes((i * 31 + i // 251) & 0xFF for i in range(64 * 1024))
    return (block * (length // len(block) + 1))[:length]


def _configs() -> tuple[TlsConfig, TlsConfig]:
    pki = default_test_pki()
    return (TlsConfig(ca_pem=pki.ca.cert_pem, server_name=SERVER_NAME),
            TlsConfig(cert_chain=(pki.leaf.cert_pem, pki.leaf.key_pem)))


def _tls(kernel: Kernel, raw: StreamSocket, config: TlsConfig, *, server_side: bool,
         clock: Callable[[], datetime] | None = None) -> TlsSocket:
    source = "tls.server" if server_side else "tls.board"
    return TlsSocket(
        raw, shared_context(config, server_side=server_side), server_side=server_side,
        server_hostname=config.server_name,
        verify=None if clock is None else client_verifier(config, clock),
        on_trace=lambda kind, fields: kernel.emit(source, kind, **fields),
    )


def _run(use_tls: bool, data: bytes, *, idle_us: int = 0) -> RunFigures:
    """A board task connects (TLS: handshakes and checks the chain against its RTC),
    waits ``idle_us``, sends ``data`` in 4 KiB ``send()``s, closes and waits for CLOSED.
    The figures' virtual time is when the server had the last byte."""
    client_cfg, server_cfg = _configs()

    def whole() -> tuple[Kernel, int]:
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
            deadline = ctx.now_us() + idle_us
            while ctx.now_us() < deadline:  # events (none expected) wake us early
                yield Wait(deadline - ctx.now_us())
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
        kernel.run(until_us=idle_us + RUN_LIMIT_US)
        _check(bytes(got) == data, f"the server got {len(got)} of {len(data)} bytes, "
               "or wrong ones")
        return kernel, done_us[0]

    (kernel, done_us), cost = timed(whole)
    return RunFigures(cost, done_us, len(kernel.trace), kernel.events_run,
                      kernel.trace.sha256())


# ---- (a) time is free ----------------------------------------------------------------


def idle_timer() -> RunFigures:
    """A board task waits out a 10-minute timer."""
    def whole() -> Kernel:
        kernel = Kernel(seed=1)
        board = Board(kernel)
        woke: list[int] = []

        def sleeper(ctx: TaskContext) -> Task:
            yield Wait(IDLE_US)
            woke.append(ctx.now_us())

        board.spawn("sleeper", sleeper)
        kernel.run()
        _check(woke == [IDLE_US], f"the task woke at {woke}, expected [{IDLE_US}]")
        return kernel

    kernel, cost = timed(whole)
    return RunFigures(cost, kernel.now_us, len(kernel.trace), kernel.events_run,
                      kernel.trace.sha256())


def _session_costs(use_tls: bool, idle_us: int) -> tuple[list[float], RunFigures]:
    _run(use_tls, b"still here\r\n", idle_us=idle_us)  # warm-up
    runs = [_run(use_tls, b"still here\r\n", idle_us=idle_us) for _ in range(IDLE_REPEATS)]
    return [r.cost.cpu_s for r in runs], runs[-1]


def report_idle() -> None:
    print(f"(a) time is free ({load_average()}; CPU ms, median (min-max) of {IDLE_REPEATS})")
    timer = idle_timer()
    print(f"  10-minute timer on a board        CPU {timer.cost.cpu_s * 1000:.2f} ms, "
          f"{timer.events} kernel events, {timer.records} trace records")
    for use_tls, label in ((False, "plaintext"), (True, "TLS")):
        quick, quick_run = _session_costs(use_tls, 0)
        idle, idle_run = _session_costs(use_tls, IDLE_US)
        extra = statistics.median(idle) - statistics.median(quick)
        print(f"  {label:<9} connect, line, close  CPU {spread(quick, 1000)} ms   "
              f"{quick_run.events} events, {quick_run.records} records")
        print(f"  {label:<9} + 10 min idle         CPU {spread(idle, 1000)} ms   "
              f"{idle_run.events} events, {idle_run.records} records   "
              f"(the idle: {extra * 1000:+.2f} ms, "
              f"{idle_run.events - quick_run.events} events)")


# ---- (b) the data path ---------------------------------------------------------------


async def _loopback_once(data: bytes, use_tls: bool) -> None:
    """``data`` over asyncio streams on 127.0.0.1 in 4 KiB writes, read to the end."""
    server_ctx: ssl.SSLContext | None = None
    client_ctx: ssl.SSLContext | None = None
    if use_tls:
        pki = default_test_pki()
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        files = pki.leaf.files()
        server_ctx.load_cert_chain(files.cert, files.key)
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
    got = 0
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal got
        while chunk := await reader.read(65536):
            got += len(chunk)
        writer.close()
        done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
    view = memoryview(data)
    for offset in range(0, len(view), CHUNK):
        writer.write(view[offset:offset + CHUNK])
        await writer.drain()
    writer.close()
    await done.wait()
    server.close()
    _check(got == len(data), f"asyncio loopback got {got} of {len(data)} bytes")


def _loopback(data: bytes, use_tls: bool) -> Timing:
    return timed(lambda: asyncio.run(_loopback_once(data, use_tls)))[1]


def _rate(size: int, costs: list[Timing]) -> str:
    cpu = [size / MB / c.cpu_s for c in costs]
    wall = [size / MB / c.wall_s for c in costs]
    return (f"{max(cpu):8.1f} MB/s CPU (best; median {statistics.median(cpu):.1f})  "
            f"{max(wall):8.1f} MB/s wall")


def report_data_path(sizes_mib: list[int]) -> None:
    print(f"\n(b) the data path: board task -> server host, 4 KiB send()s ({load_average()})")
    for mib in sizes_mib:
        data = _pattern(mib * MIB)
        repeats = REPEATS if mib <= 1 else 1
        for use_tls, label in ((False, "plaintext"), (True, "TLS")):
            runs = [_run(use_tls, data) for _ in range(repeats)]
            loops = [_loopback(data, use_tls) for _ in range(repeats)]
            same = len({(r.sha256, r.virtual_us, r.records) for r in runs}) == 1
            print(f"  {mib:>2} MiB {label:<9} simulated  {_rate(len(data), [r.cost for r in runs])}"
                  f"   virtual {format_us(runs[0].virtual_us)} s")
            ratio = min(r.cost.cpu_s for r in runs) / min(c.cpu_s for c in loops)
            print(f"  {mib:>2} MiB {label:<9} loopback   {_rate(len(data), loops)}   "
                  f"(asyncio, same bytes: {ratio:.0f}x less CPU than simulated)")
            print(f"  {'':>6} {'':<9} trace      {runs[0].records} records, "
                  f"{runs[0].events} kernel events per run, sha256 {runs[0].sha256[:16]}"
                  + (f"; identical over {repeats} runs: {'yes' if same else 'NO'}"
                     if repeats > 1 else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="skip the 20 MiB transfers")
    args = parser.parse_args(argv)
    (_pki, warm) = timed(default_test_pki)  # RSA key generation: not part of the figures
    print(f"test PKI made in {warm.wall_s:.2f} s (not counted)\n")
    report_idle()
    report_data_path([1] if args.quick else [1, 20])


if __name__ == "__main__":
    main()
