"""Tests for stack.host.stack and stack.host.runtime over real loopback sockets.

Every server binds port 0 on 127.0.0.1; servers in threads are stopped at the end.
Nothing asserts on durations beyond "a timeout did not fire early".
"""

from __future__ import annotations

import random
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from stack.api import (
    BusyWait,
    CloseReason,
    Sleep,
    SocketEvent,
    SocketState,
    StreamSocket,
    Task,
    TaskContext,
    Wait,
)
from stack.host.runtime import HostRuntime, TaskStatus
from stack.host.stack import HostSocket, HostStack

LOOPBACK = "127.0.0.1"
RUN_TIMEOUT_S = 5.0


@pytest.fixture
def stack() -> Iterator[HostStack]:
    with HostStack() as host_stack:
        yield host_stack


@pytest.fixture
def runtime(stack: HostStack) -> HostRuntime:
    return HostRuntime(stack)


# ---- real servers in threads --------------------------------------------------------


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class OneShotServer:
    """Accepts one connection and runs ``behaviour`` on it in a thread."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self._behaviour = behaviour
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self.listener.settimeout(RUN_TIMEOUT_S)
            conn, _ = self.listener.accept()
            conn.settimeout(RUN_TIMEOUT_S)
            with conn:
                self._behaviour(conn)
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._thread.join(timeout=RUN_TIMEOUT_S)
        self.listener.close()
        assert self.error is None, self.error


def free_closed_port() -> int:
    probe = socket.socket()
    probe.bind((LOOPBACK, 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


# ---- a small client task used by several tests --------------------------------------


@dataclass
class Observed:
    events: list[SocketEvent] = field(default_factory=list)
    received: bytearray = field(default_factory=bytearray)
    results: list[bool | None] = field(default_factory=list)
    sock: StreamSocket | None = None


def watch(ctx: TaskContext, sock: StreamSocket, seen: Observed) -> None:
    def on_event(event: SocketEvent) -> None:
        seen.events.append(event)
        ctx.wake()

    sock.set_event_handler(on_event)
    seen.sock = sock


def state_of(sock: StreamSocket) -> SocketState:
    """The state, read through a call (so mypy does not keep an earlier narrowing)."""
    return sock.state


def connect_and_wait(
    ctx: TaskContext, port: int, seen: Observed
) -> Iterator[Wait]:
    sock = ctx.stack.socket()
    watch(ctx, sock, seen)
    sock.connect(LOOPBACK, port)
    while sock.state is SocketState.CONNECTING:
        yield Wait(timeout_us=2_000_000)


# ---- HostStack through HostRuntime ------------------------------------------------


def test_echo_one_mebibyte(runtime: HostRuntime, echo_port: int) -> None:
    data = random.Random(7).randbytes(1 << 20)
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, echo_port, seen)
        sock = seen.sock
        assert sock is not None
        assert seen.events == [SocketEvent.CONNECTED]
        sent = 0
        while len(seen.received) < len(data):
            progress = False
            if sent < len(data):
                accepted = sock.send(data[sent : sent + 48_000])
                sent += accepted
                progress = accepted > 0
            chunk = sock.recv()
            seen.received += chunk
            if not (progress or chunk):
                woken = yield Wait(timeout_us=2_000_000)
                assert woken, "no socket event within 2 s"
        sock.close()
        assert sock.state is SocketState.CLOSING
        while state_of(sock) is not SocketState.CLOSED:
            yield Wait(timeout_us=2_000_000)
        ctx.log("done", sent=sent)

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    assert bytes(seen.received) == data
    assert seen.events[0] is SocketEvent.CONNECTED
    assert seen.events[-1] is SocketEvent.CLOSED
    assert seen.sock is not None
    assert seen.sock.close_reason is CloseReason.LOCAL
    assert seen.sock.peer_closed
    _, kind, fields = runtime.log_records[-1]
    assert (kind, fields) == ("done", {"task": "client", "sent": 1 << 20})


def test_send_reports_a_full_buffer_then_writable() -> None:
    """send() returns 0 once the OS buffers are full; WRITABLE once the peer reads."""
    peer_may_read = threading.Event()
    total_read: list[int] = []

    def slow_reader(conn: socket.socket) -> None:
        peer_may_read.wait(RUN_TIMEOUT_S)
        total = 0
        while chunk := conn.recv(1 << 20):
            total += len(chunk)
        total_read.append(total)

    server = OneShotServer(slow_reader)
    seen = Observed()
    accounted = [0]

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, server.port, seen)
        sock = seen.sock
        assert sock is not None
        block = bytes(256 * 1024)
        while (accepted := sock.send(block)) > 0:
            accounted[0] += accepted
        peer_may_read.set()
        while SocketEvent.WRITABLE not in seen.events:
            assert (yield Wait(timeout_us=2_000_000)), "no WRITABLE within 2 s"
        accounted[0] += sock.send(b"last")
        sock.close()
        while sock.state is not SocketState.CLOSED:
            yield Wait(timeout_us=2_000_000)

    with HostStack() as stack:
        runtime = HostRuntime(stack)
        runtime.spawn("client", client)
        runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    server.stop()
    assert total_read == [accounted[0]]  # every byte send() accepted arrived, no more


def test_connection_refused(runtime: HostRuntime) -> None:
    port = free_closed_port()
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, port, seen)

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    assert seen.events == [SocketEvent.CLOSED]
    assert seen.sock is not None
    assert seen.sock.state is SocketState.CLOSED
    assert seen.sock.close_reason is CloseReason.REFUSED
    assert seen.sock.send(b"x") == 0


def test_peer_reset(runtime: HostRuntime) -> None:
    def reset_after_one_byte(conn: socket.socket) -> None:
        conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = OneShotServer(reset_after_one_byte)
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, server.port, seen)
        assert seen.sock is not None
        assert seen.sock.send(b"x") == 1
        while seen.sock.state is not SocketState.CLOSED:
            yield Wait(timeout_us=2_000_000)

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    server.stop()
    assert seen.sock is not None
    assert seen.sock.close_reason is CloseReason.RST
    assert seen.events == [SocketEvent.CONNECTED, SocketEvent.CLOSED]
    assert not seen.sock.peer_closed


def test_peer_fin_after_data(runtime: HostRuntime) -> None:
    def greet_and_close(conn: socket.socket) -> None:
        conn.sendall(b"220 hello\r\n")

    server = OneShotServer(greet_and_close)
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, server.port, seen)
        assert seen.sock is not None
        while seen.sock.state is not SocketState.CLOSED:
            yield Wait(timeout_us=2_000_000)

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    server.stop()
    sock = seen.sock
    assert sock is not None
    assert (sock.close_reason, sock.peer_closed) == (CloseReason.FIN, True)
    assert seen.events[-1] is SocketEvent.CLOSED
    assert SocketEvent.READABLE in seen.events
    assert sock.recv() == b"220 hello\r\n"  # data before the FIN is still there
    assert sock.recv() == b""
    sock.close()  # releases the descriptor; the reason stays FIN
    assert sock.close_reason is CloseReason.FIN


def test_listener_accepts_and_abort_resets_the_peer(
    stack: HostStack, runtime: HostRuntime
) -> None:
    accepted: list[HostSocket] = []
    client_address: list[tuple[str, int] | None] = []
    server_events: list[SocketEvent] = []
    seen = Observed()

    def on_accept(sock: HostSocket) -> None:
        sock.set_event_handler(server_events.append)
        accepted.append(sock)
        sock.send(b"220 ready\r\n")

    listener = stack.listen(LOOPBACK, 0, on_accept)

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, listener.port, seen)
        assert seen.sock is not None
        while not seen.received.endswith(b"\r\n"):
            seen.received += seen.sock.recv()
            if not seen.received.endswith(b"\r\n"):
                assert (yield Wait(timeout_us=2_000_000))
        assert isinstance(seen.sock, HostSocket)
        client_address.append(seen.sock.local_address)
        seen.sock.abort()
        assert seen.sock.close_reason is CloseReason.LOCAL

    runtime.spawn("client", client)
    runtime.run(
        until=lambda: runtime.all_done() and SocketEvent.CLOSED in server_events,
        timeout_s=RUN_TIMEOUT_S,
    )
    listener.close()
    assert bytes(seen.received) == b"220 ready\r\n"
    assert accepted[0].close_reason is CloseReason.RST
    assert client_address == [accepted[0].peer_address]


def test_local_close_drains_late_data_and_ends_at_the_peer_fin(runtime: HostRuntime) -> None:
    """close() sends FIN, discards late data, and ends CLOSED(LOCAL) at the peer's FIN."""

    def answer_after_eof(conn: socket.socket) -> None:
        assert conn.recv(10) == b"QUIT\r\n"
        assert conn.recv(10) == b""  # the client's FIN
        conn.sendall(b"221 bye\r\n")  # late: the client has closed already

    server = OneShotServer(answer_after_eof)
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, server.port, seen)
        assert seen.sock is not None
        assert seen.sock.send(b"QUIT\r\n") == 6
        seen.sock.close()
        while seen.sock.state is not SocketState.CLOSED:
            assert (yield Wait(timeout_us=2_000_000))

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    server.stop()
    assert seen.sock is not None
    assert seen.sock.close_reason is CloseReason.LOCAL
    assert seen.events == [SocketEvent.CONNECTED, SocketEvent.CLOSED]
    assert seen.sock.recv() == b""


# ---- HostRuntime scheduling ---------------------------------------------------------


def test_wait_times_out_with_false(runtime: HostRuntime) -> None:
    seen = Observed()
    stamps: list[int] = []

    def waiter(ctx: TaskContext) -> Task:
        stamps.append(ctx.now_us())
        seen.results.append((yield Wait(timeout_us=30_000)))
        stamps.append(ctx.now_us())

    runtime.spawn("waiter", waiter)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    assert seen.results == [False]
    assert stamps[1] - stamps[0] >= 30_000  # it did not return early


def test_wake_sleep_and_busywait_resume_values(runtime: HostRuntime) -> None:
    contexts: dict[str, TaskContext] = {}
    results: dict[str, list[bool | None]] = {"a": [], "b": [], "c": []}
    flag = [False]

    def a(ctx: TaskContext) -> Task:
        contexts["a"] = ctx
        results["a"].append((yield Wait()))  # woken by b
        results["a"].append((yield BusyWait(lambda: flag[0], "flag from c")))

    def b(ctx: TaskContext) -> Task:
        results["b"].append((yield Sleep(1_000)))
        contexts["a"].wake()
        contexts["a"].wake()  # a is not waiting any more: dropped, as on the board

    def c(ctx: TaskContext) -> Task:
        results["c"].append((yield Sleep(5_000)))
        flag[0] = True

    runtime.spawn("a", a)
    runtime.spawn("b", b)
    runtime.spawn("c", c)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    assert results == {"a": [True, None], "b": [None], "c": [None]}


def test_wake_outside_a_wait_is_dropped_as_on_the_board(runtime: HostRuntime) -> None:
    results: list[bool | None] = []

    def task(ctx: TaskContext) -> Task:
        ctx.wake()
        results.append((yield Wait(timeout_us=1_000)))
        results.append((yield Wait(timeout_us=-5)))  # negative counts as 0

    runtime.spawn("t", task)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    assert results == [False, False]
    assert runtime.status("t") is TaskStatus.DONE


def test_run_times_out(runtime: HostRuntime) -> None:
    def forever(ctx: TaskContext) -> Task:
        while True:
            yield Wait()

    runtime.spawn("forever", forever)
    with pytest.raises(TimeoutError, match="forever=waiting"):
        runtime.run(until=lambda: False, timeout_s=0.05)


def test_task_errors_propagate_with_the_task_name(runtime: HostRuntime) -> None:
    def bad(ctx: TaskContext) -> Task:
        yield "nonsense"  # type: ignore[misc]

    runtime.spawn("bad", bad)
    with pytest.raises(ValueError, match="expected Sleep, Wait or BusyWait"):
        runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)


def test_log_records(runtime: HostRuntime) -> None:
    def task(ctx: TaskContext) -> Task:
        ctx.log("hello", n=1)
        yield Sleep(0)

    runtime.spawn("t", task)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    [(t_us, kind, fields)] = runtime.log_records
    assert (kind, fields) == ("hello", {"task": "t", "n": 1})
    assert t_us > 0


# ---- bad input ----------------------------------------------------------------------


def test_bad_input_is_a_value_error(stack: HostStack, runtime: HostRuntime) -> None:
    sock = stack.socket()
    with pytest.raises(ValueError, match="port"):
        sock.connect(LOOPBACK, 0)
    with pytest.raises(ValueError, match="host"):
        sock.connect("", 25)
    with pytest.raises(ValueError, match="send data"):
        sock.send("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bytes"):
        sock.recv(0)
    assert sock.send(b"not connected") == 0
    sock.connect(LOOPBACK, free_closed_port())
    with pytest.raises(ValueError, match="already used"):
        sock.connect(LOOPBACK, 25)
    sock.abort()
    with pytest.raises(ValueError, match="timeout_s"):
        stack.poll(-1)
    with pytest.raises(ValueError, match="generator"):
        runtime.spawn("x", lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="timeout_s"):
        runtime.run(until=lambda: True, timeout_s=0)


def test_set_ciphertext_is_accepted(stack: HostStack) -> None:
    sock = stack.socket()
    sock.set_ciphertext(True)
    sock.set_ciphertext(False)
    assert sock.state is SocketState.CLOSED


def test_what_a_task_sends_in_one_step_leaves_in_one_write(
        runtime: HostRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipelined group sent as three send()s goes to the OS as one write, at the poll
    after the step; close() writes what is kept before the FIN."""
    got: list[bytes] = []

    def reader(conn: socket.socket) -> None:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        got.append(data)

    server = OneShotServer(reader)
    writes: list[bytes] = []
    real_send = socket.socket.send

    def counting_send(sock: socket.socket, data: bytes, *flags: int) -> int:
        writes.append(bytes(data))
        return real_send(sock, data, *flags)

    monkeypatch.setattr(socket.socket, "send", counting_send)
    seen = Observed()

    def client(ctx: TaskContext) -> Task:
        yield from connect_and_wait(ctx, server.port, seen)
        sock = seen.sock
        assert sock is not None
        for line in (b"MAIL FROM:<a@b.c>\r\n", b"RCPT TO:<d@e.f>\r\n", b"DATA\r\n"):
            assert sock.send(line) == len(line)
        yield Wait(timeout_us=50_000)
        assert sock.send(b"Subject: x\r\n\r\n") and sock.send(b"body\r\n") and sock.send(b".\r\n")
        sock.close()
        while state_of(sock) is not SocketState.CLOSED:
            yield Wait(timeout_us=2_000_000)

    runtime.spawn("client", client)
    runtime.run(until=runtime.all_done, timeout_s=RUN_TIMEOUT_S)
    server.stop()
    assert writes == [b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n",
                      b"Subject: x\r\n\r\nbody\r\n.\r\n"]
    assert got == [b"".join(writes)]
